"""Request budgets shared by every task that calls the same (tenant, service) instance.

A leaky bucket (aiolimiter) sized from the service's documented limits, plus a pause that a
429's Retry-After imposes on *every* caller of that instance, not just the one that was told.
"""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter


class RateBudget:
    def __init__(self, requests_per_minute: float, burst: int) -> None:
        self.requests_per_minute = requests_per_minute
        self.burst = burst
        # aiolimiter: at most `burst` requests in any `burst / rate` seconds window -> `rate` on average.
        self._limiter = AsyncLimiter(burst, burst * 60.0 / requests_per_minute)
        self._resume_at = 0.0
        self.waited_seconds = 0.0
        self.pauses = 0

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
