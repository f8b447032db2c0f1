"""One in-memory DuckDB per process for the transforms that run SQL over Arrow batches (record
hashes, the columnar mapping): opening a database costs milliseconds and a build runs hundreds of
batches, so each call takes a cursor of the process's connection instead (a cursor per call is
thread-safe). Sessions are in UTC, so a timestamp text without an offset reads as UTC, as
`avesa.transform.values.to_timestamp` reads it."""

from __future__ import annotations

import os
import threading
from typing import Any

import pyarrow as pa

_lock = threading.Lock()
_base: tuple[int, Any] | None = None  # (pid, connection): a worker process opens its own


def cursor() -> Any:
    """A fresh cursor on the process's in-memory DuckDB, in UTC (a setting of each cursor's own
    session); close it when done."""
    global _base
    with _lock:
        if _base is None or _base[0] != os.getpid():
            import duckdb

            _base = (os.getpid(), duckdb.connect())
        found = _base[1].cursor()
    found.execute("SET TimeZone = 'UTC'")
    return found


def arrow(sql: str, name: str, table: pa.Table) -> pa.Table:
    """`sql` run over `table` registered as `name`, its result as an Arrow table. DuckDB's errors
    (duckdb.Error) are the caller's to catch."""
    con = cursor()
    try:
        con.register(name, table)
        rel = con.sql(sql)
        to_arrow = getattr(rel, "to_arrow_table", None) or rel.fetch_arrow_table
        result: pa.Table = to_arrow()
    finally:
        con.close()
    return result


def literal(text: str) -> str:
    """`text` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
