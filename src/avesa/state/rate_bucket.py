"""The token bucket behind a rate budget shared by every worker (``take_rate_token`` and
``pause_rate_budget`` of the state store): pure arithmetic on one (tenant, service) budget's
stored state, so that both back ends apply exactly the same rule — SQLite in one transaction,
DynamoDB as a conditional write on the budget item (compare-and-set on its ``version``).

- The bucket holds up to ``burst`` tokens and refills at the rate the taker sends at (its budget's
  current rate: the documented one, or lower once rate headers or 429s taught it so).
- A request takes one token; with none left, the taker is told how long until one is there.
- A pause (a 429's ``Retry-After``, an allowance used up) holds every taker until it ends, and
  empties the bucket: after it, requests resume at the rate, not in a burst.

Times are seconds since the epoch (wall clock: the workers may be on different machines).
"""

from __future__ import annotations

from dataclasses import dataclass

_EPSILON = 1e-6
"""Slack for float arithmetic on epoch seconds: a slot due now is not "a microsecond away"."""


@dataclass(frozen=True)
class BucketState:
    tokens: float
    updated_at: float
    """When `tokens` was last right (the refill counts from here)."""
    paused_until: float = 0.0


def take(state: BucketState | None, requests_per_minute: float, burst: int,
         now: float) -> tuple[BucketState | None, float]:
    """(the state to store, or None to store nothing; seconds to wait, 0.0 when a token was taken)."""
    rate = max(requests_per_minute, 1e-6) / 60.0  # tokens per second
    capacity = max(1, burst)
    if state is None:  # nobody used it yet: full, a first run may burst as the documented limits allow
        state = BucketState(tokens=float(capacity), updated_at=now)
    if now < state.paused_until:
        return None, state.paused_until - now
    tokens = min(float(capacity), state.tokens + max(0.0, now - state.updated_at) * rate)
    if tokens >= 1.0 - _EPSILON:
        return BucketState(max(0.0, tokens - 1.0), max(now, state.updated_at), state.paused_until), 0.0
    return None, (1.0 - tokens) / rate


def pause(state: BucketState | None, until: float) -> BucketState | None:
    """The state once every taker must wait until `until` (None: an equal or later pause holds)."""
    if state is not None and state.paused_until >= until:
        return None
    updated = until if state is None else max(state.updated_at, until)
    return BucketState(tokens=0.0, updated_at=updated, paused_until=until)
