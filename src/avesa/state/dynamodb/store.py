"""DynamoDB back end of the state store: the registry, run ledger, leases and watermarks of any
number of workers on any number of machines (the AWS executor's Lambdas, several `avesa run`s).

Each job of the contract is its own module over the one gateway this class makes; the table and
its items are described in `layout`. How the SQLite store's transactions become DynamoDB writes:

- **One item, one decision**: a lease, a compare-and-set on a run's owner or status, "only
  forward" for a watermark — each is a conditional write on that item (`attribute_not_exists
  (lease_owner) OR lease_owner = :me OR lease_expires <= :now` for a chunk's lease); the write
  that lost answers False, as in SQLite.
- **Refused if the run is cancelled**: every write a worker makes under a chunk's lease
  (acquire, checkpoint, renewal, finish, release, split) and every watermark or delta link is a
  TransactWriteItems with a ConditionCheck on the run item, so it cannot land once the cancel did.
- **Whole-run changes** (finish, cancel, abandon, claim, reopen): the conditional write on the
  run item decides — only one of two racing calls wins it — and then the run's chunks, table
  runs and locks are brought in line one conditional write each (a run may hold thousands, past a
  transaction's 100 items). Until that sweep is done a late worker is still refused: by the run
  check above for a cancel, by its lease being gone once the sweep passed for the others.
- **Several items that must appear together** (a chunk and its locator; a split's narrowed
  parent and its children; a lock and its marker) are one transaction.
- **Rate budgets**: a token bucket per (tenant, service) on one item, read and written back on
  condition that its `version` is still the one read (state/rate_bucket.py's rule).
- **Retention**: finishing, cancelling or abandoning a run gives its chunk items and locators a
  TTL (`layout.TTL_ATTRIBUTE`); reopening a failed run takes it off again.
- An abandon asks `is_interrupted` on what it read, then writes on condition that the run's
  lease and the leases it saw on the run's chunks (up to 98) are still those it read: a lease
  renewed meanwhile leaves the run alone.

botocore gives each TransactWriteItems a ClientRequestToken, so its retry of a transaction whose
answer was lost is not applied twice. A plain conditional write whose answer was lost and that
botocore retried may meet its own change and answer False (e.g. `finish_run`): the callers read
the run again when refused, as they do after a cancel. An answer that says True always landed.

Reads that decide something are consistent (GetItem / Query on the table); only `list_runs` (then
read again consistently), a tenant's history (`avesa status`, the demo's reset) and the
throughput of earlier chunks use an index. `recent_throughput` takes the table's chunks that
completed last by the time they finished (SQLite: by when they were planned).
"""

from __future__ import annotations

from typing import Any

from avesa.state.dynamodb import layout
from avesa.state.dynamodb.alerts import DynamoDBAlertIncidents
from avesa.state.dynamodb.audit import DynamoDBAuditTrail
from avesa.state.dynamodb.gateway import Gateway
from avesa.state.dynamodb.ledger import DynamoDBLedger
from avesa.state.dynamodb.locks import DynamoDBLocks
from avesa.state.dynamodb.positions import DynamoDBPositions
from avesa.state.dynamodb.rate_budgets import DynamoDBRateBudgets
from avesa.state.dynamodb.registry import DynamoDBRegistry
from avesa.state.ledger_rules import DEFAULT_RETENTION_DAYS


class DynamoDBStateStore(DynamoDBRegistry, DynamoDBLedger, DynamoDBLocks, DynamoDBPositions, DynamoDBRateBudgets,
                         DynamoDBAlertIncidents, DynamoDBAuditTrail):
    """State store on one DynamoDB table (`{prefix}-state`). Safe across threads: boto3 clients are."""

    def __init__(self, client: Any, prefix: str, *, setting: str = "AVESA_STATE_URL",
                 page_size: int | None = None, retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        """`client`: a boto3 DynamoDB client. `page_size` caps the items of each Query page (tests
        use a tiny one so that every read follows LastEvaluatedKey); None is DynamoDB's 1 MB.
        `retention_days`: a finished run's chunk items expire that long after it finished."""
        self.prefix = prefix
        self.retention_days = retention_days
        self.table_name = layout.STATE_TABLE.name(prefix)
        self._db = Gateway(client, self.table_name, setting, page_size)
        self._locators: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        self._db.client.close()
