"""The DynamoDB state table: its key schema and indexes (the one place they are defined), the key
of every kind of item, and `ensure_tables` for tests and development.

One table, `{prefix}-state`, keys `pk` / `sk` (strings), on-demand billing. Items by kind:

| kind            | pk                    | sk                                          |
| --------------- | --------------------- | ------------------------------------------- |
| tenant          | `REGISTRY`            | `TENANT#{tenant}`                           |
| service         | `REGISTRY`            | `SERVICE#{tenant}#{service}`                |
| run             | `RUN#{run}`           | `#RUN`                                      |
| table run       | `RUN#{run}`           | `TABLE#{tenant}#{service}#{table}`          |
| chunk           | `RUN#{run}`           | `CHUNK#{tenant}#{service}#{table}#{chunk}`  |
| lock marker     | `RUN#{run}`           | `LOCK#{scope}#{tenant}`                     |
| chunk locator   | `CHUNKID#{chunk}`     | `#LOCATOR`                                  |
| tenant lock     | `TENANT#{tenant}`     | `LOCK#{scope}`                              |
| watermark       | `TENANT#{tenant}`     | `WATERMARK#{service}#{table}`               |
| delta link      | `TENANT#{tenant}`     | `SYNC#{service}#{table}`                    |
| reconciliation  | `TENANT#{tenant}`     | `RECONCILED#{service}#{table}`              |
| rate budget     | `TENANT#{tenant}`     | `BUDGET#{service}`                          |
| queued backfill | `BACKFILLQ`           | `QUEUED#{queue id, 20 digits}`              |
| alert incident  | `ALERTS`              | `ALERT#{alert key}`                         |
| audit entry     | `AUDIT`               | `AT#{UTC time, fixed width}#{entry id}`     |

Why this shape: every read that decides something — the registry a run plans from, a run's
chunks before its table is finalized, a lease — is a strongly consistent GetItem or Query on
the table itself, never on an index (index reads are eventually consistent: a finalize that missed
a chunk split off a moment ago would drop its range). So a run's whole ledger is one item
collection (`RUN#{run}`), and the registry is one small partition (hundreds of tenants, read once
per run). Per-chunk calls name only the chunk id, so a chunk locator — written with the chunk,
never changed — gives its key (cached by each store). Lock markers in the run's collection let a
run free its tenant locks without a scan.

Indexes, all sparse (only the items that carry their key attributes are in them), used only where
a slightly stale answer is harmless:

- `runs_by_status` (`run_status`, `started_at`; keys only) and `runs_by_start` (`run_list`, a
  constant, `started_at`; keys only): `list_runs`, newest first; the runs found are then read
  again consistently, and a run whose status changed meanwhile is left out.
- `by_tenant` (`gsi_tenant`, `gsi_tenant_sk`; all attributes): a tenant's table runs and chunks
  over every run, for `avesa status` and the demo's reset.
- `throughput` (`tp_key` = `{tenant}#{service}#{table}`, `tp_at` = when the chunk finished;
  records and seconds): completed chunks that read something, for sizing the next run's chunks.

Retention: the chunk items and chunk locators of a finished run carry `expires_at` (TTL_ATTRIBUTE,
epoch seconds: when the run finished plus AVESA_LEDGER_RETENTION_DAYS); `ensure_tables` turns the
table's TTL on for it, so DynamoDB deletes them in the days after. Runs, table runs, watermarks and
the registry never expire.

Names (tenant ids, services, tables, run and chunk ids) never contain `#`; `key_part` refuses one
that does, so no key can be read as another's.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TABLE_SUFFIX = "state"

REGISTRY_PK = "REGISTRY"
QUEUE_PK = "BACKFILLQ"
ALERTS_PK = "ALERTS"
AUDIT_PK = "AUDIT"
RUN_SK = "#RUN"
LOCATOR_SK = "#LOCATOR"
RUN_LIST = "runs"  # the one value of `run_list`: every run item is in `runs_by_start`

RUNS_BY_STATUS = "runs_by_status"
RUNS_BY_START = "runs_by_start"
BY_TENANT = "by_tenant"
THROUGHPUT = "throughput"

TTL_ATTRIBUTE = "expires_at"
"""The table's time-to-live attribute (epoch seconds): set on a finished run's chunk items."""


@dataclass(frozen=True)
class Index:
    """A global secondary index: string keys, and what it projects."""

    name: str
    partition_key: str
    sort_key: str
    projection: str  # "ALL", "KEYS_ONLY" or "INCLUDE"
    included: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableLayout:
    """A table's key schema and indexes, as data: boto3's CreateTable here, the CDK stack later."""

    suffix: str
    partition_key: str
    sort_key: str
    indexes: tuple[Index, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.suffix}"

    def attributes(self) -> list[str]:
        """Every key attribute of the table and its indexes (all strings), each once."""
        names = [self.partition_key, self.sort_key]
        for index in self.indexes:
            names += [index.partition_key, index.sort_key]
        return list(dict.fromkeys(names))

    def create_table_request(self, prefix: str) -> dict[str, Any]:
        """The CreateTable arguments for this layout (on-demand billing)."""

        def projection(index: Index) -> dict[str, Any]:
            if index.projection == "INCLUDE":
                return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.included)}
            return {"ProjectionType": index.projection}

        return {
            "TableName": self.name(prefix),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in self.attributes()],
            "KeySchema": [{"AttributeName": self.partition_key, "KeyType": "HASH"},
                          {"AttributeName": self.sort_key, "KeyType": "RANGE"}],
            "GlobalSecondaryIndexes": [
                {"IndexName": i.name,
                 "KeySchema": [{"AttributeName": i.partition_key, "KeyType": "HASH"},
                               {"AttributeName": i.sort_key, "KeyType": "RANGE"}],
                 "Projection": projection(i)}
                for i in self.indexes
            ],
        }


STATE_TABLE = TableLayout(
    suffix=TABLE_SUFFIX,
    partition_key=PARTITION_KEY,
    sort_key=SORT_KEY,
    indexes=(
        Index(RUNS_BY_STATUS, "run_status", "started_at", "KEYS_ONLY"),
        Index(RUNS_BY_START, "run_list", "started_at", "KEYS_ONLY"),
        Index(BY_TENANT, "gsi_tenant", "gsi_tenant_sk", "ALL"),
        Index(THROUGHPUT, "tp_key", "tp_at", "INCLUDE", ("records", "seconds")),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
)

TABLES = (STATE_TABLE,)
"""Every table the DynamoDB state store uses."""


def ensure_tables(client: Any, prefix: str, *, timeout_seconds: float = 300.0) -> list[str]:
    """Create the state store's tables under `prefix` where missing, wait until they are active,
    and turn their time to live on; the names. For tests, development and `avesa state init` — a
    deployment creates them from its stack."""
    names = []
    for layout in TABLES:
        name = layout.name(prefix)
        try:
            client.create_table(**layout.create_table_request(prefix))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceInUseException":
                raise
        deadline = time.monotonic() + timeout_seconds
        while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
            if time.monotonic() > deadline:
                raise TimeoutError(f"DynamoDB table {name} is not active after {timeout_seconds:.0f}s")
            time.sleep(1.0)
        if layout.ttl_attribute:
            enable_ttl(client, name, layout.ttl_attribute)
        names.append(name)
    return names


def enable_ttl(client: Any, table: str, attribute: str) -> None:
    """Turn the table's time to live on for `attribute` (left as it is when already on)."""
    current = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and current.get("AttributeName") == attribute:
        return
    client.update_time_to_live(TableName=table,
                               TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute})


