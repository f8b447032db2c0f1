"""The run ledger in SQLite: runs, table runs and chunks with their leases, checkpoints and splits,
and the backfill queue. Every decision (a lease, a compare-and-set on a run's owner or status) is
read and written in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime

from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, RunStatus, TableRef, TableStatus
from avesa.state.base import Ledger
from avesa.state.ledger_records import ChunkRecord, QueuedBackfill, RunRecord, TableRunRecord, TableRunUpdate
from avesa.state.ledger_rules import ENDED_TABLE, lease_end
from avesa.state.sqlite.codec import dt, sql, ts
from avesa.state.sqlite.job import SqliteJob
from avesa.state.sqlite.locks import release_locks

_RUNNING = sql(RunStatus.RUNNING)
_ENDED_TABLE = sql(*ENDED_TABLE)


def _expiry(now: datetime, lease_seconds: float) -> str | None:
    return ts(lease_end(now, lease_seconds))


# A chunk's lease is still `owner`'s, and its run was not cancelled (a cancel marks the chunk so):
# the one rule for every write a worker makes under the lease — checkpoint, renewal, finish, release.
_LEASE_HELD = f"chunk_id=? AND lease_owner=? AND status!={sql(ChunkStatus.CANCELLED)}"

# What a table run's records are: its chunks' checkpointed records, summed when read — the one count
# of what landed, true while the run goes on or after it was interrupted. A table run without chunks
# (it failed before planning) keeps the count it was given.
_TABLE_RUN_SELECT = (
    "SELECT t.*, (SELECT SUM(c.records) FROM chunks c WHERE c.run_id=t.run_id AND c.tenant_id=t.tenant_id "
    "AND c.service=t.service AND c.tbl=t.tbl) AS landed FROM table_runs t")

# A new chunk; one already in the ledger is left as it is (its progress stays).
_ADD_CHUNK = ("INSERT INTO chunks (chunk_id, run_id, tenant_id, service, tbl, idx, range_start, range_end, "
              "status, cursor, seq, estimate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING")


def _new_chunk_row(ch: ChunkTask) -> tuple:
    return (ch.chunk_id, ch.table.run_id, ch.table.tenant_id, ch.table.service, ch.table.table, ch.index,
            ts(ch.start), ts(ch.end), ChunkStatus.PENDING.value, ch.cursor, ch.seq, ch.estimate)


def _release_running_chunks(c: sqlite3.Connection, run_id: str, note: str) -> None:
    """No chunk of a finished run says "running" or holds a lease: one that was stopped without
    reporting (its task cancelled when a sibling failed, its worker gone) becomes incomplete — its
    checkpoint stays, so a retry continues from its cursor — and every lease is freed, so a late
    write by a worker that still thinks it holds one is refused."""
    c.execute("UPDATE chunks SET status=?, last_error=COALESCE(last_error, ?) WHERE run_id=? AND status=?",
              (ChunkStatus.INCOMPLETE.value, note, run_id, ChunkStatus.RUNNING.value))
    c.execute("UPDATE chunks SET lease_owner=NULL, lease_expires=NULL WHERE run_id=? AND lease_owner IS NOT NULL",
              (run_id,))


def _leased_to_another(row: sqlite3.Row, owner: str, now: datetime) -> bool:
    """The rule of `acquire_chunk`: a live lease of someone else's keeps the chunk theirs (checked
    and written in one transaction)."""
    held = row["lease_owner"] and row["lease_owner"] != owner
    return bool(held and row["lease_expires"] and parse_utc(row["lease_expires"]) > now)


class _SplitRefused(Exception):
    """Rolls a split back: one of its children's ids was already in the ledger."""


def _purge_old_chunks(c: sqlite3.Connection, now: datetime, retention_days: float) -> None:
    """Drop the chunk rows of runs that finished more than `retention_days` before `now` — what
    DynamoDB's TTL does to a finished run's chunk items. The runs and their table runs stay (a table
    run then reports the records it was given when it finalized)."""
    cutoff = ts(datetime.fromtimestamp(now.timestamp() - retention_days * 86400.0, now.tzinfo))
    c.execute(f"DELETE FROM chunks WHERE run_id IN (SELECT run_id FROM runs WHERE status!={_RUNNING} "
              "AND finished_at IS NOT NULL AND finished_at < ?)", (cutoff,))


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(run_id=row["run_id"], started_at=parse_utc(row["started_at"]),
                     finished_at=dt(row["finished_at"]), status=row["status"],
                     request=json.loads(row["request"]), owner=row["owner"],
                     lease_expires=dt(row["lease_expires"]))


