"""One in-memory DuckDB per process for the transforms that run SQL over Arrow batches (record
hashes, the columnar mapping): opening a database costs milliseconds and a build runs hundreds of
batches, so each call takes a cursor of the process's connection instead (a cursor per call is
thread-safe). Sessions are in UTC, so a timestamp text without an offset reads as UTC, as
`avesa.transform.values.to_timestamp` reads it."""

from __future__ import annotations

import os
import threading
from typing import Any

_lock = threading.Lock()
_base: tuple[int, Any] | None = None  # (pid, connection): a worker process opens its own


def cursor() -> Any:
    """A fresh cursor on the process's in-memory DuckDB; close it when done."""
    global _base
    with _lock:
        if _base is None or _base[0] != os.getpid():
            import duckdb

            connection = duckdb.connect()
            connection.execute("SET TimeZone = 'UTC'")
            _base = (os.getpid(), connection)
        found = _base[1].cursor()
    found.execute("SET TimeZone = 'UTC'")
    return found
