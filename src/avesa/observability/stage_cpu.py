"""CPU time spent in each stage of the pipeline, process-wide: cheap enough to be always on.

A stage is timed with the CPU clock of the thread that runs it (`time.thread_time`), so a stage
on the event loop is not charged for the other coroutines that ran while it waited, and a stage
in a worker thread is not charged for the loop. Native threads a stage starts (Arrow's pool,
DuckDB's) are not counted: the stage's own thread is. One `thread_time` pair costs about a
microsecond, so the timers go around whole pages, raw files and merges, never around a record.

The benchmark reads `snapshot()` before and after a run to split the pipeline's CPU per record
by stage (docs/benchmarks.md); stages do not overlap (a stage timed inside another is charged to
the inner one only), so their sum is at most the process's CPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("decode", "raw_write", "mapping", "hash", "merge", "reconcile", "ledger")
"""decode: a page's bytes into records (connector); raw_write: building and writing a raw Parquet
file; mapping: raw records into canonical columns; hash: record hashes; merge: the SCD2 merge
(reading and writing Delta, the hash excluded); reconcile: comparing a full listing of ids
with the canonical table; ledger: checkpoints and watermarks in the state
store."""

_lock = threading.Lock()
_totals: dict[str, float] = dict.fromkeys(STAGES, 0.0)
_local = threading.local()


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Charge the CPU this thread spends inside the block to `name` (less any inner stage's)."""
    outer: list[float] | None = getattr(_local, "inner", None)
    inner = [0.0]
    _local.inner = inner
    started = time.thread_time()
    try:
        yield
    finally:
        spent = time.thread_time() - started
        _local.inner = outer
        if outer is not None:
            outer[0] += spent
        with _lock:
            _totals[name] = _totals.get(name, 0.0) + spent - inner[0]


def snapshot() -> dict[str, float]:
    """Seconds of CPU per stage since the process started."""
    with _lock:
        return dict(_totals)


def since(before: dict[str, float]) -> dict[str, float]:
    """Seconds of CPU per stage since `before` (an earlier `snapshot()`)."""
    now = snapshot()
    return {name: now.get(name, 0.0) - before.get(name, 0.0) for name in now}


def charge(seconds: dict[str, float]) -> None:
    """Add CPU spent elsewhere — a build in a worker process — to this process's stages."""
    with _lock:
        for name, value in seconds.items():
            _totals[name] = _totals.get(name, 0.0) + value