def _table_run(row: sqlite3.Row) -> TableRunRecord:
    return TableRunRecord(
        run_id=row["run_id"], tenant_id=row["tenant_id"], service=row["service"], table=row["tbl"],
        mode=row["mode"], status=row["status"], range_start=dt(row["range_start"]),
        range_end=dt(row["range_end"]), estimate=row["estimate"],
        records=row["records"] if row["landed"] is None else row["landed"],
        versions_created=row["versions_created"], deletes=row["deletes"], chunks_total=row["chunks_total"],
        started_at=parse_utc(row["started_at"]), finished_at=dt(row["finished_at"]), error=row["error"],
        nulled_values=json.loads(row["nulled_values"]) if row["nulled_values"] else {},
        source_count=row["source_count"], canonical_count=row["canonical_count"],
    )


def _chunk(row: sqlite3.Row) -> ChunkRecord:
    return ChunkRecord(
        chunk_id=row["chunk_id"], run_id=row["run_id"], tenant_id=row["tenant_id"], service=row["service"],
        table=row["tbl"], idx=row["idx"], range_start=parse_utc(row["range_start"]),
        range_end=parse_utc(row["range_end"]),
        status=row["status"], cursor=row["cursor"], seq=row["seq"], records=row["records"],
        pages=row["pages"], files=row["files"], max_updated_at=dt(row["max_updated_at"]),
        estimate=row["estimate"], attempts=row["attempts"], last_error=row["last_error"],
        lease_owner=row["lease_owner"], lease_expires=dt(row["lease_expires"]), seconds=row["seconds"],
    )