# ---- keys ------------------------------------------------------------------------------------
def key_part(value: str) -> str:
    """A name as part of a key; one holding the separator is refused (it could alias another key)."""
    if not value or "#" in value:
        raise ValueError(f"{value!r} cannot be part of a DynamoDB state key: names are non-empty and hold no '#'")
    return value


def _key(pk: str, sk: str) -> dict[str, str]:
    return {PARTITION_KEY: pk, SORT_KEY: sk}


def key_of(item: Mapping[str, Any]) -> dict[str, str]:
    """The key of an item as read (its `pk` and `sk`), to write it again."""
    return {PARTITION_KEY: item[PARTITION_KEY], SORT_KEY: item[SORT_KEY]}


def tenant_key(tenant_id: str) -> dict[str, str]:
    return _key(REGISTRY_PK, f"TENANT#{key_part(tenant_id)}")


def service_key(tenant_id: str, service: str) -> dict[str, str]:
    return _key(REGISTRY_PK, f"SERVICE#{key_part(tenant_id)}#{key_part(service)}")


def run_pk(run_id: str) -> str:
    return f"RUN#{key_part(run_id)}"


def run_key(run_id: str) -> dict[str, str]:
    return _key(run_pk(run_id), RUN_SK)


def table_prefix(*parts: str) -> str:
    """The sort-key prefix of a run's table runs (optionally of one tenant, service…)."""
    return "TABLE#" + "".join(f"{key_part(p)}#" for p in parts)


