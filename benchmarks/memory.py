"""Peak memory while a benchmark runs: resident set size sampled by a thread, and Arrow's pool."""

from __future__ import annotations

import threading

import psutil
import pyarrow as pa


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.rss_mb`` (peak RSS) and ``m.growth_mb`` (over start)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.base_rss = self.peak_rss = self.process.memory_info().rss
        self.base_arrow = self.peak_arrow = pa.total_allocated_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
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