class SqliteLedger(SqliteJob, Ledger):
    retention_days: float
    """A finished run's chunk rows are purged once it finished that long ago (`_purge_old_chunks`)."""

    # ---- runs -----------------------------------------------------------------------------
    def create_run(self, run_id: str, started_at: datetime, request: dict, owner: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO runs (run_id, started_at, finished_at, status, request, owner) VALUES (?,?,?,?,?,?)",
                      (run_id, ts(started_at), None, RunStatus.RUNNING.value, json.dumps(request), owner))

    def renew_run_lease(self, run_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """The owner says it is still working on the run, whatever it is doing (planning, waiting
        for slots, merging): what tells a run whose owner is alive on another host from one whose
        owner is gone. False when the run is no longer `owner`'s to run — finished, cancelled, or
        claimed by another process."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE runs SET lease_expires=? WHERE run_id=? AND owner=? AND status={_RUNNING}",
                               (_expiry(now, lease_seconds), run_id, owner))
            return cursor.rowcount == 1

    def lease_expiries(self, run_id: str) -> list[datetime]:
        """When each lease held on the run ends: the run's own and its chunks'. A run one of whose
        leases is live is being worked on."""
        rows = self._query("SELECT lease_expires FROM runs WHERE run_id=? AND lease_expires IS NOT NULL UNION ALL "
                           "SELECT lease_expires FROM chunks WHERE run_id=? AND lease_expires IS NOT NULL",
                           (run_id, run_id))
        return [parse_utc(r["lease_expires"]) for r in rows]

    def finish_run(self, run_id: str, status: RunStatus, finished_at: datetime) -> bool:
        """Close a running run; False (and no change) if it is no longer running — e.g. it was
        cancelled meanwhile, which must stay visible as such. In the same transaction no chunk of it
        is left "running" and every lease it held is freed (`_release_running_chunks`)."""
        with self._tx() as c:
            cursor = c.execute("UPDATE runs SET status=?, finished_at=?, lease_expires=NULL WHERE run_id=? "
                               f"AND status={_RUNNING}", (RunStatus(status).value, ts(finished_at), run_id))
            if cursor.rowcount != 1:
                return False
            _release_running_chunks(c, run_id, f"stopped when its run ended {status}")
            _purge_old_chunks(c, finished_at, self.retention_days)
            return True

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return _run(rows[0]) if rows else None

    def list_runs(self, limit: int = 20, status: RunStatus | None = None) -> list[RunRecord]:
        if status is None:
            rows = self._query("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        else:
            rows = self._query("SELECT * FROM runs WHERE status=? ORDER BY started_at DESC LIMIT ?",
                               (RunStatus(status).value, limit))
        return [_run(r) for r in rows]

    def claim_run(self, run_id: str, expected_owner: str, owner: str) -> bool:
        """Take over an interrupted run, unless someone else took it first (compare-and-set); the
        dead owner's chunk leases go with it, so its chunks resume now rather than when they expire."""
        with self._tx() as c:
            cursor = c.execute("UPDATE runs SET owner=?, lease_expires=NULL WHERE run_id=? AND owner=? "
                               f"AND status={_RUNNING}", (owner, run_id, expected_owner))
            if cursor.rowcount != 1:
                return False
            c.execute("UPDATE chunks SET lease_owner=NULL, lease_expires=NULL WHERE run_id=? AND lease_owner=?",
                      (run_id, expected_owner))
            return True

    def reopen_run(self, run_id: str, owner: str) -> bool:
        """Take a finished run that failed back to running, to retry its failed tables. A chunk a
        ledger from before finished runs released them still shows running is released now."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE runs SET status={_RUNNING}, owner=?, finished_at=NULL, lease_expires=NULL "
                               f"WHERE run_id=? AND status={sql(RunStatus.FAILED)}", (owner, run_id))
            if cursor.rowcount != 1:
                return False
            _release_running_chunks(c, run_id, "stopped when its run ended failed")
            return True

    def abandon_run(self, run_id: str, expected_owner: str, now: datetime,
                    is_interrupted: Callable[[RunRecord, list[datetime]], bool]) -> bool:
        """Give up an interrupted run: it will not be resumed; its leases and tenant locks are freed.
        What it landed stays in the raw lake; its tables' watermarks never moved, so the next run
        reads that range again.

        `is_interrupted(run, lease expiries)` is asked again inside the transaction, on the ledger as
        it is then: a run whose owner renewed a lease since the caller looked is left alone (False)."""
        with self._tx() as c:
            row = c.execute(f"SELECT * FROM runs WHERE run_id=? AND owner=? AND status={_RUNNING}",
                            (run_id, expected_owner)).fetchone()
            if row is None or not is_interrupted(_run(row), self.lease_expiries(run_id)):
                return False
            c.execute(f"UPDATE runs SET status={sql(RunStatus.ABANDONED)}, finished_at=?, lease_expires=NULL "
                      "WHERE run_id=?", (ts(now), run_id))
            _release_running_chunks(c, run_id, "its run was abandoned (`avesa jobs cleanup-stuck`)")
            c.execute(f"UPDATE table_runs SET status={sql(TableStatus.ABANDONED)}, finished_at=? WHERE run_id=? "
                      f"AND status NOT IN {_ENDED_TABLE}", (ts(now), run_id))
            release_locks(c, run_id)
            _purge_old_chunks(c, now, self.retention_days)
            return True

    def cancel_run(self, run_id: str, now: datetime) -> bool:
        """Cancel a running (live or interrupted) or failed run: it is never resumed or retried; its
        unfinished chunks and tables say "cancelled", their leases and the run's locks are freed.
        A live worker notices at its next checkpoint or claim and stops. False if the run is not
        there or already finished. Watermarks and landed raw files are left as they are."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE runs SET status={sql(RunStatus.CANCELLED)}, finished_at=?, lease_expires=NULL "
                               f"WHERE run_id=? AND status IN {sql(RunStatus.RUNNING, RunStatus.FAILED)}",
                               (ts(now), run_id))
            if cursor.rowcount != 1:
                return False
            c.execute("UPDATE chunks SET status=?, lease_owner=NULL, lease_expires=NULL WHERE run_id=? "
                      "AND status!=?", (ChunkStatus.CANCELLED.value, run_id, ChunkStatus.COMPLETE.value))
            c.execute(f"UPDATE table_runs SET status={sql(TableStatus.CANCELLED)}, finished_at=? WHERE run_id=? "
                      f"AND status NOT IN {_ENDED_TABLE}", (ts(now), run_id))
            release_locks(c, run_id)
            _purge_old_chunks(c, now, self.retention_days)
            return True

    # ---- table runs -----------------------------------------------------------------------
    def start_table_runs(self, refs: list[TableRef]) -> None:
        """Open every table run of a run in one transaction (thousands for a large MSP)."""
        with self._tx() as c:
            c.executemany(
                "INSERT INTO table_runs (run_id, tenant_id, service, tbl, mode, status, started_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(ref.run_id, ref.tenant_id, ref.service, ref.table, ref.mode.value, "pending",
                  ts(ref.run_started_at)) for ref in refs],
            )

    def update_table_run(self, ref: TableRef, update: TableRunUpdate) -> None:
        fields = update.fields()
        if not fields:
            return
        values = [ts(v) if isinstance(v, datetime) else json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
                  for v in fields.values()]
        assignments = ", ".join(f"{name}=?" for name in fields)
        with self._tx() as c:
            c.execute(
                f"UPDATE table_runs SET {assignments} WHERE run_id=? AND tenant_id=? AND service=? AND tbl=?",
                (*values, ref.run_id, ref.tenant_id, ref.service, ref.table),
            )

    def get_table_run(self, ref: TableRef) -> TableRunRecord | None:
        rows = self._query(
            f"{_TABLE_RUN_SELECT} WHERE t.run_id=? AND t.tenant_id=? AND t.service=? AND t.tbl=?",
            (ref.run_id, ref.tenant_id, ref.service, ref.table),
        )
        return _table_run(rows[0]) if rows else None

    def list_table_runs(self, run_id: str | None = None, tenant_id: str | None = None) -> list[TableRunRecord]:
        clauses, params = [], []
        if run_id:
            clauses.append("t.run_id=?")
            params.append(run_id)
        if tenant_id:
            clauses.append("t.tenant_id=?")
            params.append(tenant_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"{_TABLE_RUN_SELECT} {where} ORDER BY t.started_at DESC, t.tenant_id, t.service, t.tbl",
                           tuple(params))
        return [_table_run(r) for r in rows]

    # ---- chunks ---------------------------------------------------------------------------
    def save_chunks(self, chunks: list[ChunkTask]) -> None:
        with self._tx() as c:
            c.executemany(_ADD_CHUNK, [_new_chunk_row(ch) for ch in chunks])

    def list_chunks(self, ref: TableRef) -> list[ChunkRecord]:
        rows = self._query(
            "SELECT * FROM chunks WHERE run_id=? AND tenant_id=? AND service=? AND tbl=? ORDER BY idx",
            (ref.run_id, ref.tenant_id, ref.service, ref.table),
        )
        return [_chunk(r) for r in rows]

    def get_chunk(self, chunk_id: str) -> ChunkRecord | None:
        rows = self._query("SELECT * FROM chunks WHERE chunk_id=?", (chunk_id,))
        return _chunk(rows[0]) if rows else None

    def acquire_chunk(self, chunk_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """Take the chunk's lease if it is free, expired or already ours; count the attempt."""
        with self._tx() as c:
            row = c.execute("SELECT chunks.status, chunks.lease_owner, chunks.lease_expires, runs.status AS run_status "
                            "FROM chunks LEFT JOIN runs USING (run_id) WHERE chunk_id=?", (chunk_id,)).fetchone()
            if row is None or row["status"] in (ChunkStatus.COMPLETE.value, ChunkStatus.CANCELLED.value):
                return False
            if row["run_status"] == RunStatus.CANCELLED:
                return False
            if _leased_to_another(row, owner, now):
                return False
            c.execute(
                "UPDATE chunks SET status=?, lease_owner=?, lease_expires=?, attempts=attempts+1 WHERE chunk_id=?",
                (ChunkStatus.RUNNING.value, owner, _expiry(now, lease_seconds), chunk_id),
            )
            return True

    def split_chunk(self, chunk_id: str, owner: str, new_end: datetime, children: list[ChunkTask]) -> bool:
        """Narrow a running chunk to `[start, new_end)` and add the chunks for the rest of its range,
        in one transaction; False (nothing changed) when the lease is no longer `owner`'s, or when a
        child's id is taken — narrowing without every child in place would drop part of the range."""
        try:
            with self._tx() as c:
                narrowed = c.execute(
                    "UPDATE chunks SET range_end=? WHERE chunk_id=? AND lease_owner=? AND status NOT IN (?, ?)",
                    (ts(new_end), chunk_id, owner, ChunkStatus.CANCELLED.value, ChunkStatus.COMPLETE.value))
                if narrowed.rowcount != 1:
                    return False
                added = c.executemany(_ADD_CHUNK, [_new_chunk_row(ch) for ch in children])
                if added.rowcount != len(children):
                    raise _SplitRefused(chunk_id)
                return True
        except _SplitRefused:
            return False

    def set_chunk_estimate(self, chunk_id: str, estimate: int) -> None:
        with self._tx() as c:
            c.execute("UPDATE chunks SET estimate=? WHERE chunk_id=?", (estimate, chunk_id))

    def next_chunk_index(self, ref: TableRef) -> int:
        rows = self._query("SELECT MAX(idx) AS top FROM chunks WHERE run_id=? AND tenant_id=? AND service=? AND tbl=?",
                           (ref.run_id, ref.tenant_id, ref.service, ref.table))
        top = rows[0]["top"] if rows else None
        return 0 if top is None else int(top) + 1

    def checkpoint_chunk(self, chunk_id: str, owner: str, outcome: ChunkOutcome, lease_seconds: float,
                         now: datetime) -> bool:
        """Record the cursor after a raw file landed, and extend the lease. False when the lease is
        no longer `owner`'s — the run was cancelled, or another worker took the chunk over — so
        the worker stops instead of working on for nobody."""
        with self._tx() as c:
            cursor = c.execute(
                "UPDATE chunks SET cursor=?, seq=?, records=?, pages=?, files=?, max_updated_at=?, seconds=?, "
                f"lease_expires=? WHERE {_LEASE_HELD}",
                (outcome.cursor, outcome.seq, outcome.records, outcome.pages, outcome.files,
                 ts(outcome.max_updated_at), outcome.seconds, _expiry(now, lease_seconds), chunk_id, owner),
            )
            return cursor.rowcount == 1

    def renew_chunk_lease(self, chunk_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """Extend a working chunk's lease between checkpoints (its pages may be slow: 429 waits, a
        slow API), so nobody takes over or abandons work whose owner is alive. Refused, like a
        checkpoint, once the run was cancelled or another worker took the chunk over."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE chunks SET lease_expires=? WHERE {_LEASE_HELD}",
                               (_expiry(now, lease_seconds), chunk_id, owner))
            return cursor.rowcount == 1

    def finish_chunk(self, chunk_id: str, outcome: ChunkOutcome, now: datetime, owner: str | None = None) -> bool:
        """Record how a chunk ended and free its lease. With `owner`, only while the lease is still
        theirs (the rule of checkpoints): a worker that lost its chunk cannot overwrite the ledger
        row of whoever holds it now. False when nothing was recorded."""
        held = _LEASE_HELD if owner is not None else f"chunk_id=? AND status!={sql(ChunkStatus.CANCELLED)}"
        with self._tx() as c:
            cursor = c.execute(
                "UPDATE chunks SET status=?, cursor=?, seq=?, records=?, pages=?, files=?, max_updated_at=?, "
                f"seconds=?, last_error=?, lease_owner=NULL, lease_expires=NULL WHERE {held}",
                (outcome.status.value, outcome.cursor, outcome.seq, outcome.records, outcome.pages,
                 outcome.files, ts(outcome.max_updated_at), outcome.seconds, outcome.error, chunk_id,
                 *((owner,) if owner is not None else ())),
            )
            return cursor.rowcount == 1

    def release_chunk(self, chunk_id: str, owner: str, status: ChunkStatus, error: str) -> bool:
        """A chunk stopped without an outcome of its own — its task was cancelled (a sibling failed,
        the process is shutting down) or an unexpected error escaped it: it says `status` and why,
        its lease is freed, and its last checkpoint (cursor, sequence, counts) stays the truth a
        retry continues from. Only while the lease is `owner`'s."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE chunks SET status=?, last_error=?, lease_owner=NULL, lease_expires=NULL "
                               f"WHERE {_LEASE_HELD} AND status=?",
                               (status.value, error, chunk_id, owner, ChunkStatus.RUNNING.value))
            return cursor.rowcount == 1

    # ---- backfills queued for `avesa serve` ----------------------------------------------------
    def queue_backfill(self, request: dict, queued_at: datetime, queued_by: str) -> int:
        """Keep a backfill request for `avesa serve` to run; returns its place in the queue."""
        with self._tx() as c:
            cursor = c.execute("INSERT INTO backfill_queue (request, queued_at, queued_by) VALUES (?,?,?)",
                               (json.dumps(request, sort_keys=True), ts(queued_at), queued_by))
            return int(cursor.lastrowid or 0)

    def list_queued_backfills(self) -> list[QueuedBackfill]:
        """The queue, oldest first."""
        rows = self._query("SELECT * FROM backfill_queue ORDER BY queue_id")
        return [QueuedBackfill(queue_id=r["queue_id"], request=json.loads(r["request"]),
                               queued_at=parse_utc(r["queued_at"]), queued_by=r["queued_by"]) for r in rows]

    def dequeue_backfill(self, queue_id: int) -> bool:
        """Take a request off the queue (it ran, or it cannot); False when it was not there."""
        with self._tx() as c:
            return c.execute("DELETE FROM backfill_queue WHERE queue_id=?", (queue_id,)).rowcount == 1

