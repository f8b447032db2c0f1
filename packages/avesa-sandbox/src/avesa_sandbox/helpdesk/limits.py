"""``X-RateLimit-*`` headers from the instance's token bucket.

The instance's knobs set the limit (``rate_limit_per_minute`` sustained, ``rate_limit_burst`` at
once). The headers describe the account's allowance as a client can act on it:

- ``X-RateLimit-Limit``: requests per minute;
- ``X-RateLimit-Remaining``: requests that may be sent right now (whole tokens left, at most the burst);
- ``X-RateLimit-Reset``: Unix epoch seconds when the allowance is whole again (the bucket is full).

With the limit off (knob null) the API is unlimited and sends none of them.
"""

from __future__ import annotations

import math
import time

from avesa_sandbox.ratelimit import TokenBucket


def rate_limit_headers(bucket: TokenBucket, throttled: bool = False) -> dict[str, str]:
    """The headers for a response, after the request took (or was refused) its token."""
    per_minute = bucket.per_minute
    if per_minute is None:
        return {}
    usage = bucket.usage() or 0.0
    tokens = bucket.burst * (1.0 - usage)
    refill_seconds = (bucket.burst - tokens) / (per_minute / 60.0)
    return {
        "X-RateLimit-Limit": f"{per_minute:g}",
        "X-RateLimit-Remaining": "0" if throttled else str(max(0, math.floor(tokens + 1e-9))),
        "X-RateLimit-Reset": str(math.ceil(time.time() + refill_seconds)),
    }
