"""The run ledger in DynamoDB: runs, table runs and chunks with their leases, checkpoints and
splits, one item collection per run (`RUN#{run}`); and the backfill queue. How each decision is
made without SQLite's transactions: see `store`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase, Key

from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, RunStatus, TableRef, TableStatus
from avesa.state.base import Ledger
from avesa.state.dynamodb import codec, layout
from avesa.state.dynamodb.gateway import MAX_TRANSACTION_ITEMS, Item, Update, parallel
from avesa.state.dynamodb.job import DynamoDBJob, run_not_cancelled
from avesa.state.dynamodb.locks import release_locks
from avesa.state.ledger_records import ChunkRecord, QueuedBackfill, RunRecord, TableRunRecord, TableRunUpdate
from avesa.state.ledger_rules import ENDED_TABLE

_LEASE = ("lease_owner", "lease_expires")
_CANCELLED = ChunkStatus.CANCELLED.value
_COMPLETE = ChunkStatus.COMPLETE.value
_RUNNING = ChunkStatus.RUNNING.value
_RUN_RUNNING, _RUN_FAILED, _RUN_CANCELLED = (RunStatus.RUNNING.value, RunStatus.FAILED.value,
                                             RunStatus.CANCELLED.value)
_ENDED_TABLE = [status.value for status in ENDED_TABLE]


def _lease_free(owner: str, now: datetime) -> ConditionBase:
    """On a chunk item: nobody else holds a live lease on it (the condition of `acquire_chunk`)."""
    return (Attr("lease_owner").not_exists() | Attr("lease_owner").eq(owner)
            | Attr("lease_expires").not_exists() | Attr("lease_expires").lte(codec.ts(now)))


def _lease_held(owner: str) -> ConditionBase:
    """On a chunk item: `owner` holds its lease and it was not cancelled."""
    return Attr("lease_owner").eq(owner) & Attr("status").ne(_CANCELLED)


def _progress(outcome: ChunkOutcome) -> dict[str, object]:
    """What a checkpoint records of a chunk's progress."""
    return {"cursor": outcome.cursor, "seq": outcome.seq, "records": outcome.records, "pages": outcome.pages,
            "files": outcome.files, "max_updated_at": codec.ts(outcome.max_updated_at), "seconds": outcome.seconds}


def _throughput_key(key: dict[str, str]) -> str:
    """The `throughput` index key of the chunk at `key`."""
    _, tenant_id, service, table, _ = key["sk"].split("#", 4)
    return layout.throughput_key(tenant_id, service, table)


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class DynamoDBLedger(DynamoDBJob, Ledger):
    retention_days: float
    """A finished run's chunk items expire that long after it finished (`_expire_chunks`)."""

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
                self._db.update(layout.key_of(item), Update(remove=_LEASE), Attr("lease_owner").eq(expected_owner))
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
        parts += [self._db.check_part(layout.key_of(i), Attr("lease_expires").eq(i["lease_expires"]))
                  for i in leased[:MAX_TRANSACTION_ITEMS - 2]]
        if not self._db.transact(parts):
            return False
        self._release_running_chunks(run_id, "its run was abandoned (`avesa jobs cleanup-stuck`)")
        self._close_table_runs(run_id, TableStatus.ABANDONED, now)
        release_locks(self._db, run_id)
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
                self._db.update(layout.key_of(item), Update(set={"status": _CANCELLED}, remove=_LEASE),
                                Attr("status").ne(_COMPLETE))
        self._close_table_runs(run_id, TableStatus.CANCELLED, now)
        release_locks(self._db, run_id)
        self._expire_chunks(run_id, now)
        return True

    def _release_running_chunks(self, run_id: str, note: str) -> None:
        """No chunk of a finished run says "running" or holds a lease (SqliteStateStore's rule)."""
        for item in self._chunk_items(run_id):
            if item["status"] == _RUNNING:
                self._db.update(layout.key_of(item), Update(set={"status": ChunkStatus.INCOMPLETE.value},
                                                   if_missing={"last_error": note}, remove=_LEASE),
                                Attr("status").eq(_RUNNING))
            elif item.get("lease_owner"):
                self._db.update(layout.key_of(item), Update(remove=_LEASE), Attr("lease_owner").eq(item["lease_owner"]))

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
            keys += [layout.key_of(item), layout.locator_key(item["chunk_id"])]
        parallel(lambda key: self._db.update(key, update, Attr("pk").exists()), keys)

    def _close_table_runs(self, run_id: str, status: TableStatus, now: datetime) -> None:
        for item in self._db.query(Key("pk").eq(layout.run_pk(run_id)) & Key("sk").begins_with("TABLE#"),
                                   attributes=("pk", "sk", "status")):
            if item["status"] not in _ENDED_TABLE:
                self._db.update(layout.key_of(item), Update(set={"status": status.value, "finished_at": codec.ts(now)}),
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
            self._db.check_part(run, run_not_cancelled()),
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
            "tp_key": _throughput_key(key) if measured and key else None,
            "tp_at": codec.ts(now) if measured else None,
        })
        condition = _lease_held(owner) if owner is not None else Attr("status").ne(_CANCELLED)
        return self._worker_write(chunk_id, update, condition)

    def release_chunk(self, chunk_id: str, owner: str, status: ChunkStatus, error: str) -> bool:
        return self._worker_write(chunk_id, Update(set={"status": status.value, "last_error": error}, remove=_LEASE),
                                  _lease_held(owner) & Attr("status").eq(_RUNNING))

    def split_chunk(self, chunk_id: str, owner: str, new_end: datetime, children: list[ChunkTask]) -> bool:
        """Narrow a running chunk and add its children in one transaction; False (nothing changed)
        when the lease is not `owner`'s or a child's id is taken."""
        if 2 + 2 * len(children) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"a split adds at most {(MAX_TRANSACTION_ITEMS - 2) // 2} chunks at once")
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
