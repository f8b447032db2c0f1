"""Per-instance behaviour knobs: latency, random faults and the request-rate limit.

Knobs are plain data, settable when an instance is created and changed at run time through the
admin API (``Knobs.update`` validates a partial change so a typo fails loudly instead of being
ignored). The defaults model a healthy, fast, generously rate-limited instance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class Knobs:
    """Behaviour of one simulated instance. Rates are probabilities in [0, 1] per API request."""

    latency_ms: float = 0.0
    """Time from a request's arrival to its response, the work of answering included (sandbox/latency.py)."""
    jitter_ms: float = 0.0
    """Extra uniform random delay in [0, jitter_ms] on top of ``latency_ms``."""
    latency_per_record_ms: float = 0.0
    """Extra time per record in a list response: real pages of 1000 records take longer than 10."""
    error_rate: float = 0.0
    """Probability of a 500/502/503 response (the code is chosen uniformly)."""
    reset_rate: float = 0.0
    """Probability of closing the connection without any response (TCP reset)."""
    malformed_rate: float = 0.0
    """Probability of a 200 response whose body is not valid JSON."""
    truncated_rate: float = 0.0
    """Probability of a 200 response whose body stops half-way (connection closed early)."""
    rate_limit_per_minute: float | None = 1200.0
    """Sustained request rate of the token bucket; None disables throttling."""
    rate_limit_burst: int = 200
    """Token bucket capacity: requests that may arrive at once before throttling starts."""
    token_ttl_seconds: float = 3600.0
    """Lifetime of OAuth access tokens (Salesforce, Graph, ServiceNow OAuth): short values make
    tokens expire mid-run, so clients must refresh them."""
    empty_page_rate: float = 0.0
    """Probability that a page which has a next link comes back empty (Graph does this; clients must
    follow the link anyway). Services whose API never does it ignore the knob."""
    daily_request_limit: int | None = None
    """API requests an instance serves per day before answering that the daily allocation is used up
    (Salesforce: 403 ``REQUEST_LIMIT_EXCEEDED``); None: the service's own default (Salesforce 100,000).
    Services without a daily allocation ignore the knob."""

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial change; unknown names or out-of-range values raise ValueError."""
        known = {f.name: f for f in fields(self)}
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise ValueError(f"unknown knob(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        candidate = Knobs(**{**asdict(self), **changes})
        candidate.validate()
        for name in changes:
            setattr(self, name, getattr(candidate, name))

    def validate(self) -> None:
        """Raise ValueError if any knob is out of range or of the wrong type."""
        for name in ("latency_ms", "jitter_ms", "latency_per_record_ms"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        ttl = self.token_ttl_seconds
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or ttl <= 0:
            raise ValueError(f"token_ttl_seconds must be a number > 0, got {ttl!r}")
        for name in ("error_rate", "reset_rate", "malformed_rate", "truncated_rate", "empty_page_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
        rate = self.rate_limit_per_minute
        if rate is not None and (not isinstance(rate, int | float) or isinstance(rate, bool) or rate <= 0):
            raise ValueError(f"rate_limit_per_minute must be > 0 or null, got {rate!r}")
        daily = self.daily_request_limit
        if daily is not None and (not isinstance(daily, int) or isinstance(daily, bool) or daily < 1):
            raise ValueError(f"daily_request_limit must be an integer >= 1 or null, got {daily!r}")
        burst = self.rate_limit_burst
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise ValueError(f"rate_limit_burst must be an integer >= 1, got {burst!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (admin API responses)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Knobs:
        """Build from a partial dict on top of the defaults (validated)."""
        knobs = cls()
        if data:
            knobs.update(dict(data))
        return knobs