def chunk_prefix(*parts: str) -> str:
    """The sort-key prefix of a run's chunks (optionally of one tenant, service, table)."""
    return "CHUNK#" + "".join(f"{key_part(p)}#" for p in parts)


def table_run_key(run_id: str, tenant_id: str, service: str, table: str) -> dict[str, str]:
    return _key(run_pk(run_id), table_prefix(tenant_id, service, key_part(table))[:-1])


def chunk_key(run_id: str, tenant_id: str, service: str, table: str, chunk_id: str) -> dict[str, str]:
    return _key(run_pk(run_id), chunk_prefix(tenant_id, service, table) + key_part(chunk_id))


def locator_key(chunk_id: str) -> dict[str, str]:
    return _key(f"CHUNKID#{key_part(chunk_id)}", LOCATOR_SK)


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{key_part(tenant_id)}"


def lock_key(tenant_id: str, scope: str) -> dict[str, str]:
    return _key(tenant_pk(tenant_id), f"LOCK#{key_part(scope)}")


def lock_marker_key(run_id: str, scope: str, tenant_id: str) -> dict[str, str]:
    return _key(run_pk(run_id), f"LOCK#{key_part(scope)}#{key_part(tenant_id)}")


def table_state_key(kind: str, tenant_id: str, service: str, table: str) -> dict[str, str]:
    """A (tenant, service, table)'s WATERMARK, SYNC (delta link) or RECONCILED item."""
    return _key(tenant_pk(tenant_id), f"{kind}#{key_part(service)}#{key_part(table)}")


def budget_key(tenant_id: str, service: str) -> dict[str, str]:
    """The rate budget every worker calling a tenant's instance of a service shares."""
    return _key(tenant_pk(tenant_id), f"BUDGET#{key_part(service)}")


def queued_backfill_key(queue_id: int) -> dict[str, str]:
    """A backfill waiting for `avesa serve`; the zero-padded id sorts the queue oldest first."""
    return _key(QUEUE_PK, f"QUEUED#{queue_id:020d}")


def throughput_key(tenant_id: str, service: str, table: str) -> str:
    return f"{key_part(tenant_id)}#{key_part(service)}#{key_part(table)}"


def alert_key(key: str) -> dict[str, str]:
    """An alert incident's item (alert keys hold `:` and `/`, never `#`)."""
    return _key(ALERTS_PK, f"ALERT#{key_part(key)}")
def audit_key(at: str, entry_id: str) -> dict[str, str]:
    """An audit entry: the fixed-width time first, so the partition reads newest first by key."""
    return _key(AUDIT_PK, f"AT#{at}#{key_part(entry_id)}")
