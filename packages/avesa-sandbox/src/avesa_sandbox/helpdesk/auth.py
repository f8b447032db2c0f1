"""The API key of a simulated instance, and the check every request passes.

Acme Helpdesk authenticates with a static API key in the ``X-Api-Key`` header (created by an admin
in the product's settings; it does not expire), or — for tools that only speak Basic auth, such as
a URL ``https://any-name:<key>@site`` — as the password of ``Authorization: Basic`` (any user
name). The sandbox derives the key from the instance name, so tests and the demo can compute it, and
the admin API lists it in the instance's ``credentials``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

HEADER = "X-Api-Key"


@functools.lru_cache(maxsize=1024)
def api_key_for(instance: str) -> str:
    """``hd_live_`` + 40 hex digits, deterministic per instance name."""
    digest = hashlib.sha256(f"avesa-sandbox/helpdesk/{instance}/api-key".encode()).hexdigest()
    return f"hd_live_{digest[:40]}"


def authenticated(instance: str, presented: str | None, authorization: str | None = None) -> bool:
    """Does the presented header value — or the password of a Basic ``authorization`` — match the
    instance's key (compared in constant time)?"""
    if not presented and authorization:
        presented = _basic_password(authorization)
    if not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), api_key_for(instance).encode())


def _basic_password(authorization: str) -> str | None:
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
