"""Token-bucket request throttling, one bucket per simulated instance.

ConnectWise publishes no numeric limit but answers 429 with ``Retry-After`` when a client is too
fast; a token bucket reproduces that: bursts up to ``burst`` requests pass, the sustained rate is
``per_minute``, and a refused request is told how long until a token is available.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """A thread-safe token bucket. ``per_minute=None`` means unlimited."""

    def __init__(
        self,
        per_minute: float | None,
        burst: int,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.configure(per_minute, burst)

    def configure(self, per_minute: float | None, burst: int) -> None:
        """Change the rate and capacity (the bucket starts full again)."""
        with self._lock:
            self.per_minute = per_minute
            self.burst = burst
            self._tokens = float(burst)
            self._stamp = self._monotonic()

    def try_acquire(self) -> float:
        """Take one token. Returns 0.0 on success, else seconds until a token will be available."""
        if self.per_minute is None:
            return 0.0
        rate = self.per_minute / 60.0
        with self._lock:
            now = self._monotonic()
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / rate

    def usage(self) -> float | None:
        """Share of the burst in use now (0.0 = full bucket, 1.0 = empty), None when unlimited: lets a
        service report how close a client is to throttling (Graph's ``x-ms-throttle-limit-percentage``)."""
        if self.per_minute is None:
            return None
        rate = self.per_minute / 60.0
        with self._lock:
            tokens = min(float(self.burst), self._tokens + (self._monotonic() - self._stamp) * rate)
        return 1.0 - tokens / self.burst

    @staticmethod
    def retry_after_header(wait_seconds: float) -> str:
        """``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(wait_seconds)))
