"""SQLite back end of the state store: one file under AVESA_HOME, WAL mode, safe for several
processes (two `avesa run`s at once, an `avesa status` beside a run)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from avesa.domain.audit import AuditEntry
from avesa.domain.registry import RateLimitOverride, ScheduleOverride, Tenant, TenantService
from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkOutcome, ChunkStatus, ChunkTask, RunStatus, TableRef, TableStatus
from avesa.state import rate_bucket
from avesa.state.alert_records import AlertIncident
from avesa.state.ledger_records import ChunkRecord, QueuedBackfill, RunRecord, TableRunRecord, TableRunUpdate

DEFAULT_RETENTION_DAYS = 90.0
"""How long a finished run's chunk rows are kept (AVESA_LEDGER_RETENTION_DAYS)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id TEXT PRIMARY KEY, company_name TEXT NOT NULL, enabled INTEGER NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenant_services (
    tenant_id TEXT NOT NULL, service TEXT NOT NULL, enabled INTEGER NOT NULL, settings TEXT NOT NULL,
    tables TEXT NOT NULL, secret_ref TEXT NOT NULL, rate_limit TEXT, created_at TEXT NOT NULL, schedule TEXT,
    PRIMARY KEY (tenant_id, service));
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
    request TEXT NOT NULL, owner TEXT NOT NULL, lease_expires TEXT);
CREATE TABLE IF NOT EXISTS table_runs (
    run_id TEXT NOT NULL, tenant_id TEXT NOT NULL, service TEXT NOT NULL, tbl TEXT NOT NULL,
    mode TEXT NOT NULL, status TEXT NOT NULL, range_start TEXT, range_end TEXT, estimate INTEGER,
    records INTEGER NOT NULL DEFAULT 0, versions_created INTEGER NOT NULL DEFAULT 0,
    deletes INTEGER NOT NULL DEFAULT 0, chunks_total INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL, finished_at TEXT, error TEXT, nulled_values TEXT,
    source_count INTEGER, canonical_count INTEGER,
    PRIMARY KEY (run_id, tenant_id, service, tbl));
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, tenant_id TEXT NOT NULL, service TEXT NOT NULL,
    tbl TEXT NOT NULL, idx INTEGER NOT NULL, range_start TEXT NOT NULL, range_end TEXT NOT NULL,
    status TEXT NOT NULL, cursor TEXT, seq INTEGER NOT NULL DEFAULT 0, records INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0, files INTEGER NOT NULL DEFAULT 0, max_updated_at TEXT,
    estimate INTEGER, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, lease_owner TEXT,
    lease_expires TEXT, seconds REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS chunks_by_table ON chunks (run_id, tenant_id, service, tbl);
