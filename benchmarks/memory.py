"""Peak memory while a benchmark runs: resident set size sampled by a thread, and Arrow's pool."""

from __future__ import annotations

import threading

import psutil
import pyarrow as pa


def pipeline_processes(exclude: frozenset[int] = frozenset()) -> list[psutil.Process]:
    """This process and its children — the pipeline's worker processes — except the processes of
    `exclude` and their own children (the sandbox, which a benchmark starts as a child too)."""
    me = psutil.Process()
    skipped = set(exclude)
    for pid in exclude:
        try:
            skipped.update(child.pid for child in psutil.Process(pid).children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return [me, *(child for child in me.children(recursive=True) if child.pid not in skipped)]


def _rss(processes: list[psutil.Process]) -> int:
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.rss_mb`` (peak RSS) and ``m.growth_mb`` (over start).

    The RSS is summed over the pipeline's processes (`pipeline_processes`): a canonical build in a
    worker process uses memory too."""

    def __init__(self, interval: float = 0.02, exclude: frozenset[int] = frozenset()) -> None:
        self.exclude = exclude
        self.interval = interval
        self.base_rss = self.peak_rss = _rss(pipeline_processes(exclude))
        self.base_arrow = self.peak_arrow = pa.total_allocated_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak_rss = max(self.peak_rss, _rss(pipeline_processes(self.exclude)))
        self.peak_arrow = max(self.peak_arrow, pa.total_allocated_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def rss_mb(self) -> float:
        return self.peak_rss / 2**20

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.base_rss) / 2**20

    @property
    def arrow_mb(self) -> float:
        return (self.peak_arrow - self.base_arrow) / 2**20
