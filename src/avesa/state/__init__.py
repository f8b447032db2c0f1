"""The state store: registry, run ledger and watermarks (SQLite embedded; DynamoDB on AWS)."""