CREATE TABLE IF NOT EXISTS tenant_locks (
    tenant_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, owner TEXT NOT NULL, acquired_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS backfill_locks (
    tenant_id TEXT PRIMARY KEY, run_id TEXT NOT NULL, owner TEXT NOT NULL, acquired_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reconciliations (
    tenant_id TEXT NOT NULL, service TEXT NOT NULL, tbl TEXT NOT NULL, last_at TEXT NOT NULL,
    PRIMARY KEY (tenant_id, service, tbl));
CREATE TABLE IF NOT EXISTS watermarks (
    tenant_id TEXT NOT NULL, service TEXT NOT NULL, tbl TEXT NOT NULL, watermark TEXT NOT NULL,
    run_id TEXT NOT NULL, PRIMARY KEY (tenant_id, service, tbl));
CREATE TABLE IF NOT EXISTS backfill_queue (
    queue_id INTEGER PRIMARY KEY AUTOINCREMENT, request TEXT NOT NULL, queued_at TEXT NOT NULL,
    queued_by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rate_budgets (
    tenant_id TEXT NOT NULL, service TEXT NOT NULL, tokens REAL NOT NULL, updated_at REAL NOT NULL,
    paused_until REAL NOT NULL DEFAULT 0, PRIMARY KEY (tenant_id, service));
CREATE INDEX IF NOT EXISTS runs_by_finish ON runs (finished_at);
CREATE TABLE IF NOT EXISTS sync_tokens (
    tenant_id TEXT NOT NULL, service TEXT NOT NULL, tbl TEXT NOT NULL, token TEXT NOT NULL,
    run_id TEXT NOT NULL, PRIMARY KEY (tenant_id, service, tbl));
CREATE TABLE IF NOT EXISTS alert_incidents (
    alert_key TEXT PRIMARY KEY, rule TEXT NOT NULL, tenant_id TEXT, summary TEXT NOT NULL,
    details TEXT NOT NULL, opened_at TEXT NOT NULL, resolved_at TEXT, sent TEXT NOT NULL,
    resolved_sent TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, entry_id TEXT NOT NULL, at TEXT NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, outcome TEXT NOT NULL, tenant_id TEXT, service TEXT, target TEXT,
    details TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_at ON audit_log (at);
"""

# Lock scopes: "sync" runs (`avesa run`) exclude each other per tenant; a "backfill" excludes other
# backfills of the tenant but runs beside a sync (it never moves watermarks; merges retry on conflict).
_LOCK_TABLES = {"sync": "tenant_locks", "backfill": "backfill_locks"}



def _sql(*statuses: StrEnum) -> str:
    """Statuses as SQL literals for a query's text: `'running'`, or `('complete', 'failed')`."""
    quoted = ", ".join(f"'{status.value}'" for status in statuses)
    return quoted if len(statuses) == 1 else f"({quoted})"


_RUNNING = _sql(RunStatus.RUNNING)
_ENDED_TABLE = _sql(TableStatus.COMPLETE, TableStatus.FAILED)  # a table run that ended on its own


def _ts(value: datetime | None) -> str | None:
    return None if value is None else parse_utc(value).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


def _fixed(value: datetime) -> str:
    """A time of one width (microseconds always), so that comparing the strings compares the times."""
    return parse_utc(value).isoformat(timespec="microseconds")


def _expiry(now: datetime, lease_seconds: float) -> str | None:
    return _ts(datetime.fromtimestamp(now.timestamp() + lease_seconds, now.tzinfo))


_PUT_TENANT = ("INSERT INTO tenants VALUES (?,?,?,?) ON CONFLICT(tenant_id) DO UPDATE SET "
               "company_name=excluded.company_name, enabled=excluded.enabled")
_PUT_SERVICE = (
    "INSERT INTO tenant_services (tenant_id, service, enabled, settings, tables, secret_ref, rate_limit, "
    "created_at, schedule) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(tenant_id, service) DO UPDATE SET "
    "enabled=excluded.enabled, settings=excluded.settings, tables=excluded.tables, "
    "secret_ref=excluded.secret_ref, rate_limit=excluded.rate_limit, schedule=excluded.schedule")


def _tenant_row(tenant: Tenant) -> tuple:
    return tenant.tenant_id, tenant.company_name, int(tenant.enabled), _ts(tenant.created_at)


def _service_row(service: TenantService) -> tuple:
    rate = service.rate_limit.model_dump_json() if service.rate_limit else None
    schedule = service.schedule.model_dump_json() if service.schedule else None
    return (service.tenant_id, service.service, int(service.enabled), json.dumps(service.settings),
            json.dumps(service.tables), service.secret_ref, rate, _ts(service.created_at), schedule)


# A chunk's lease is still `owner`'s, and its run was not cancelled (a cancel marks the chunk so):
# the one rule for every write a worker makes under the lease — checkpoint, renewal, finish, release.
_LEASE_HELD = f"chunk_id=? AND lease_owner=? AND status!={_sql(ChunkStatus.CANCELLED)}"

# What a table run's records are: its chunks' checkpointed records, summed when read — the one count
# of what landed, true while the run goes on or after it was interrupted. A table run without chunks
# (it failed before planning) keeps the count it was given.
_TABLE_RUN_SELECT = (
    "SELECT t.*, (SELECT SUM(c.records) FROM chunks c WHERE c.run_id=t.run_id AND c.tenant_id=t.tenant_id "
    "AND c.service=t.service AND c.tbl=t.tbl) AS landed FROM table_runs t")


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
    cutoff = _ts(datetime.fromtimestamp(now.timestamp() - retention_days * 86400.0, now.tzinfo))
    c.execute(f"DELETE FROM chunks WHERE run_id IN (SELECT run_id FROM runs WHERE status!={_RUNNING} "
              "AND finished_at IS NOT NULL AND finished_at < ?)", (cutoff,))


class SqliteStateStore:
    """State store on one SQLite file. Methods are short transactions; safe across threads.

    `retention_days`: a finished run's chunk rows are purged once it finished that long ago (when a
    later run finishes); runs and table runs are kept."""

    def __init__(self, path: Path, retention_days: float = DEFAULT_RETENTION_DAYS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention_days = retention_days
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Columns added since a state file was created (SQLite adds them in place)."""
        columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(chunks)")}
        if "seconds" not in columns:
            self._conn.execute("ALTER TABLE chunks ADD COLUMN seconds REAL NOT NULL DEFAULT 0")
        columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(table_runs)")}
        if "nulled_values" not in columns:
            self._conn.execute("ALTER TABLE table_runs ADD COLUMN nulled_values TEXT")
        for name in ("source_count", "canonical_count"):
            if name not in columns:
                self._conn.execute(f"ALTER TABLE table_runs ADD COLUMN {name} INTEGER")
        columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(tenant_services)")}
        if "schedule" not in columns:
            self._conn.execute("ALTER TABLE tenant_services ADD COLUMN schedule TEXT")
        columns = {row["name"] for row in self._conn.execute("PRAGMA table_info(runs)")}
        if "lease_expires" not in columns:
            self._conn.execute("ALTER TABLE runs ADD COLUMN lease_expires TEXT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                # SQLite itself rolls back on a full disk or an I/O error (SQLITE_FULL, SQLITE_IOERR):
                # a ROLLBACK then would fail and hide that error behind "no transaction is active".
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # ---- registry -------------------------------------------------------------------------
    def put_tenant(self, tenant: Tenant) -> None:
        with self._tx() as c:
            c.execute(_PUT_TENANT, _tenant_row(tenant))

    def _tenant(self, row: sqlite3.Row) -> Tenant:
        return Tenant(tenant_id=row["tenant_id"], company_name=row["company_name"],
                      enabled=bool(row["enabled"]), created_at=parse_utc(row["created_at"]))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = self._query("SELECT * FROM tenants WHERE tenant_id=?", (tenant_id,))
        return self._tenant(rows[0]) if rows else None

    def list_tenants(self) -> list[Tenant]:
        return [self._tenant(r) for r in self._query("SELECT * FROM tenants ORDER BY tenant_id")]

    def put_service(self, service: TenantService) -> None:
        with self._tx() as c:
            c.execute(_PUT_SERVICE, _service_row(service))

    def _service(self, row: sqlite3.Row) -> TenantService:
        rate = RateLimitOverride.model_validate_json(row["rate_limit"]) if row["rate_limit"] else None
        schedule = ScheduleOverride.model_validate_json(row["schedule"]) if row["schedule"] else None
        return TenantService(
            tenant_id=row["tenant_id"], service=row["service"], enabled=bool(row["enabled"]),
            settings=json.loads(row["settings"]), tables=json.loads(row["tables"]),
            secret_ref=row["secret_ref"], rate_limit=rate, schedule=schedule, created_at=parse_utc(row["created_at"]),
        )

    def get_service(self, tenant_id: str, service: str) -> TenantService | None:
        rows = self._query("SELECT * FROM tenant_services WHERE tenant_id=? AND service=?", (tenant_id, service))
        return self._service(rows[0]) if rows else None

    def list_services(self, tenant_id: str | None = None) -> list[TenantService]:
        if tenant_id is None:
            rows = self._query("SELECT * FROM tenant_services ORDER BY tenant_id, service")
        else:
            rows = self._query("SELECT * FROM tenant_services WHERE tenant_id=? ORDER BY service", (tenant_id,))
        return [self._service(r) for r in rows]

    # ---- runs -----------------------------------------------------------------------------
    def create_run(self, run_id: str, started_at: datetime, request: dict, owner: str) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO runs (run_id, started_at, finished_at, status, request, owner) VALUES (?,?,?,?,?,?)",
                      (run_id, _ts(started_at), None, RunStatus.RUNNING.value, json.dumps(request), owner))

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
                               f"AND status={_RUNNING}", (RunStatus(status).value, _ts(finished_at), run_id))
            if cursor.rowcount != 1:
                return False
            _release_running_chunks(c, run_id, f"stopped when its run ended {status}")
            _purge_old_chunks(c, finished_at, self.retention_days)
            return True

    def _run(self, row: sqlite3.Row) -> RunRecord:
        return RunRecord(run_id=row["run_id"], started_at=parse_utc(row["started_at"]),
                         finished_at=_dt(row["finished_at"]), status=row["status"],
                         request=json.loads(row["request"]), owner=row["owner"],
                         lease_expires=_dt(row["lease_expires"]))

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id=?", (run_id,))
        return self._run(rows[0]) if rows else None

    def list_runs(self, limit: int = 20, status: RunStatus | None = None) -> list[RunRecord]:
        if status is None:
            rows = self._query("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,))
        else:
            rows = self._query("SELECT * FROM runs WHERE status=? ORDER BY started_at DESC LIMIT ?",
                               (RunStatus(status).value, limit))
        return [self._run(r) for r in rows]

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

    # ---- table runs -----------------------------------------------------------------------
    def start_table_runs(self, refs: list[TableRef]) -> None:
        """Open every table run of a run in one transaction (thousands for a large MSP)."""
        with self._tx() as c:
            c.executemany(
                "INSERT INTO table_runs (run_id, tenant_id, service, tbl, mode, status, started_at) "
                "VALUES (?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(ref.run_id, ref.tenant_id, ref.service, ref.table, ref.mode.value, "pending",
                  _ts(ref.run_started_at)) for ref in refs],
            )

    def update_table_run(self, ref: TableRef, update: TableRunUpdate) -> None:
        fields = update.fields()
        if not fields:
            return
        values = [_ts(v) if isinstance(v, datetime) else json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
                  for v in fields.values()]
        assignments = ", ".join(f"{name}=?" for name in fields)
        with self._tx() as c:
            c.execute(
                f"UPDATE table_runs SET {assignments} WHERE run_id=? AND tenant_id=? AND service=? AND tbl=?",
                (*values, ref.run_id, ref.tenant_id, ref.service, ref.table),
            )

    def _table_run(self, row: sqlite3.Row) -> TableRunRecord:
        return TableRunRecord(
            run_id=row["run_id"], tenant_id=row["tenant_id"], service=row["service"], table=row["tbl"],
            mode=row["mode"], status=row["status"], range_start=_dt(row["range_start"]),
            range_end=_dt(row["range_end"]), estimate=row["estimate"],
            records=row["records"] if row["landed"] is None else row["landed"],
            versions_created=row["versions_created"], deletes=row["deletes"], chunks_total=row["chunks_total"],
            started_at=parse_utc(row["started_at"]), finished_at=_dt(row["finished_at"]), error=row["error"],
            nulled_values=json.loads(row["nulled_values"]) if row["nulled_values"] else {},
            source_count=row["source_count"], canonical_count=row["canonical_count"],
        )

    def get_table_run(self, ref: TableRef) -> TableRunRecord | None:
        rows = self._query(
            f"{_TABLE_RUN_SELECT} WHERE t.run_id=? AND t.tenant_id=? AND t.service=? AND t.tbl=?",
            (ref.run_id, ref.tenant_id, ref.service, ref.table),
        )
        return self._table_run(rows[0]) if rows else None

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
        return [self._table_run(r) for r in rows]

    # ---- chunks ---------------------------------------------------------------------------
    def save_chunks(self, chunks: list[ChunkTask]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT INTO chunks (chunk_id, run_id, tenant_id, service, tbl, idx, range_start, range_end, "
                "status, cursor, seq, estimate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                [(ch.chunk_id, ch.table.run_id, ch.table.tenant_id, ch.table.service, ch.table.table, ch.index,
                  _ts(ch.start), _ts(ch.end), ChunkStatus.PENDING.value, ch.cursor, ch.seq, ch.estimate)
                 for ch in chunks],
            )

    def _chunk(self, row: sqlite3.Row) -> ChunkRecord:
        return ChunkRecord(
            chunk_id=row["chunk_id"], run_id=row["run_id"], tenant_id=row["tenant_id"], service=row["service"],
            table=row["tbl"], idx=row["idx"], range_start=parse_utc(row["range_start"]),
            range_end=parse_utc(row["range_end"]),
            status=row["status"], cursor=row["cursor"], seq=row["seq"], records=row["records"],
            pages=row["pages"], files=row["files"], max_updated_at=_dt(row["max_updated_at"]),
            estimate=row["estimate"], attempts=row["attempts"], last_error=row["last_error"],
            lease_owner=row["lease_owner"], lease_expires=_dt(row["lease_expires"]), seconds=row["seconds"],
        )

    def list_chunks(self, ref: TableRef) -> list[ChunkRecord]:
        rows = self._query(
            "SELECT * FROM chunks WHERE run_id=? AND tenant_id=? AND service=? AND tbl=? ORDER BY idx",
            (ref.run_id, ref.tenant_id, ref.service, ref.table),
        )
        return [self._chunk(r) for r in rows]

    def get_chunk(self, chunk_id: str) -> ChunkRecord | None:
        rows = self._query("SELECT * FROM chunks WHERE chunk_id=?", (chunk_id,))
        return self._chunk(rows[0]) if rows else None

    def acquire_chunk(self, chunk_id: str, owner: str, lease_seconds: float, now: datetime) -> bool:
        """Take the chunk's lease if it is free, expired or already ours; count the attempt."""
        expires = now.timestamp() + lease_seconds
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
                (ChunkStatus.RUNNING.value, owner, _ts(datetime.fromtimestamp(expires, now.tzinfo)), chunk_id),
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
                    (_ts(new_end), chunk_id, owner, ChunkStatus.CANCELLED.value, ChunkStatus.COMPLETE.value))
                if narrowed.rowcount != 1:
                    return False
                added = c.executemany(
                    "INSERT INTO chunks (chunk_id, run_id, tenant_id, service, tbl, idx, range_start, range_end, "
                    "status, cursor, seq, estimate) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO NOTHING",
                    [(ch.chunk_id, ch.table.run_id, ch.table.tenant_id, ch.table.service, ch.table.table, ch.index,
                      _ts(ch.start), _ts(ch.end), ChunkStatus.PENDING.value, ch.cursor, ch.seq, ch.estimate)
                     for ch in children])
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
                 _ts(outcome.max_updated_at), outcome.seconds, _expiry(now, lease_seconds), chunk_id, owner),
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
        held = _LEASE_HELD if owner is not None else f"chunk_id=? AND status!={_sql(ChunkStatus.CANCELLED)}"
        with self._tx() as c:
            cursor = c.execute(
                "UPDATE chunks SET status=?, cursor=?, seq=?, records=?, pages=?, files=?, max_updated_at=?, "
                f"seconds=?, last_error=?, lease_owner=NULL, lease_expires=NULL WHERE {held}",
                (outcome.status.value, outcome.cursor, outcome.seq, outcome.records, outcome.pages,
                 outcome.files, _ts(outcome.max_updated_at), outcome.seconds, outcome.error, chunk_id,
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

    def reopen_run(self, run_id: str, owner: str) -> bool:
        """Take a finished run that failed back to running, to retry its failed tables. A chunk a
        ledger from before finished runs released them still shows running is released now."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE runs SET status={_RUNNING}, owner=?, finished_at=NULL, lease_expires=NULL "
                               f"WHERE run_id=? AND status={_sql(RunStatus.FAILED)}", (owner, run_id))
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
            if row is None or not is_interrupted(self._run(row), self.lease_expiries(run_id)):
                return False
            c.execute(f"UPDATE runs SET status={_sql(RunStatus.ABANDONED)}, finished_at=?, lease_expires=NULL "
                      "WHERE run_id=?", (_ts(now), run_id))
            _release_running_chunks(c, run_id, "its run was abandoned (`avesa jobs cleanup-stuck`)")
            c.execute(f"UPDATE table_runs SET status={_sql(TableStatus.ABANDONED)}, finished_at=? WHERE run_id=? "
                      f"AND status NOT IN {_ENDED_TABLE}", (_ts(now), run_id))
            for table in _LOCK_TABLES.values():
                c.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            _purge_old_chunks(c, now, self.retention_days)
            return True

    def cancel_run(self, run_id: str, now: datetime) -> bool:
        """Cancel a running (live or interrupted) or failed run: it is never resumed or retried; its
        unfinished chunks and tables say "cancelled", their leases and the run's locks are freed.
        A live worker notices at its next checkpoint or claim and stops. False if the run is not
        there or already finished. Watermarks and landed raw files are left as they are."""
        with self._tx() as c:
            cursor = c.execute(f"UPDATE runs SET status={_sql(RunStatus.CANCELLED)}, finished_at=?, lease_expires=NULL "
                               f"WHERE run_id=? AND status IN {_sql(RunStatus.RUNNING, RunStatus.FAILED)}",
                               (_ts(now), run_id))
            if cursor.rowcount != 1:
                return False
            c.execute("UPDATE chunks SET status=?, lease_owner=NULL, lease_expires=NULL WHERE run_id=? "
                      "AND status!=?", (ChunkStatus.CANCELLED.value, run_id, ChunkStatus.COMPLETE.value))
            c.execute(f"UPDATE table_runs SET status={_sql(TableStatus.CANCELLED)}, finished_at=? WHERE run_id=? "
                      f"AND status NOT IN {_ENDED_TABLE}", (_ts(now), run_id))
            for table in _LOCK_TABLES.values():
                c.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
            _purge_old_chunks(c, now, self.retention_days)
            return True

    # ---- tenant locks: one run of a scope writes a tenant's tables at a time -----------------
    def lock_tenant(self, tenant_id: str, run_id: str, owner: str, now: datetime,
                    is_stale: Callable[[str, str], bool], scope: str = "sync") -> tuple[str, str, datetime] | None:
        """Lock the tenant for `run_id` in `scope` ("sync" or "backfill"); None on success, else
        the holder (run id, owner, since).

        A lock whose holder `is_stale(run_id, owner)` (its process is gone, its run finished) is
        taken over."""
        table = _LOCK_TABLES[scope]
        with self._tx() as c:
            row = c.execute(f"SELECT run_id, owner, acquired_at FROM {table} WHERE tenant_id=?",
                            (tenant_id,)).fetchone()
            if row is not None and row["run_id"] != run_id and not is_stale(row["run_id"], row["owner"]):
                return row["run_id"], row["owner"], parse_utc(row["acquired_at"])
            c.execute(f"INSERT INTO {table} VALUES (?,?,?,?) ON CONFLICT(tenant_id) DO UPDATE SET "
                      "run_id=excluded.run_id, owner=excluded.owner, acquired_at=excluded.acquired_at",
                      (tenant_id, run_id, owner, _ts(now)))
            return None

    def unlock_tenants(self, run_id: str) -> None:
        """Free every lock `run_id` holds, whatever its scope."""
        with self._tx() as c:
            for table in _LOCK_TABLES.values():
                c.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))

    def forget_tenant_history(self, tenant_id: str) -> None:
        """Drop a tenant's ledger rows and watermarks (the demo's reset); the registry stays."""
        with self._tx() as c:
            for table in ("chunks", "table_runs", "watermarks", "sync_tokens", "reconciliations", "rate_budgets",
                          *_LOCK_TABLES.values()):
                c.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))

    # ---- delete reconciliation ------------------------------------------------------------
    def get_last_reconciliation(self, tenant_id: str, service: str, table: str) -> datetime | None:
        rows = self._query("SELECT last_at FROM reconciliations WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return _dt(rows[0]["last_at"]) if rows else None

    def set_last_reconciliation(self, tenant_id: str, service: str, table: str, value: datetime) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO reconciliations VALUES (?,?,?,?) ON CONFLICT(tenant_id, service, tbl) "
                      "DO UPDATE SET last_at=excluded.last_at", (tenant_id, service, table, _ts(value)))

    def recent_throughput(self, tenant_id: str, service: str, table: str,
                          chunks: int = 20) -> tuple[int, float] | None:
        """(records, seconds) over the table's last completed chunks that read something."""
        rows = self._query(
            "SELECT SUM(records) AS records, SUM(seconds) AS seconds FROM (SELECT records, seconds FROM chunks "
            f"WHERE tenant_id=? AND service=? AND tbl=? AND status={_sql(ChunkStatus.COMPLETE)} "
            "AND records>0 AND seconds>0 "
            "ORDER BY rowid DESC LIMIT ?)", (tenant_id, service, table, chunks))
        if not rows or not rows[0]["records"]:
            return None
        return int(rows[0]["records"]), float(rows[0]["seconds"])

    # ---- backfills queued for `avesa serve` ----------------------------------------------------
    def queue_backfill(self, request: dict, queued_at: datetime, queued_by: str) -> int:
        """Keep a backfill request for `avesa serve` to run; returns its place in the queue."""
        with self._tx() as c:
            cursor = c.execute("INSERT INTO backfill_queue (request, queued_at, queued_by) VALUES (?,?,?)",
                               (json.dumps(request, sort_keys=True), _ts(queued_at), queued_by))
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

    # ---- sync tokens (delta links) -----------------------------------------------------------
    def get_sync_token(self, tenant_id: str, service: str, table: str) -> str | None:
        rows = self._query("SELECT token FROM sync_tokens WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return rows[0]["token"] if rows else None

    def set_sync_token(self, tenant_id: str, service: str, table: str, token: str | None, run_id: str) -> None:
        """Keep (or with None, forget) the link a delta table's next run starts from; never for a
        cancelled run, like watermarks."""
        with self._tx() as c:
            run = c.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if run is not None and run["status"] == RunStatus.CANCELLED:
                return
            if token is None:
                c.execute("DELETE FROM sync_tokens WHERE tenant_id=? AND service=? AND tbl=?",
                          (tenant_id, service, table))
                return
            c.execute("INSERT INTO sync_tokens VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service, tbl) "
                      "DO UPDATE SET token=excluded.token, run_id=excluded.run_id",
                      (tenant_id, service, table, token, run_id))

    # ---- rate budgets shared by every worker ---------------------------------------------------
    def take_rate_token(self, tenant_id: str, service: str, requests_per_minute: float, burst: int,
                        now: datetime) -> float:
        """Take one request slot of the (tenant, service) budget: 0.0 when taken, else the seconds
        until one is free (the bucket refilling, or a pause); state/rate_bucket.py's rule, in one
        transaction, so processes sharing the file share the budget."""
        with self._tx() as c:
            state = self._bucket(c, tenant_id, service)
            new, wait = rate_bucket.take(state, requests_per_minute, burst, now.timestamp())
            if new is not None:
                self._store_bucket(c, tenant_id, service, new)
            return wait

    def pause_rate_budget(self, tenant_id: str, service: str, until: datetime) -> None:
        """Every worker of the (tenant, service) budget waits until `until` (a later pause wins)."""
        with self._tx() as c:
            new = rate_bucket.pause(self._bucket(c, tenant_id, service), until.timestamp())
            if new is not None:
                self._store_bucket(c, tenant_id, service, new)

    @staticmethod
    def _bucket(c: sqlite3.Connection, tenant_id: str, service: str) -> rate_bucket.BucketState | None:
        row = c.execute("SELECT tokens, updated_at, paused_until FROM rate_budgets WHERE tenant_id=? AND service=?",
                        (tenant_id, service)).fetchone()
        return None if row is None else rate_bucket.BucketState(row["tokens"], row["updated_at"], row["paused_until"])

    @staticmethod
    def _store_bucket(c: sqlite3.Connection, tenant_id: str, service: str, state: rate_bucket.BucketState) -> None:
        c.execute("INSERT INTO rate_budgets VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service) DO UPDATE SET "
                  "tokens=excluded.tokens, updated_at=excluded.updated_at, paused_until=excluded.paused_until",
                  (tenant_id, service, state.tokens, state.updated_at, state.paused_until))

    # ---- watermarks -----------------------------------------------------------------------
    def get_watermark(self, tenant_id: str, service: str, table: str) -> datetime | None:
        rows = self._query("SELECT watermark FROM watermarks WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return _dt(rows[0]["watermark"]) if rows else None

    def set_watermark(self, tenant_id: str, service: str, table: str, value: datetime, run_id: str) -> None:
        """Only ever moves forward: a late-finishing older run cannot pull it back; and never for a
        cancelled run (checked in the same transaction, so a cancel cannot slip in between)."""
        with self._tx() as c:
            run = c.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
            if run is not None and run["status"] == RunStatus.CANCELLED:
                return
            row = c.execute("SELECT watermark FROM watermarks WHERE tenant_id=? AND service=? AND tbl=?",
                            (tenant_id, service, table)).fetchone()
            if row is not None and parse_utc(row["watermark"]) >= value:
                return
            c.execute(
                "INSERT INTO watermarks VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service, tbl) DO UPDATE SET "
                "watermark=excluded.watermark, run_id=excluded.run_id",
                (tenant_id, service, table, _ts(value), run_id),
            )

    # ---- alert incidents (alerts/incidents.py) ------------------------------------------------
    def open_alert(self, incident: AlertIncident) -> bool:
        """Keep `incident` as its key's unless the kept one is still open; True if stored."""
        with self._tx() as c:
            cursor = c.execute(
                "INSERT INTO alert_incidents VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(alert_key) DO UPDATE SET "
                "rule=excluded.rule, tenant_id=excluded.tenant_id, summary=excluded.summary, details=excluded.details, "
                "opened_at=excluded.opened_at, resolved_at=excluded.resolved_at, sent=excluded.sent, "
                "resolved_sent=excluded.resolved_sent WHERE alert_incidents.resolved_at IS NOT NULL",
                (incident.key, incident.rule, incident.tenant_id, incident.summary,
                 json.dumps(incident.details, sort_keys=True), _ts(incident.opened_at), _ts(incident.resolved_at),
                 json.dumps(incident.sent), json.dumps(incident.resolved_sent)))
            return cursor.rowcount == 1

    def _alert(self, row: sqlite3.Row) -> AlertIncident:
        return AlertIncident(key=row["alert_key"], rule=row["rule"], tenant_id=row["tenant_id"], summary=row["summary"],
                             details=json.loads(row["details"]), opened_at=parse_utc(row["opened_at"]),
                             resolved_at=_dt(row["resolved_at"]), sent=json.loads(row["sent"]),
                             resolved_sent=json.loads(row["resolved_sent"]))

    def get_alert(self, key: str) -> AlertIncident | None:
        rows = self._query("SELECT * FROM alert_incidents WHERE alert_key=?", (key,))
        return self._alert(rows[0]) if rows else None

    def list_alerts(self, open_only: bool = True) -> list[AlertIncident]:
        where = " WHERE resolved_at IS NULL" if open_only else ""
        rows = self._query(f"SELECT * FROM alert_incidents{where}")
        return sorted((self._alert(r) for r in rows), key=lambda a: (a.opened_at, a.key))

    def resolve_alert(self, key: str, opened_at: datetime, resolved_at: datetime) -> bool:
        with self._tx() as c:
            return c.execute("UPDATE alert_incidents SET resolved_at=? WHERE alert_key=? AND opened_at=? "
                             "AND resolved_at IS NULL", (_ts(resolved_at), key, _ts(opened_at))).rowcount == 1

    def mark_alert_sent(self, key: str, opened_at: datetime, destination: str, resolved: bool = False) -> bool:
        column = "resolved_sent" if resolved else "sent"
        with self._tx() as c:
            row = c.execute(f"SELECT {column} FROM alert_incidents WHERE alert_key=? AND opened_at=?",
                            (key, _ts(opened_at))).fetchone()
            if row is None:
                return False
            sent = json.loads(row[column])
            if destination not in sent:
                c.execute(f"UPDATE alert_incidents SET {column}=? WHERE alert_key=?",
                          (json.dumps([*sent, destination]), key))
            return True
    # ---- registry in bulk, removals -----------------------------------------------------------
    def apply_registry(self, tenants: list[Tenant], services: list[TenantService]) -> None:
        """Every tenant and service in one transaction: all of them, or (on any error) none."""
        with self._tx() as c:
            c.executemany(_PUT_TENANT, [_tenant_row(t) for t in tenants])
            c.executemany(_PUT_SERVICE, [_service_row(s) for s in services])

    def remove_service(self, tenant_id: str, service: str) -> bool:
        """Take a service out of the registry; its runs, watermarks and lake data stay. False if absent."""
        with self._tx() as c:
            return c.execute("DELETE FROM tenant_services WHERE tenant_id=? AND service=?",
                             (tenant_id, service)).rowcount == 1

    def remove_tenant(self, tenant_id: str) -> bool:
        """Take a tenant and its services out of the registry, in one transaction; its runs,
        watermarks and lake data stay. False if it was not registered."""
        with self._tx() as c:
            c.execute("DELETE FROM tenant_services WHERE tenant_id=?", (tenant_id,))
            return c.execute("DELETE FROM tenants WHERE tenant_id=?", (tenant_id,)).rowcount == 1

    # ---- the audit trail -----------------------------------------------------------------------
    def append_audit(self, entries: list[AuditEntry]) -> None:
        with self._tx() as c:
            c.executemany(
                "INSERT INTO audit_log (entry_id, at, actor, action, outcome, tenant_id, service, target, details, "
                "message) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(e.entry_id, _fixed(e.at), e.actor, e.action, e.outcome.value, e.tenant_id, e.service, e.target,
                  json.dumps(e.details, sort_keys=True, default=str), e.message) for e in entries])

    def list_audit(self, tenant_id: str | None = None, action: str | None = None, since: datetime | None = None,
                   limit: int = 100) -> list[AuditEntry]:
        """Newest first. `action` matches itself and, without a dot, every `action.*` (`service`)."""
        clauses, params = [], []
        if tenant_id is not None:
            clauses.append("tenant_id=?")
            params.append(tenant_id)
        if action is not None:
            clauses.append("(action=? OR action LIKE ? ESCAPE '\\')")
            params += [action, action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ".%"]
        if since is not None:
            clauses.append("at>=?")
            params.append(_fixed(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._query(f"SELECT * FROM audit_log {where} ORDER BY at DESC, seq DESC LIMIT ?", (*params, limit))
        return [AuditEntry(entry_id=r["entry_id"], at=parse_utc(r["at"]), actor=r["actor"], action=r["action"],
                           outcome=r["outcome"], tenant_id=r["tenant_id"], service=r["service"], target=r["target"],
                           details=json.loads(r["details"]), message=r["message"]) for r in rows]
