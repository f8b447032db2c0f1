"""Peak memory while a benchmark runs: resident set size sampled by a thread, and Arrow's pool.

The sampler runs inside the measured process, so it must stay cheap: listing the process tree
reads every process's /proc entry (about 1 ms), reading a known process's RSS one file. The tree
is listed twice a second, the RSS of what it found every 20 ms; listing it at every sample took
a sixth of the pipeline's main thread and counted as pipeline CPU."""

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

    def __init__(self, interval: float = 0.02, exclude: frozenset[int] = frozenset(),
                 list_every: float = 0.5) -> None:
        self.exclude = exclude
        self.interval = interval
        self._list_every = max(1, round(list_every / interval))
        self._samples = 0
        self._processes = pipeline_processes(exclude)
        self.base_rss = self.peak_rss = _rss(self._processes)
        self.base_arrow = self.peak_arrow = pa.total_allocated_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, relist: bool = False) -> None:
        self._samples += 1
        if relist or self._samples % self._list_every == 0:
            self._processes = pipeline_processes(self.exclude)
        self.peak_rss = max(self.peak_rss, _rss(self._processes))
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
        self._sample(relist=True)

    @property
    def rss_mb(self) -> float:
        return self.peak_rss / 2**20

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.base_rss) / 2**20

    @property
    def arrow_mb(self) -> float:
        return (self.peak_arrow - self.base_arrow) / 2**20
