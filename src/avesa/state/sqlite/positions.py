"""Where each table is, in SQLite: watermarks, delta links, the last delete reconciliation, and
the speed of earlier runs (read from the ledger's chunks)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from avesa.domain.timeutil import parse_utc
from avesa.domain.work import ChunkStatus, RunStatus
from avesa.state.base import Positions
from avesa.state.sqlite.codec import dt, sql, ts
from avesa.state.sqlite.job import SqliteJob


def _run_cancelled(c: sqlite3.Connection, run_id: str) -> bool:
    """A watermark or delta link never moves for a cancelled run (asked in the writer's transaction,
    so a cancel cannot slip in between)."""
    run = c.execute("SELECT status FROM runs WHERE run_id=?", (run_id,)).fetchone()
    return run is not None and run["status"] == RunStatus.CANCELLED


class SqlitePositions(SqliteJob, Positions):
    # ---- watermarks -----------------------------------------------------------------------
    def get_watermark(self, tenant_id: str, service: str, table: str) -> datetime | None:
        rows = self._query("SELECT watermark FROM watermarks WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return dt(rows[0]["watermark"]) if rows else None

    def set_watermark(self, tenant_id: str, service: str, table: str, value: datetime, run_id: str) -> None:
        """Only ever moves forward: a late-finishing older run cannot pull it back; and never for a
        cancelled run (checked in the same transaction, so a cancel cannot slip in between)."""
        with self._tx() as c:
            if _run_cancelled(c, run_id):
                return
            row = c.execute("SELECT watermark FROM watermarks WHERE tenant_id=? AND service=? AND tbl=?",
                            (tenant_id, service, table)).fetchone()
            if row is not None and parse_utc(row["watermark"]) >= value:
                return
            c.execute(
                "INSERT INTO watermarks VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service, tbl) DO UPDATE SET "
                "watermark=excluded.watermark, run_id=excluded.run_id",
                (tenant_id, service, table, ts(value), run_id),
            )

    # ---- sync tokens (delta links) -----------------------------------------------------------
    def get_sync_token(self, tenant_id: str, service: str, table: str) -> str | None:
        rows = self._query("SELECT token FROM sync_tokens WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return rows[0]["token"] if rows else None

    def set_sync_token(self, tenant_id: str, service: str, table: str, token: str | None, run_id: str) -> None:
        """Keep (or with None, forget) the link a delta table's next run starts from; never for a
        cancelled run, like watermarks."""
        with self._tx() as c:
            if _run_cancelled(c, run_id):
                return
            if token is None:
                c.execute("DELETE FROM sync_tokens WHERE tenant_id=? AND service=? AND tbl=?",
                          (tenant_id, service, table))
                return
            c.execute("INSERT INTO sync_tokens VALUES (?,?,?,?,?) ON CONFLICT(tenant_id, service, tbl) "
                      "DO UPDATE SET token=excluded.token, run_id=excluded.run_id",
                      (tenant_id, service, table, token, run_id))

    # ---- delete reconciliation ------------------------------------------------------------
    def get_last_reconciliation(self, tenant_id: str, service: str, table: str) -> datetime | None:
        rows = self._query("SELECT last_at FROM reconciliations WHERE tenant_id=? AND service=? AND tbl=?",
                           (tenant_id, service, table))
        return dt(rows[0]["last_at"]) if rows else None

    def set_last_reconciliation(self, tenant_id: str, service: str, table: str, value: datetime) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO reconciliations VALUES (?,?,?,?) ON CONFLICT(tenant_id, service, tbl) "
                      "DO UPDATE SET last_at=excluded.last_at", (tenant_id, service, table, ts(value)))

    # ---- speed of earlier runs -------------------------------------------------------------
    def recent_throughput(self, tenant_id: str, service: str, table: str,
                          chunks: int = 20) -> tuple[int, float] | None:
        """(records, seconds) over the table's last completed chunks that read something."""
        rows = self._query(
            "SELECT SUM(records) AS records, SUM(seconds) AS seconds FROM (SELECT records, seconds FROM chunks "
            f"WHERE tenant_id=? AND service=? AND tbl=? AND status={sql(ChunkStatus.COMPLETE)} "
            "AND records>0 AND seconds>0 "
            "ORDER BY rowid DESC LIMIT ?)", (tenant_id, service, table, chunks))
        if not rows or not rows[0]["records"]:
            return None
        return int(rows[0]["records"]), float(rows[0]["seconds"])
