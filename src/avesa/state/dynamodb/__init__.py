"""DynamoDB back end of the state store (AWS): one module per job of the contract (state/base.py)
over one gateway to the state table (`job.DynamoDBJob`), composed in `store.DynamoDBStateStore`;
the table's items in `layout`, their values in `codec`, the calls in `gateway`."""
