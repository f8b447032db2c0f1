"""DynamoDB back end of the state store: the registry, run ledger, leases and watermarks of any
number of workers on any number of machines (the AWS executor's Lambdas, several `avesa run`s).

The table and its items are described in `dynamodb_layout`. How the SQLite store's transactions
become DynamoDB writes:

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
  TTL (`dynamodb_layout.TTL_ATTRIBUTE`); reopening a failed run takes it off again.
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

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from avesa.domain.audit import AuditEntry
from avesa.domain.registry import Tenant, TenantService
from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, RunStatus, TableRef, TableStatus
from avesa.state import dynamodb_codec as codec
from avesa.state import dynamodb_layout as layout
from avesa.state import rate_bucket
from avesa.state.alert_records import AlertIncident
from avesa.state.dynamodb_gateway import Gateway, Item, Update, parallel
from avesa.state.ledger_records import ChunkRecord, QueuedBackfill, RunRecord, TableRunRecord, TableRunUpdate

_LOCK_SCOPES = ("sync", "backfill")
_LEASE = ("lease_owner", "lease_expires")
_MAX_TRANSACTION = 100
_LOCK_ATTEMPTS = 8
_BUDGET_ATTEMPTS = 16
"""Tries of a rate budget's compare-and-set that met other workers' writes before the taker is
told to come back a moment later."""
_CONTENDED_WAIT = 0.02
DEFAULT_RETENTION_DAYS = 90.0
"""How long a finished run's chunk items are kept (AVESA_LEDGER_RETENTION_DAYS)."""

_CANCELLED = ChunkStatus.CANCELLED.value
_COMPLETE = ChunkStatus.COMPLETE.value
_RUNNING = ChunkStatus.RUNNING.value
_RUN_RUNNING, _RUN_FAILED, _RUN_CANCELLED = (RunStatus.RUNNING.value, RunStatus.FAILED.value,
                                             RunStatus.CANCELLED.value)
_ENDED_TABLE = [TableStatus.COMPLETE.value, TableStatus.FAILED.value]  # a table run that ended on its own


def _run_not_cancelled() -> ConditionBase:
    """On a run item: it is not cancelled (or there is no such run, as SQLite's join allows)."""
    return Attr("pk").not_exists() | Attr("run_status").ne(_RUN_CANCELLED)


def _lease_free(owner: str, now: datetime) -> ConditionBase:
    """On a chunk item: nobody else holds a live lease on it (the condition of `acquire_chunk`)."""
    return (Attr("lease_owner").not_exists() | Attr("lease_owner").eq(owner)
            | Attr("lease_expires").not_exists() | Attr("lease_expires").lte(codec.ts(now)))


def _lease_held(owner: str) -> ConditionBase:
    """On a chunk item: `owner` holds its lease and it was not cancelled."""
    return Attr("lease_owner").eq(owner) & Attr("status").ne(_CANCELLED)


