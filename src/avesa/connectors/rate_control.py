"""The request rate a source seems to allow, learnt from its 429s.

A spec documents a service's limits, but an instance may enforce less (a smaller plan, other
integrations sharing the allowance) and ConnectWise announces nothing but ``Retry-After``. So the
rate is learnt the way TCP learns a path's capacity (additive increase, multiplicative decrease):

- a 429 halves the rate — once per burst: a 429 for a request sent before the last decrease was
  sent at the old rate and says nothing about the new one, so the many 429s of one burst of
  concurrent requests lower it once;
- the rate then climbs back linearly to the rate that drew the 429, over ``RECOVERY_SECONDS``, slow
  enough that a source limited near that rate sees a 429 about once per ``RECOVERY_SECONDS``;
- past it without a new 429, the limit has evidently moved (the other integration finished, the plan
  changed): the climb speeds up, cubically, as in CUBIC (RFC 9438), so the documented rate is back
  within about a minute from a fifth of it, instead of the many minutes a straight line would take.

Time is passed in (``now``, monotonic seconds), so the policy is a pure function of its events.
"""

from __future__ import annotations

from dataclasses import dataclass

DECREASE = 0.5
"""A 429 multiplies the rate by this."""
RECOVERY_SECONDS = 30.0
"""Time to climb back to the rate that drew the last 429 (and the pace of the climb past it)."""
MIN_PER_MINUTE = 1.0
"""Never slower than this: a source that refuses everything is found out by the wait bound, not by
a rate that rounds down to nothing."""


@dataclass
class AdaptiveRate:
    """Requests per minute to send at, at most ``ceiling`` (the documented rate)."""

    ceiling: float
    floor: float = MIN_PER_MINUTE
    drew_429: float | None = None
    """The rate when the last decrease happened; None while the source never refused (or the rate
    has climbed all the way back to the ceiling since)."""
    lowered_at: float = 0.0
    """When (monotonic seconds) the rate was last lowered."""

    def __post_init__(self) -> None:
        self.floor = min(self.floor, self.ceiling)

    @property
    def learning(self) -> bool:
        """True from a 429 until the rate is back at the ceiling."""
        return self.drew_429 is not None

    def rate(self, now: float) -> float:
        """The rate to send at `now`; back at the ceiling, the last 429 is forgotten."""
        if self.drew_429 is None:
            return self.ceiling
        since = max(0.0, now - self.lowered_at)
        if since <= RECOVERY_SECONDS:
            factor = DECREASE + (1.0 - DECREASE) * since / RECOVERY_SECONDS
        else:
            factor = 1.0 + ((since - RECOVERY_SECONDS) / RECOVERY_SECONDS) ** 3
        rate = self.drew_429 * factor
        if rate >= self.ceiling:
            self.drew_429 = None
            return self.ceiling
        return max(self.floor, rate)

    def refused(self, now: float, sent_at: float, sending_at: float | None = None) -> bool:
        """A request sent at `sent_at` was answered 429 at `now`: lower the rate unless that request
        went out before the last decrease. `sending_at` is the rate actually in force, when something
        else (the allowance a response announced) holds it below this policy's. True if lowered."""
        if self.drew_429 is not None and sent_at < self.lowered_at:
            return False
        current = self.rate(now)
        if sending_at is not None:
            current = min(current, sending_at)
        self.drew_429 = max(self.floor, current)
        self.lowered_at = now
        return True
