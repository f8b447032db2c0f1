"""The SQLite state file's tables, and the columns added since a file was first created."""

from __future__ import annotations

import sqlite3

SCHEMA = """
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


_ADDED_COLUMNS = (
    ("chunks", "seconds", "REAL NOT NULL DEFAULT 0"),
    ("table_runs", "nulled_values", "TEXT"),
    ("table_runs", "source_count", "INTEGER"),
    ("table_runs", "canonical_count", "INTEGER"),
    ("tenant_services", "schedule", "TEXT"),
    ("runs", "lease_expires", "TEXT"),
)
"""(table, column, definition) of every column added since the first state files were made."""


def migrate(conn: sqlite3.Connection) -> None:
    """Columns added since a state file was created (SQLite adds them in place)."""
    present: dict[str, set[str]] = {}
    for table, column, definition in _ADDED_COLUMNS:
        if table not in present:
            present[table] = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present[table]:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
