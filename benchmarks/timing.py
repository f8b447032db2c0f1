"""The best of several runs in this thread's CPU time: what the micro-benchmarks report."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def best_thread_seconds(run: Callable[[], object], repeats: int) -> float:
    """The least thread CPU time `run` took over `repeats` calls (a collection before each, so one
    call's garbage is not charged to the next)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best
