"""Request budgets shared by every task that calls the same (tenant, service) instance.

A leaky bucket (aiolimiter) paced at the lowest of three rates:

- the service's documented rate (the spec, or the tenant's override), with its bursts;
- what responses announce (``observe``): when the allowance left would run out before it renews,
  the bucket slows to spread it; when it is used up, everyone waits for the reset;
- what the source's 429s teach (``refused``, rate_control.py): a 429 halves the rate, at most once
  per burst of concurrent 429s, and the rate climbs back slowly; while it does, requests go one at a
  time, evenly spaced, never in bursts. This is what keeps a source that enforces less than its
  documented limit (and says nothing but ``Retry-After``) from answering most requests with 429.

A 429's ``Retry-After`` also pauses *every* caller of that instance, not just the one that was told.
The budget keeps the figures a run reports per (tenant, service): requests, 429s, time waited, the
rate achieved and the lowest rate it went down to.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

from aiolimiter import AsyncLimiter

from avesa.connectors.rate_control import AdaptiveRate
from avesa.connectors.rate_headers import Allowance

RATE_CHANGE_THRESHOLD = 0.1
"""Only rebuild the bucket when the rate changes by more than this fraction."""
RECENT_SECONDS = 60.0
"""The window over which the rate a source allows is measured, for messages."""


class RateBudget:
    def __init__(self, requests_per_minute: float, burst: int) -> None:
        self.documented_per_minute = requests_per_minute
        self.burst = burst
        self._announced = requests_per_minute  # what the last response's rate headers allow
        self._learnt = AdaptiveRate(ceiling=requests_per_minute)
        self.requests_per_minute = requests_per_minute
        self.lowest_per_minute = requests_per_minute
        self._bucket_burst = self._burst_for(requests_per_minute)
        self._limiter = self._bucket(requests_per_minute, self._bucket_burst)
        self._limiter_fresh = False  # the first bucket may burst; one built to change the rate may not
        self._resume_at = 0.0
        self.waited_seconds = 0.0
        """Summed over requests: how long they queued for this budget (its pace and its pauses)."""
        self.paused_seconds = 0.0
        """Wall-clock time every caller was held by ``Retry-After`` or a used-up allowance."""
        self.pauses = 0
        self.adjustments = 0
        self.requests = 0
        self.rate_limited = 0
        self.decreases = 0
        self._first_sent: float | None = None
        self._last_answer = 0.0
        self._answered: deque[tuple[float, bool]] = deque()  # (when, refused) over the last RECENT_SECONDS
        self.turn = asyncio.Lock()
        """Held by the one task of this process asking a shared budget for a slot (shared_budget.py):
        the others queue here, not at the state store."""

    def _burst_for(self, per_minute: float) -> int:
        if self._learnt.learning:
            return 1  # the source refused a burst: send one request at a time until the rate is back
        return max(1, min(self.burst, int(per_minute) or 1))

    @staticmethod
    def _bucket(per_minute: float, burst: int) -> AsyncLimiter:
        # at most `burst` requests in any `burst / rate` seconds window -> `rate` on average.
        return AsyncLimiter(burst, burst * 60.0 / per_minute)

    def _refresh(self, now: float) -> None:
        """Pace the bucket at the lowest of the rates, rebuilding it only for a real change."""
        wanted = min(self._announced, self._learnt.rate(now))
        burst = self._burst_for(wanted)
        if burst != self._bucket_burst or \
                abs(wanted - self.requests_per_minute) > RATE_CHANGE_THRESHOLD * self.requests_per_minute:
            self.requests_per_minute = wanted
            self._bucket_burst = burst
            self._limiter = self._bucket(wanted, burst)
            self._limiter_fresh = True
            self.adjustments += 1
            self.lowest_per_minute = min(self.lowest_per_minute, wanted)

    def observe(self, allowance: Allowance | None) -> None:
        """Follow the allowance a response announced (never faster than the documented rate)."""
        if allowance is None:
            return
        if allowance.remaining <= 0:
            self.pause_for(allowance.resets_in)
            return
        window_minutes = max(allowance.resets_in, 1.0) / 60.0
        self._announced = min(self.documented_per_minute, allowance.remaining / window_minutes)
        self._refresh(time.monotonic())

    def pause_for(self, seconds: float) -> None:
        """Everyone using this budget waits until `seconds` from now (as a Retry-After said)."""
        now = time.monotonic()
        resume = now + max(0.0, seconds)
        if resume > self._resume_at:
            self.paused_seconds += resume - max(self._resume_at, now)
            self._resume_at = resume
            self.pauses += 1

    async def wait_for_pause(self) -> None:
        """Return once no pause (Retry-After, a used-up allowance) holds this budget."""
        while (delay := self._resume_at - time.monotonic()) > 0:
            await asyncio.sleep(delay)

    def pace(self) -> tuple[float, int]:
        """(requests per minute, burst) to send at now: the lowest of the rates, and the burst the
        bucket allows at it (1 while the rate climbs back after a 429)."""
        self._refresh(time.monotonic())
        return self.requests_per_minute, self._bucket_burst

    def sent(self, started: float) -> None:
        """A request queued from `started` (monotonic) goes out now: count the wait."""
        now = time.monotonic()
        self.waited_seconds += now - started
        if self._first_sent is None:
            self._first_sent = now

    async def acquire(self) -> None:
        """Wait for this budget's next request slot (pauses first, then the bucket's pace)."""
        started = time.monotonic()
        while True:
            await self.wait_for_pause()
            self._refresh(time.monotonic())
            limiter = self._limiter
            if self._limiter_fresh:
                # A new bucket starts empty, which would let a whole burst out at once: fill it (this
                # returns at once), so the next request goes one interval at the new pace after the
                # last, and a burst is only ever earned by sending below the rate.
                self._limiter_fresh = False
                await limiter.acquire(limiter.max_rate)
            await limiter.acquire()
            # A pause that began, or a slower bucket built, while this task queued for the old one
            # holds for it too: queue again rather than go out at the old pace.
            if limiter is self._limiter and self._resume_at <= time.monotonic():
                break
        self.sent(started)

    def answered(self) -> None:
        """A request got an answer other than a rate limit."""
        self._count(refused=False)

    def refused(self, sent_at: float, retry_after: float | None) -> bool:
        """A request sent at `sent_at` (monotonic) was rate limited: pause everyone for `retry_after`
        and lower the rate, unless that request went out before the last decrease (one burst of
        concurrent 429s lowers it once). True if the rate was lowered."""
        now = self._count(refused=True)
        self.rate_limited += 1
        if retry_after is not None:
            self.pause_for(retry_after)
        if not self._learnt.refused(now, sent_at, sending_at=self.requests_per_minute):
            return False
        self.decreases += 1
        self._refresh(now)
        return True

    def _count(self, *, refused: bool) -> float:
        now = time.monotonic()
        self.requests += 1
        self._last_answer = now
        self._answered.append((now, refused))
        while self._answered and self._answered[0][0] < now - RECENT_SECONDS:
            self._answered.popleft()
        return now

    def recently_allowed(self) -> tuple[int, int, float]:
        """(requests answered, of which refused, over how many seconds) in the last RECENT_SECONDS:
        what a message says of the limit the source seems to enforce."""
        now = time.monotonic()
        recent = [refused for when, refused in self._answered if when >= now - RECENT_SECONDS]
        start = self._first_sent if self._first_sent is not None else now
        span = min(RECENT_SECONDS, max(now - start, 1.0))
        return len(recent), sum(recent), span

    def figures(self) -> dict[str, Any]:
        """What a run reports for this budget: requests, 429s, time waited, rates."""
        span = (self._last_answer - self._first_sent) if self._first_sent is not None else 0.0
        succeeded = self.requests - self.rate_limited
        return {
            "requests": self.requests,
            "http_429": self.rate_limited,
            "rate_lowered": self.decreases,
            "waited_seconds": round(self.waited_seconds, 3),
            "paused_seconds": round(self.paused_seconds, 3),
            # over a second at least: a handful of requests in a few milliseconds is no rate
            "achieved_per_minute": round(succeeded * 60.0 / max(span, 1.0), 1) if self.requests else None,
            "documented_per_minute": self.documented_per_minute,
            "lowest_per_minute": round(self.lowest_per_minute, 1),
            "final_per_minute": round(self.requests_per_minute, 1),
        }


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

    def items(self) -> Iterator[tuple[tuple[str, str], RateBudget]]:
        """Every (tenant, service) budget made so far."""
        return iter(list(self._budgets.items()))
