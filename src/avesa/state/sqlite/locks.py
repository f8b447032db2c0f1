"""Tenant locks in SQLite: one table per scope (ledger_rules.LOCK_SCOPES), a row per locked tenant."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime

from avesa.domain.timeutil import parse_utc
from avesa.state.base import Locks
from avesa.state.sqlite.codec import ts
from avesa.state.sqlite.job import SqliteJob

LOCK_TABLES = {"sync": "tenant_locks", "backfill": "backfill_locks"}
"""The table of each lock scope."""


def release_locks(c: sqlite3.Connection, run_id: str) -> None:
    """Free every lock `run_id` holds, whatever its scope (inside the caller's transaction)."""
    for table in LOCK_TABLES.values():
        c.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))


class SqliteLocks(SqliteJob, Locks):
    def lock_tenant(self, tenant_id: str, run_id: str, owner: str, now: datetime,
                    is_stale: Callable[[str, str], bool], scope: str = "sync") -> tuple[str, str, datetime] | None:
        """Lock the tenant for `run_id` in `scope` ("sync" or "backfill"); None on success, else
        the holder (run id, owner, since).

        A lock whose holder `is_stale(run_id, owner)` (its process is gone, its run finished) is
        taken over."""
        table = LOCK_TABLES[scope]
        with self._tx() as c:
            row = c.execute(f"SELECT run_id, owner, acquired_at FROM {table} WHERE tenant_id=?",
                            (tenant_id,)).fetchone()
            if row is not None and row["run_id"] != run_id and not is_stale(row["run_id"], row["owner"]):
                return row["run_id"], row["owner"], parse_utc(row["acquired_at"])
            c.execute(f"INSERT INTO {table} VALUES (?,?,?,?) ON CONFLICT(tenant_id) DO UPDATE SET "
                      "run_id=excluded.run_id, owner=excluded.owner, acquired_at=excluded.acquired_at",
                      (tenant_id, run_id, owner, ts(now)))
            return None

    def unlock_tenants(self, run_id: str) -> None:
        """Free every lock `run_id` holds, whatever its scope."""
        with self._tx() as c:
            release_locks(c, run_id)

    def forget_tenant_history(self, tenant_id: str) -> None:
        """Drop a tenant's ledger rows and watermarks (the demo's reset); the registry stays."""
        with self._tx() as c:
            for table in ("chunks", "table_runs", "watermarks", "sync_tokens", "reconciliations", "rate_budgets",
                          *LOCK_TABLES.values()):
                c.execute(f"DELETE FROM {table} WHERE tenant_id=?", (tenant_id,))
