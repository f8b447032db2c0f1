"""Read what a response says about the rest of the request budget.

Services announce their remaining allowance in headers: ``X-RateLimit-Remaining`` with
``X-RateLimit-Reset`` (ServiceNow and most REST APIs), or Salesforce's
``Sforce-Limit-Info: api-usage=used/limit`` for a rolling 24-hour allocation. Slowing down to what
is left is cheaper than running into 429s (or, for Salesforce, a day without API calls).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Protocol

_SFORCE_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_EPOCH_THRESHOLD = 1_000_000_000
"""A reset value above this is a Unix time, not seconds from now."""
SALESFORCE_WINDOW_SECONDS = 24 * 3600.0


class Headers(Protocol):
    def get(self, key: str, default: None = None) -> str | None: ...


@dataclass(frozen=True)
class Allowance:
    """Requests still allowed, and in how many seconds the allowance renews."""

    remaining: int
    resets_in: float


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def allowance_from(headers: Headers, now: float | None = None) -> Allowance | None:
    """The allowance a response announces, or None when it announces none."""
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    reset = _number(headers.get("X-RateLimit-Reset"))
    if remaining is not None and reset is not None:
        now = time.time() if now is None else now
        resets_in = reset - now if reset > _EPOCH_THRESHOLD else reset
        return Allowance(int(remaining), max(0.0, resets_in))
    usage = headers.get("Sforce-Limit-Info")
    if usage:
        match = _SFORCE_USAGE.search(usage)
        if match:
            used, limit = int(match.group(1)), int(match.group(2))
            return Allowance(max(0, limit - used), SALESFORCE_WINDOW_SECONDS)
    return None
