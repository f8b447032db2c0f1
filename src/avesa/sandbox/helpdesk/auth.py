"""The API key of a simulated instance, and the check every request passes.

Acme Helpdesk authenticates with a static API key in the ``X-Api-Key`` header (created by an admin
in the product's settings; it does not expire). The sandbox derives it from the instance name, so
tests and the demo can compute it, and the admin API lists it in the instance's ``credentials``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac

HEADER = "X-Api-Key"


@functools.lru_cache(maxsize=1024)
def api_key_for(instance: str) -> str:
    """``hd_live_`` + 40 hex digits, deterministic per instance name."""
    digest = hashlib.sha256(f"avesa-sandbox/helpdesk/{instance}/api-key".encode()).hexdigest()
    return f"hd_live_{digest[:40]}"


def authenticated(instance: str, presented: str | None) -> bool:
    """Does the presented header value match the instance's key (compared in constant time)?"""
    if not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), api_key_for(instance).encode())