class DynamoDBStateStore:
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

    # ---- registry -------------------------------------------------------------------------
    def put_tenant(self, tenant: Tenant) -> None:
        self._db.update(layout.tenant_key(tenant.tenant_id), Update(
            set=codec.tenant_item(tenant), if_missing={"created_at": codec.ts(tenant.created_at)}))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self._db.get(layout.tenant_key(tenant_id))
        return codec.tenant(item) if item else None

    def list_tenants(self) -> list[Tenant]:
        items = self._db.query(Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with("TENANT#"))
        return sorted((codec.tenant(i) for i in items), key=lambda t: t.tenant_id)

    def put_service(self, service: TenantService) -> None:
        self._db.update(layout.service_key(service.tenant_id, service.service), Update(
            set=codec.service_item(service), if_missing={"created_at": codec.ts(service.created_at)}))

    def get_service(self, tenant_id: str, service: str) -> TenantService | None:
        item = self._db.get(layout.service_key(tenant_id, service))
        return codec.service(item) if item else None

    def list_services(self, tenant_id: str | None = None) -> list[TenantService]:
        prefix = "SERVICE#" if tenant_id is None else f"SERVICE#{layout.key_part(tenant_id)}#"
        items = self._db.query(Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with(prefix))
        return sorted((codec.service(i) for i in items), key=lambda s: (s.tenant_id, s.service))

    # ---- backfills queued for `avesa serve` ---------------------------------------------------
    def queue_backfill(self, request: dict, queued_at: datetime, queued_by: str) -> int:
        """Ids are microseconds since the epoch, taken again on the rare collision: ordered as queued."""
        while True:
            queue_id = time.time_ns() // 1000
            if self._db.put(codec.queued_backfill_item(queue_id, request, queued_at, queued_by),
                            Attr("pk").not_exists()):
                return queue_id

    def list_queued_backfills(self) -> list[QueuedBackfill]:
        items = self._db.query(Key("pk").eq(layout.QUEUE_PK) & Key("sk").begins_with("QUEUED#"))
        return [codec.queued_backfill(i) for i in items]

    def dequeue_backfill(self, queue_id: int) -> bool:
        return self._db.delete(layout.queued_backfill_key(queue_id), Attr("pk").exists())

    # ---- runs -----------------------------------------------------------------------------
    def create_run(self, run_id: str, started_at: datetime, request: dict, owner: str) -> None:
        if not self._db.put(codec.run_item(run_id, started_at, request, owner), Attr("pk").not_exists()):
            raise ValueError(f"run {run_id} is already in the ledger")

    def renew_run_lease(self, run_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """See SqliteStateStore.renew_run_lease: False once the run is not `owner`'s to run."""
        return self._db.update(layout.run_key(run_id), Update(set={"lease_expires": codec.expiry(now, lease_seconds)}),
                               Attr("owner").eq(owner) & Attr("run_status").eq(_RUN_RUNNING))

    def lease_expiries(self, run_id: str) -> list[datetime]:
        return [parse_utc(i["lease_expires"]) for i in self._run_items(run_id, ("sk", "lease_expires"))
                if i.get("lease_expires") and (i["sk"] == layout.RUN_SK or i["sk"].startswith("CHUNK#"))]

    def finish_run(self, run_id: str, status: RunStatus, finished_at: datetime) -> bool:
        if not self._db.update(layout.run_key(run_id),
                               Update(set={"run_status": RunStatus(status).value, "finished_at": codec.ts(finished_at),
                                           "lease_expires": None}),
                               Attr("run_status").eq(_RUN_RUNNING)):
            return False
        self._release_running_chunks(run_id, f"stopped when its run ended {status}")
        self._expire_chunks(run_id, finished_at)
        return True

    def get_run(self, run_id: str) -> RunRecord | None:
        item = self._db.get(layout.run_key(run_id))
        return codec.run(item) if item else None

    def list_runs(self, limit: int = 20, status: RunStatus | None = None) -> list[RunRecord]:
        """Newest first. The index gives the candidates; each is read again consistently, and one
        whose status is no longer `status` is left out."""
        if status is None:
            keys = self._db.query(Key("run_list").eq(layout.RUN_LIST), index=layout.RUNS_BY_START, forward=False)
        else:
            keys = self._db.query(Key("run_status").eq(RunStatus(status).value), index=layout.RUNS_BY_STATUS,
                                  forward=False)
        found: list[RunRecord] = []
        for batch in _batches(keys, max(limit, 1)):
            for item in self._db.get_many([{"pk": k["pk"], "sk": k["sk"]} for k in batch]):
                if status is None or item["run_status"] == status:
                    found.append(codec.run(item))
            if len(found) >= limit:
                break
        return found[:limit]

    def claim_run(self, run_id: str, expected_owner: str, owner: str) -> bool:
        if not self._db.update(layout.run_key(run_id), Update(set={"owner": owner, "lease_expires": None}),
                               Attr("owner").eq(expected_owner) & Attr("run_status").eq(_RUN_RUNNING)):
            return False
        for item in self._chunk_items(run_id):
            if item.get("lease_owner") == expected_owner:
                self._db.update(_key(item), Update(remove=_LEASE), Attr("lease_owner").eq(expected_owner))
        return True

    def reopen_run(self, run_id: str, owner: str) -> bool:
        if not self._db.update(layout.run_key(run_id),
                               Update(set={"run_status": _RUN_RUNNING, "owner": owner, "finished_at": None,
                                           "lease_expires": None}),
                               Attr("run_status").eq(_RUN_FAILED)):
            return False
        self._release_running_chunks(run_id, "stopped when its run ended failed")
        self._expire_chunks(run_id, None)  # retried: its chunks are live again
        return True

    def abandon_run(self, run_id: str, expected_owner: str, now: datetime,
                    is_interrupted: Callable[[RunRecord, list[datetime]], bool]) -> bool:
        item = self._db.get(layout.run_key(run_id))
        if item is None or item["owner"] != expected_owner or item["run_status"] != _RUN_RUNNING:
            return False
        leased = [i for i in self._chunk_items(run_id) if i.get("lease_expires")]
        expiries = [parse_utc(i["lease_expires"]) for i in ([item] if item.get("lease_expires") else []) + leased]
        if not is_interrupted(codec.run(item), expiries):
            return False
        seen_run_lease = (Attr("lease_expires").eq(item["lease_expires"]) if item.get("lease_expires")
                          else Attr("lease_expires").not_exists())
        parts = [self._db.update_part(
            layout.run_key(run_id),
            Update(set={"run_status": RunStatus.ABANDONED.value, "finished_at": codec.ts(now), "lease_expires": None}),
            Attr("owner").eq(expected_owner) & Attr("run_status").eq(_RUN_RUNNING) & seen_run_lease)]
        parts += [self._db.check_part(_key(i), Attr("lease_expires").eq(i["lease_expires"]))
                  for i in leased[:_MAX_TRANSACTION - 2]]
        if not self._db.transact(parts):
            return False
        self._release_running_chunks(run_id, "its run was abandoned (`avesa jobs cleanup-stuck`)")
        self._close_table_runs(run_id, TableStatus.ABANDONED, now)
        self.unlock_tenants(run_id)
        self._expire_chunks(run_id, now)
        return True

    def cancel_run(self, run_id: str, now: datetime) -> bool:
        """See SqliteStateStore.cancel_run. The run item says "cancelled" first — from then on no
        worker's write lands (each checks it) — then its chunks, tables and locks follow."""
        cancelled = self._db.update(
            layout.run_key(run_id),
            Update(set={"run_status": _RUN_CANCELLED, "finished_at": codec.ts(now), "lease_expires": None}),
            Attr("run_status").is_in([_RUN_RUNNING, _RUN_FAILED]))
        if not cancelled:
            return False
        for item in self._chunk_items(run_id):
            if item["status"] != _COMPLETE:
                self._db.update(_key(item), Update(set={"status": _CANCELLED}, remove=_LEASE),
                                Attr("status").ne(_COMPLETE))
        self._close_table_runs(run_id, TableStatus.CANCELLED, now)
        self.unlock_tenants(run_id)
        self._expire_chunks(run_id, now)
        return True

    def _release_running_chunks(self, run_id: str, note: str) -> None:
        """No chunk of a finished run says "running" or holds a lease (SqliteStateStore's rule)."""
        for item in self._chunk_items(run_id):
            if item["status"] == _RUNNING:
                self._db.update(_key(item), Update(set={"status": ChunkStatus.INCOMPLETE.value},
                                                   if_missing={"last_error": note}, remove=_LEASE),
                                Attr("status").eq(_RUNNING))
            elif item.get("lease_owner"):
                self._db.update(_key(item), Update(remove=_LEASE), Attr("lease_owner").eq(item["lease_owner"]))

    def _expire_chunks(self, run_id: str, finished_at: datetime | None) -> None:
        """Give the run's chunk items and their locators the TTL of a run that finished at
        `finished_at` (None: take it off). Conditional on the item being there, so an item a reset
        deleted meanwhile is not brought back."""
        expires = (None if finished_at is None
                   else int(finished_at.timestamp() + self.retention_days * 86400.0))
        update = Update(set={layout.TTL_ATTRIBUTE: expires})
        keys = []
        for item in self._db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("CHUNK#"),
                                   attributes=("pk", "sk", "chunk_id")):
            keys += [_key(item), layout.locator_key(item["chunk_id"])]
        parallel(lambda key: self._db.update(key, update, Attr("pk").exists()), keys)

    def _close_table_runs(self, run_id: str, status: TableStatus, now: datetime) -> None:
        for item in self._db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("TABLE#"),
                                   attributes=("pk", "sk", "status")):
            if item["status"] not in _ENDED_TABLE:
                self._db.update(_key(item), Update(set={"status": status.value, "finished_at": codec.ts(now)}),
                                ~Attr("status").is_in(_ENDED_TABLE))

    # ---- table runs -----------------------------------------------------------------------
    def start_table_runs(self, refs: list[TableRef]) -> None:
        parallel(lambda ref: self._db.put(codec.table_run_item(ref), Attr("pk").not_exists()), refs)

    def update_table_run(self, ref: TableRef, update: TableRunUpdate) -> None:
        fields = update.fields()
        if not fields:
            return
        self._db.update(layout.table_run_key(ref.run_id, ref.tenant_id, ref.service, ref.table),
                        Update(set={k: codec.table_run_value(v) for k, v in fields.items()}),
                        Attr("pk").exists())

    def get_table_run(self, ref: TableRef) -> TableRunRecord | None:
        item = self._db.get(layout.table_run_key(ref.run_id, ref.tenant_id, ref.service, ref.table))
        if item is None:
            return None
        chunks = self._db.query(Key("pk").eq(layout.run_pk(ref.run_id))
                                & Key("sk").begins_with(layout.chunk_prefix(ref.tenant_id, ref.service, ref.table)),
                                attributes=("records",))
        counts = [c.get("records", 0) for c in chunks]
        return codec.table_run(item, sum(counts) if counts else None)

    def list_table_runs(self, run_id: str | None = None, tenant_id: str | None = None) -> list[TableRunRecord]:
        if run_id:
            pk = Key("pk").eq(layout.run_pk(run_id))
            parts = (tenant_id,) if tenant_id else ()
            tables = self._db.query(pk & Key("sk").begins_with(layout.table_prefix(*parts)))
            chunks = self._db.query(pk & Key("sk").begins_with(layout.chunk_prefix(*parts)),
                                    attributes=("run_id", "tenant_id", "service", "table", "records"))
        elif tenant_id:
            tenant = Key("gsi_tenant").eq(layout.key_part(tenant_id))
            tables = self._db.query(tenant & Key("gsi_tenant_sk").begins_with("TABLE#"), index=layout.BY_TENANT)
            chunks = self._db.query(tenant & Key("gsi_tenant_sk").begins_with("CHUNK#"), index=layout.BY_TENANT)
        else:  # every table run of every run: nothing narrower to query by
            tables = self._db.scan(Attr("kind").eq("table_run"))
            chunks = self._db.scan(Attr("kind").eq("chunk"))
        landed: dict[tuple[str, str, str, str], int] = {}
        for c in chunks:
            key = codec.table_key_of(c)
            landed[key] = landed.get(key, 0) + c.get("records", 0)
        records = [codec.table_run(i, landed.get(codec.table_key_of(i))) for i in tables]
        records.sort(key=lambda r: (r.tenant_id, r.service, r.table))
        records.sort(key=lambda r: r.started_at, reverse=True)
        return records

    # ---- chunks ---------------------------------------------------------------------------
    def save_chunks(self, chunks: list[ChunkTask]) -> None:
        """New chunks; one already in the ledger is left as it is (its progress stays)."""
        parallel(self._add_chunk, chunks)

    def _add_chunk(self, chunk: ChunkTask) -> bool:
        added = self._db.transact(self._new_chunk_parts(chunk))
        self._locators[chunk.chunk_id] = layout.chunk_key(chunk.table.run_id, chunk.table.tenant_id,
                                                          chunk.table.service, chunk.table.table, chunk.chunk_id)
        return added

    def _new_chunk_parts(self, chunk: ChunkTask) -> list[dict[str, Any]]:
        """The chunk and its locator, each only if absent (a locator left by a reset may stay)."""
        locator = codec.locator_item(chunk)
        return [self._db.put_part(codec.chunk_item(chunk), Attr("pk").not_exists()),
                self._db.put_part(locator, Attr("pk").not_exists() | Attr("chunk_sk").eq(locator["chunk_sk"]))]

    def list_chunks(self, ref: TableRef) -> list[ChunkRecord]:
        items = self._db.query(Key("pk").eq(layout.run_pk(ref.run_id))
                               & Key("sk").begins_with(layout.chunk_prefix(ref.tenant_id, ref.service, ref.table)))
        return sorted((codec.chunk(i) for i in items), key=lambda c: c.idx)

    def get_chunk(self, chunk_id: str) -> ChunkRecord | None:
        key = self._locate(chunk_id)
        item = self._db.get(key) if key else None
        return codec.chunk(item) if item else None

    def _locate(self, chunk_id: str) -> dict[str, str] | None:
        """The key of a chunk named by its id alone (its locator never changes: cached)."""
        if chunk_id not in self._locators:
            locator = self._db.get(layout.locator_key(chunk_id))
            if locator is None:
                return None
            self._locators[chunk_id] = {"pk": locator["chunk_pk"], "sk": locator["chunk_sk"]}
        return self._locators[chunk_id]

    def _worker_write(self, chunk_id: str, update: Update, condition: ConditionBase,
                      extra: Iterable[dict[str, Any]] = ()) -> bool:
        """A write under a chunk's lease: only while the chunk exists, `condition` holds, and its
        run is not cancelled (one transaction)."""
        key = self._locate(chunk_id)
        if key is None:
            return False
        run = {"pk": key["pk"], "sk": layout.RUN_SK}
        return self._db.transact([
            self._db.check_part(run, _run_not_cancelled()),
            self._db.update_part(key, update, Attr("pk").exists() & condition),
            *extra,
        ])

    def acquire_chunk(self, chunk_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """Take the chunk's lease if it is free, expired or already ours; count the attempt."""
        return self._worker_write(
            chunk_id,
            Update(set={"status": _RUNNING, "lease_owner": owner, "lease_expires": codec.expiry(now, lease_seconds)},
                   add={"attempts": 1}),
            ~Attr("status").is_in([_COMPLETE, _CANCELLED]) & _lease_free(owner, now))

    def checkpoint_chunk(self, chunk_id: str, owner: str, outcome: ChunkOutcome, lease_seconds: float,
                         now: datetime) -> bool:
        return self._worker_write(
            chunk_id, Update(set={**_progress(outcome), "lease_expires": codec.expiry(now, lease_seconds)}),
            _lease_held(owner))

    def renew_chunk_lease(self, chunk_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        return self._worker_write(chunk_id, Update(set={"lease_expires": codec.expiry(now, lease_seconds)}),
                                  _lease_held(owner))

    def finish_chunk(self, chunk_id: str, outcome: ChunkOutcome, now: datetime, owner: str | None = None) -> bool:
        """Record how a chunk ended and free its lease (with `owner`: only while it is theirs). A
        complete chunk that read something joins the `throughput` index."""
        measured = outcome.status is ChunkStatus.COMPLETE and outcome.records > 0 and outcome.seconds > 0
        key = self._locate(chunk_id)
        update = Update(set={
            **_progress(outcome), "status": outcome.status.value, "last_error": outcome.error,
            "lease_owner": None, "lease_expires": None,
            "tp_key": self._throughput_key(key) if measured and key else None,
            "tp_at": codec.ts(now) if measured else None,
        })
        condition = _lease_held(owner) if owner is not None else Attr("status").ne(_CANCELLED)
        return self._worker_write(chunk_id, update, condition)

    @staticmethod
    def _throughput_key(key: dict[str, str]) -> str:
        _, tenant_id, service, table, _ = key["sk"].split("#", 4)
        return layout.throughput_key(tenant_id, service, table)

    def release_chunk(self, chunk_id: str, owner: str, status: ChunkStatus, error: str) -> bool:
        return self._worker_write(chunk_id, Update(set={"status": status.value, "last_error": error}, remove=_LEASE),
                                  _lease_held(owner) & Attr("status").eq(_RUNNING))

    def split_chunk(self, chunk_id: str, owner: str, new_end: datetime, children: list[ChunkTask]) -> bool:
        """Narrow a running chunk and add its children in one transaction; False (nothing changed)
        when the lease is not `owner`'s or a child's id is taken."""
        if 2 + 2 * len(children) > _MAX_TRANSACTION:
            raise ValueError(f"a split adds at most {(_MAX_TRANSACTION - 2) // 2} chunks at once")
        added = [part for child in children for part in self._new_chunk_parts(child)]
        split = self._worker_write(chunk_id, Update(set={"range_end": codec.ts(new_end)}),
                                   Attr("lease_owner").eq(owner) & ~Attr("status").is_in([_CANCELLED, _COMPLETE]),
                                   extra=added)
        if split:
            for child in children:
                ref = child.table
                self._locators[child.chunk_id] = layout.chunk_key(ref.run_id, ref.tenant_id, ref.service, ref.table,
                                                                  child.chunk_id)
        return split

    def set_chunk_estimate(self, chunk_id: str, estimate: int) -> None:
        key = self._locate(chunk_id)
        if key is not None:
            self._db.update(key, Update(set={"estimate": estimate}), Attr("pk").exists())

    def next_chunk_index(self, ref: TableRef) -> int:
        items = self._db.query(Key("pk").eq(layout.run_pk(ref.run_id))
                               & Key("sk").begins_with(layout.chunk_prefix(ref.tenant_id, ref.service, ref.table)),
                               attributes=("idx",))
        indexes = [int(i["idx"]) for i in items]
        return max(indexes) + 1 if indexes else 0

    def _run_items(self, run_id: str, attributes: Iterable[str] = ()) -> Iterator[Item]:
        return self._db.query(Key("pk").eq(layout.run_pk(run_id)), attributes=attributes)

    def _chunk_items(self, run_id: str) -> Iterator[Item]:
        return self._db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("CHUNK#"))

    # ---- tenant locks ----------------------------------------------------------------------
    def lock_tenant(self, tenant_id: str, run_id: str, owner: str, now: datetime,
                    is_stale: Callable[[str, str], bool], scope: str = "sync") -> tuple[str, str, datetime] | None:
        """See SqliteStateStore.lock_tenant. The lock is written on condition that it is still as
        read (absent, ours, or the stale holder's); one that changed meanwhile is read again."""
        if scope not in _LOCK_SCOPES:
            raise KeyError(scope)
        key = layout.lock_key(tenant_id, scope)
        for _ in range(_LOCK_ATTEMPTS):
            held = self._db.get(key)
            if held is not None and held["run_id"] != run_id and not is_stale(held["run_id"], held["owner"]):
                return held["run_id"], held["owner"], parse_utc(held["acquired_at"])
            unchanged = Attr("pk").not_exists() if held is None else Attr("run_id").eq(held["run_id"])
            lock = {**key, "kind": "lock", "tenant_id": tenant_id, "scope": scope, "run_id": run_id, "owner": owner,
                    "acquired_at": codec.ts(now)}
            marker = {**layout.lock_marker_key(run_id, scope, tenant_id), "kind": "lock_marker",
                      "tenant_id": tenant_id, "scope": scope}
            if self._db.transact([self._db.put_part(lock, unchanged), self._db.put_part(marker)]):
                return None
        raise RuntimeError(f"the {scope} lock of tenant {tenant_id} kept changing while it was taken")

    def unlock_tenants(self, run_id: str) -> None:
        """Free every lock `run_id` holds, whatever its scope (a lock taken over since stays)."""
        for marker in self._db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("LOCK#")):
            self._db.delete(layout.lock_key(marker["tenant_id"], marker["scope"]), Attr("run_id").eq(run_id))
            self._db.delete(_key(marker))

    def forget_tenant_history(self, tenant_id: str) -> None:
        """Drop a tenant's ledger items and watermarks (the demo's reset); the registry stays.
        Its table runs and chunks are found through the `by_tenant` index: call it when none of the
        tenant's runs is going on."""
        tenant = Key("gsi_tenant").eq(layout.key_part(tenant_id))
        for item in self._db.query(tenant, index=layout.BY_TENANT):
            self._db.delete(_key(item))
            if item.get("kind") == "chunk":
                self._db.delete(layout.locator_key(item["chunk_id"]))
                self._locators.pop(item["chunk_id"], None)
        for item in self._db.query(Key("pk").eq(layout.tenant_pk(tenant_id))):
            if item.get("kind") == "lock":
                self._db.delete(layout.lock_marker_key(item["run_id"], item["scope"], tenant_id))
            self._db.delete(_key(item))

    # ---- delete reconciliation --------------------------------------------------------------
    def get_last_reconciliation(self, tenant_id: str, service: str, table: str) -> datetime | None:
        item = self._db.get(layout.table_state_key("RECONCILED", tenant_id, service, table))
        return codec.dt(item["last_at"]) if item else None

    def set_last_reconciliation(self, tenant_id: str, service: str, table: str, value: datetime) -> None:
        self._db.put({**layout.table_state_key("RECONCILED", tenant_id, service, table), "kind": "reconciliation",
                      "last_at": codec.ts(value)})

    def recent_throughput(self, tenant_id: str, service: str, table: str,
                          chunks: int = 20) -> tuple[int, float] | None:
        """(records, seconds) over the table's last completed chunks that read something."""
        items = list(self._db.query(Key("tp_key").eq(layout.throughput_key(tenant_id, service, table)),
                                    index=layout.THROUGHPUT, forward=False, limit=chunks))
        records = sum(int(i.get("records", 0)) for i in items)
        if not records:
            return None
        return records, float(sum(float(i.get("seconds", 0.0)) for i in items))

    # ---- sync tokens (delta links) -------------------------------------------------------------
    def get_sync_token(self, tenant_id: str, service: str, table: str) -> str | None:
        item = self._db.get(layout.table_state_key("SYNC", tenant_id, service, table))
        return item["token"] if item else None

    def set_sync_token(self, tenant_id: str, service: str, table: str, token: str | None, run_id: str) -> None:
        """Keep (or with None, forget) a delta table's link; never for a cancelled run."""
        key = layout.table_state_key("SYNC", tenant_id, service, table)
        write = (self._db.delete_part(key) if token is None else
                 self._db.put_part({**key, "kind": "sync_token", "token": token, "run_id": run_id}))
        self._db.transact([self._db.check_part(layout.run_key(run_id), _run_not_cancelled()), write])

    # ---- rate budgets shared by every worker ---------------------------------------------------
    def take_rate_token(self, tenant_id: str, service: str, requests_per_minute: float, burst: int,
                        now: datetime) -> float:
        """See SqliteStateStore.take_rate_token: the budget item is read and written back on
        condition that nobody wrote it meanwhile; one who did makes this read again."""
        key = layout.budget_key(tenant_id, service)
        for _ in range(_BUDGET_ATTEMPTS):
            item = self._db.get(key)
            new, wait = rate_bucket.take(_bucket(item), requests_per_minute, burst, now.timestamp())
            if new is None:
                return wait
            if self._db.put(_bucket_item(key, tenant_id, service, new, item), _unchanged(item)):
                return 0.0
        return _CONTENDED_WAIT

    def pause_rate_budget(self, tenant_id: str, service: str, until: datetime) -> None:
        """Every worker of the (tenant, service) budget waits until `until` (a later pause wins)."""
        key = layout.budget_key(tenant_id, service)
        for _ in range(_BUDGET_ATTEMPTS):
            item = self._db.get(key)
            new = rate_bucket.pause(_bucket(item), until.timestamp())
            if new is None or self._db.put(_bucket_item(key, tenant_id, service, new, item), _unchanged(item)):
                return
        raise RuntimeError(f"the rate budget of {tenant_id}/{service} kept changing while it was paused")

    # ---- watermarks -----------------------------------------------------------------------
    def get_watermark(self, tenant_id: str, service: str, table: str) -> datetime | None:
        item = self._db.get(layout.table_state_key("WATERMARK", tenant_id, service, table))
        return codec.dt(item["watermark"]) if item else None

    def set_watermark(self, tenant_id: str, service: str, table: str, value: datetime, run_id: str) -> None:
        """Only ever moves forward, and never for a cancelled run (one transaction)."""
        key = layout.table_state_key("WATERMARK", tenant_id, service, table)
        stamp = codec.ts(value)
        self._db.transact([
            self._db.check_part(layout.run_key(run_id), _run_not_cancelled()),
            self._db.put_part({**key, "kind": "watermark", "watermark": stamp, "run_id": run_id},
                              Attr("pk").not_exists() | Attr("watermark").lt(stamp)),
        ])


    # ---- alert incidents (alerts/incidents.py) ------------------------------------------------
    def open_alert(self, incident: AlertIncident) -> bool:
        """Keep `incident` as its key's unless the kept one is still open (one conditional put)."""
        item = {**layout.alert_key(incident.key), "kind": "alert", "alert_key": incident.key, "rule": incident.rule,
                "tenant_id": incident.tenant_id, "summary": incident.summary, "details": dict(incident.details),
                "opened_at": codec.ts(incident.opened_at), "resolved_at": codec.ts(incident.resolved_at),
                "sent": list(incident.sent), "resolved_sent": list(incident.resolved_sent)}
        return self._db.put(item, Attr("pk").not_exists() | Attr("resolved_at").exists())

    @staticmethod
    def _alert(item: Item) -> AlertIncident:
        return AlertIncident(key=item["alert_key"], rule=item["rule"], tenant_id=item.get("tenant_id"),
                             summary=item["summary"], details=item.get("details") or {},
                             opened_at=parse_utc(item["opened_at"]), resolved_at=codec.dt(item.get("resolved_at")),
                             sent=item.get("sent") or [], resolved_sent=item.get("resolved_sent") or [])

    def get_alert(self, key: str) -> AlertIncident | None:
        item = self._db.get(layout.alert_key(key))
        return self._alert(item) if item else None

    def list_alerts(self, open_only: bool = True) -> list[AlertIncident]:
        items = self._db.query(Key("pk").eq(layout.ALERTS_PK) & Key("sk").begins_with("ALERT#"))
        found = [self._alert(i) for i in items]
        return sorted((a for a in found if a.is_open or not open_only), key=lambda a: (a.opened_at, a.key))

    def resolve_alert(self, key: str, opened_at: datetime, resolved_at: datetime) -> bool:
        return self._db.update(layout.alert_key(key), Update(set={"resolved_at": codec.ts(resolved_at)}),
                               Attr("opened_at").eq(codec.ts(opened_at)) & Attr("resolved_at").not_exists())

    def mark_alert_sent(self, key: str, opened_at: datetime, destination: str, resolved: bool = False) -> bool:
        """Read, add, write on condition that the list is still the one read (another process's
        mark in between makes the write read again)."""
        name = "resolved_sent" if resolved else "sent"
        for _ in range(_LOCK_ATTEMPTS):
            item = self._db.get(layout.alert_key(key))
            if item is None or item.get("opened_at") != codec.ts(opened_at):
                return False
            sent = list(item.get(name) or [])
            if destination in sent:
                return True
            if self._db.update(layout.alert_key(key), Update(set={name: [*sent, destination]}),
                               Attr("opened_at").eq(codec.ts(opened_at)) & Attr(name).eq(sent)):
                return True
        return False
    # ---- registry in bulk, removals -----------------------------------------------------------
    def apply_registry(self, tenants: list[Tenant], services: list[TenantService]) -> None:
        """Every tenant and service, or none. DynamoDB's transactions hold at most 100 items, so the
        items go in transactions of 100; what they replace is read first, and if a later
        transaction fails the earlier ones are undone (each item put back as it was, or deleted),
        then the error is raised. Not isolated: a reader during those milliseconds may see part."""
        items = [codec.full_tenant_item(t) for t in tenants] + [codec.full_service_item(s) for s in services]
        keys = [_key(i) for i in items]
        if len({(k["pk"], k["sk"]) for k in keys}) != len(keys):
            raise ValueError("apply_registry was given one tenant or service twice")
        before = {(i["pk"], i["sk"]): i for i in self._db.get_many(keys)}
        for item in items:  # a tenant or service already registered keeps when it was first registered
            old = before.get((item["pk"], item["sk"]))
            if old is not None and old.get("created_at"):
                item["created_at"] = old["created_at"]
        batches = [items[i:i + _MAX_TRANSACTION] for i in range(0, len(items), _MAX_TRANSACTION)]
        written: list[Item] = []
        try:
            for batch in batches:
                self._db.transact([self._db.put_part(item) for item in batch])
                written += batch
        except BaseException:
            self._undo(written, before)
            raise

    def _undo(self, written: list[Item], before: dict[tuple[str, str], Item]) -> None:
        """Put every item of `written` back as it was in `before` (deleting the ones that were new)."""
        parts = []
        for item in written:
            old = before.get((item["pk"], item["sk"]))
            parts.append(self._db.put_part(old) if old is not None else self._db.delete_part(_key(item)))
        for start in range(0, len(parts), _MAX_TRANSACTION):
            self._db.transact(parts[start:start + _MAX_TRANSACTION])

    def remove_service(self, tenant_id: str, service: str) -> bool:
        return self._db.delete(layout.service_key(tenant_id, service), Attr("pk").exists())

    def remove_tenant(self, tenant_id: str) -> bool:
        """The tenant and its services in one transaction (a tenant has a handful of services)."""
        services = list(self._db.query(
            Key("pk").eq(layout.REGISTRY_PK) & Key("sk").begins_with(f"SERVICE#{layout.key_part(tenant_id)}#"),
            attributes=("pk", "sk")))
        parts = [self._db.delete_part(layout.tenant_key(tenant_id), Attr("pk").exists())]
        parts += [self._db.delete_part(_key(s)) for s in services[:_MAX_TRANSACTION - 1]]
        if not self._db.transact(parts):
            return False
        for rest in services[_MAX_TRANSACTION - 1:]:
            self._db.delete(_key(rest))
        return True

    # ---- the audit trail -----------------------------------------------------------------------
    def append_audit(self, entries: list[AuditEntry]) -> None:
        """Entries in transactions of up to 100 (an import appends one per tenant)."""
        items = [codec.audit_item(e) for e in entries]
        for start in range(0, len(items), _MAX_TRANSACTION):
            self._db.transact([self._db.put_part(i) for i in items[start:start + _MAX_TRANSACTION]])

    def list_audit(self, tenant_id: str | None = None, action: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        """Newest first, read from the one `AUDIT` partition down to `since`; the tenant and action
        are matched while reading (operator actions are few: thousands a year)."""
        condition = Key("pk").eq(layout.AUDIT_PK)
        condition &= (Key("sk").gte(f"AT#{codec.ts(since)}") if since is not None else Key("sk").begins_with("AT#"))
        found: list[AuditEntry] = []
        for item in self._db.query(condition, forward=False):
            if tenant_id is not None and item.get("tenant_id") != tenant_id:
                continue
            if action is not None and item["action"] != action and not item["action"].startswith(action + "."):
                continue
            found.append(codec.audit(item))
            if len(found) >= limit:
                break
        return found


def _key(item: Item) -> dict[str, str]:
    return {"pk": item["pk"], "sk": item["sk"]}


def _bucket(item: Item | None) -> rate_bucket.BucketState | None:
    if item is None:
        return None
    return rate_bucket.BucketState(float(item["tokens"]), float(item["updated_at"]), float(item["paused_until"]))


def _bucket_item(key: dict[str, str], tenant_id: str, service: str, state: rate_bucket.BucketState,
                 read: Item | None) -> Item:
    version = 0 if read is None else int(read["version"])
    return {**key, "kind": "rate_budget", "tenant_id": tenant_id, "service": service, "tokens": state.tokens,
            "updated_at": state.updated_at, "paused_until": state.paused_until, "version": version + 1}


def _unchanged(read: Item | None) -> ConditionBase:
    """The budget item is as it was read (compare-and-set on its version)."""
    return Attr("pk").not_exists() if read is None else Attr("version").eq(int(read["version"]))


def _progress(outcome: ChunkOutcome) -> dict[str, object]:
    """What a checkpoint records of a chunk's progress."""
    return {"cursor": outcome.cursor, "seq": outcome.seq, "records": outcome.records, "pages": outcome.pages,
            "files": outcome.files, "max_updated_at": codec.ts(outcome.max_updated_at), "seconds": outcome.seconds}


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
