"""The org's daily API request allocation, reported in ``Sforce-Limit-Info: api-usage=used/limit``.

Salesforce counts every REST call against a 24-hour allocation (Enterprise Edition: 100,000 plus
1,000 per licence) and answers ``403 REQUEST_LIMIT_EXCEEDED`` once it is used up; every response
carries the running count so clients can pace themselves. The sandbox counts per instance and per
UTC day of the instance clock (a simplification of the rolling 24 hours); the allocation is the
``daily_request_limit`` knob, or 100,000. OAuth token requests do not count, as in Salesforce.
"""

from __future__ import annotations

import threading

DEFAULT_DAILY_LIMIT = 100_000


class DailyUsage:
    """Requests counted today against the allocation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._day = -1
        self.used = 0

    def consume(self, now: int, limit: int) -> bool:
        """Count one request at epoch ``now``; False (not counted) if the allocation is used up."""
        with self._lock:
            self._roll(now)
            if self.used >= limit:
                return False
            self.used += 1
            return True

    def current(self, now: int) -> int:
        with self._lock:
            self._roll(now)
            return self.used

    def reset(self) -> None:
        with self._lock:
            self._day = -1
            self.used = 0

    def _roll(self, now: int) -> None:
        day = now // 86400
        if day != self._day:
            self._day = day
            self.used = 0


def limit_header(used: int, limit: int) -> str:
    """The ``Sforce-Limit-Info`` header value."""
    return f"api-usage={used}/{limit}"
