"""Rate budgets in SQLite: a row per (tenant, service) bucket, read and written back in one
transaction (state/rate_bucket.py's rule), so that processes sharing the file share the budget."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from avesa.state import rate_bucket
from avesa.state.base import RateBudgets
from avesa.state.sqlite.job import SqliteJob


def _bucket(c: sqlite3.Connection, tenant_id: str, service: str) -> rate_bucket.BucketState | None:
    row = c.execute("SELECT tokens, updated_at, paused_until FROM rate_budgets WHERE tenant_id=? AND service=?",
                    (tenant_id, service)).fetchone()
    return None if row is None else rate_bucket.BucketState(row["tokens"], row["updated_at"], row["paused_until"])


def _store_bucket(c: sqlite3.Connection, tenant_id: str, service: str, state: rate_bucket.BucketState) -> None:
    c.execute("INSERT INTO rate_budgets VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service) DO UPDATE SET "
              "tokens=excluded.tokens, updated_at=excluded.updated_at, paused_until=excluded.paused_until",
              (tenant_id, service, state.tokens, state.updated_at, state.paused_until))


class SqliteRateBudgets(SqliteJob, RateBudgets):
    def take_rate_token(self, tenant_id: str, service: str, requests_per_minute: float, burst: int,
                        now: datetime) -> float:
        """Take one request slot of the (tenant, service) budget: 0.0 when taken, else the seconds
        until one is free (the bucket refilling, or a pause); state/rate_bucket.py's rule, in one
        transaction, so processes sharing the file share the budget."""
        with self._tx() as c:
            state = _bucket(c, tenant_id, service)
            new, wait = rate_bucket.take(state, requests_per_minute, burst, now.timestamp())
            if new is not None:
                _store_bucket(c, tenant_id, service, new)
            return wait

    def pause_rate_budget(self, tenant_id: str, service: str, until: datetime) -> None:
        """Every worker of the (tenant, service) budget waits until `until` (a later pause wins)."""
        with self._tx() as c:
            new = rate_bucket.pause(_bucket(c, tenant_id, service), until.timestamp())
            if new is not None:
                _store_bucket(c, tenant_id, service, new)
