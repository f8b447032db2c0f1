"""SQLite back end of the state store: one file under AVESA_HOME, WAL mode, safe for several
processes (two `avesa run`s at once, an `avesa status` beside a run). Each job of the contract is
its own module over the one connection this class opens."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from avesa.state.ledger_rules import DEFAULT_RETENTION_DAYS
from avesa.state.sqlite import schema
from avesa.state.sqlite.alerts import SqliteAlertIncidents
from avesa.state.sqlite.audit import SqliteAuditTrail
from avesa.state.sqlite.ledger import SqliteLedger
from avesa.state.sqlite.locks import SqliteLocks
from avesa.state.sqlite.positions import SqlitePositions
from avesa.state.sqlite.rate_budgets import SqliteRateBudgets
from avesa.state.sqlite.registry import SqliteRegistry


class SqliteStateStore(SqliteRegistry, SqliteLedger, SqliteLocks, SqlitePositions, SqliteRateBudgets,
                       SqliteAlertIncidents, SqliteAuditTrail):
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
        self._conn.executescript(schema.SCHEMA)
        schema.migrate(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
