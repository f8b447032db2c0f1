"""Request budgets shared by every task that calls the same (tenant, service) instance.

A leaky bucket (aiolimiter) sized from the service's documented limits, plus a pause that a
429's Retry-After imposes on *every* caller of that instance, not just the one that was told. The
rate also follows what responses announce (``observe``): when the allowance left would run out
before it renews, the bucket slows to spread it; when it is used up, everyone waits for the reset.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

from avesa.connectors.rate_headers import Allowance

RATE_CHANGE_THRESHOLD = 0.1
"""Only rebuild the bucket when the rate changes by more than this fraction."""


class RateBudget:
    def __init__(self, requests_per_minute: float, burst: int) -> None:
        self.documented_per_minute = requests_per_minute
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        self._limiter = self._bucket(requests_per_minute)
        self._resume_at = 0.0
        self.waited_seconds = 0.0
        self.pauses = 0
        self.adjustments = 0

    def _bucket(self, per_minute: float) -> AsyncLimiter:
        # at most `burst` requests in any `burst / rate` seconds window -> `rate` on average.
        burst = max(1, min(self.burst, int(per_minute) or 1))
        return AsyncLimiter(burst, burst * 60.0 / per_minute)

    def observe(self, allowance: Allowance | None) -> None:
        """Follow the allowance a response announced (never faster than the documented rate)."""
        if allowance is None:
            return
        if allowance.remaining <= 0:
            self.pause_for(allowance.resets_in)
            return
        window_minutes = max(allowance.resets_in, 1.0) / 60.0
        fitting = allowance.remaining / window_minutes
        wanted = min(self.documented_per_minute, fitting)
        if abs(wanted - self.requests_per_minute) > RATE_CHANGE_THRESHOLD * self.requests_per_minute:
            self.requests_per_minute = wanted
            self._limiter = self._bucket(wanted)
            self.adjustments += 1

    def pause_for(self, seconds: float) -> None:
        """Everyone using this budget waits until `seconds` from now (as a Retry-After said)."""
        resume = time.monotonic() + max(0.0, seconds)
        if resume > self._resume_at:
            self._resume_at = resume
            self.pauses += 1

    async def acquire(self) -> None:
        started = time.monotonic()
        while (delay := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        await self._limiter.acquire()
        self.waited_seconds += time.monotonic() - started


class RateBudgets:
    """One budget per (tenant, service) for the whole process."""

    def __init__(self) -> None:
        self._budgets: dict[tuple[str, str], RateBudget] = {}

    def get(self, tenant_id: str, service: str, requests_per_minute: float, burst: int) -> RateBudget:
        key = (tenant_id, service)
        budget = self._budgets.get(key)
        if budget is None:
            budget = self._budgets[key] = RateBudget(requests_per_minute, burst)
        return budget
