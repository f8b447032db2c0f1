"""Opaque paging and sync-state tokens (``$skiptoken``, ``$deltatoken``).

Graph's state tokens are opaque to clients and carry the whole query state ("Microsoft Graph
automatically encodes any specified parameters into the token"). Here a token is a compact JSON
payload, base64url-encoded and signed (HMAC, per-process key), so a client cannot forge or edit one
and a stale or foreign one is recognised: a token names the instance's data generation, which
changes when the instance is reset, as a tenant migration invalidates real tokens.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any

import orjson

_KEY = secrets.token_bytes(32)
_MAC_BYTES = 12


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def encode(payload: dict[str, Any]) -> str:
    """Sign and encode a token payload."""
    body = orjson.dumps(payload)
    mac = hmac.new(_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return _b64(mac + body)


def decode(token: str) -> dict[str, Any] | None:
    """The payload of a token this process issued, or None (malformed, edited or foreign)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    mac, body = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(
        mac, hmac.new(_KEY, body, hashlib.sha256).digest()[:_MAC_BYTES]
    ):
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return payload if isinstance(payload, dict) else None
