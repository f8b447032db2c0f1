"""What every job of the SQLite store works on: one connection to the state file (autocommit, so
each method is its own short transaction), behind a lock so that threads can share it."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SqliteJob:
    """The base of each job's class; `store.SqliteStateStore` opens the connection."""

    _conn: sqlite3.Connection
    _lock: threading.RLock

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
