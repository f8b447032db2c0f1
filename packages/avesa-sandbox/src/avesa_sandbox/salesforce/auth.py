"""OAuth 2 client credentials for a simulated org: the connected app's keys and the access tokens issued.

A connector is configured with the login URL, the connected app's consumer key (``client_id``)
and secret; it posts them to ``{login}/services/oauth2/token`` with
``grant_type=client_credentials`` and gets an access token plus the ``instance_url`` to call.
Keys are derived from the instance name, so tests, the demo and benchmarks can compute them (the
admin API lists them too). Tokens live for the ``token_ttl_seconds`` knob; an expired, revoked
or unknown token is answered ``401 INVALID_SESSION_ID`` like Salesforce answers an expired
session, and the client must fetch a new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from avesa_sandbox.salesforce import ids

_KEY_ALPHABET = ids.DIGITS + "._"


@dataclass(frozen=True)
class Credentials:
    """What a Salesforce integration is configured with (besides the login URL)."""

    client_id: str
    client_secret: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(instance: str, purpose: str) -> bytes:
    return hashlib.sha256(f"avesa-sandbox/salesforce/{instance}/{purpose}".encode()).digest()


def credentials_for(instance: str) -> Credentials:
    """Deterministic keys shaped like Salesforce's: an 85-character ``3MVG9...`` consumer key, a 64-hex secret."""
    seed = _digest(instance, "client") + _digest(instance, "client2") + _digest(instance, "client3")
    key = "3MVG9" + "".join(_KEY_ALPHABET[b % len(_KEY_ALPHABET)] for b in seed[:80])
    secret = (_digest(instance, "secret")).hex().upper()
    return Credentials(client_id=key, client_secret=secret)


def org_id(instance: str) -> str:
    """The org's 18-character id (``00D`` prefix), derived from the instance name."""
    return ids.encode("00D", int.from_bytes(_digest(instance, "org")[:4], "big") % 10**9)


def signature(client_secret: str, identity_url: str, issued_at: str) -> str:
    """The token response's ``signature``: base64 HMAC-SHA256 of ``id + issued_at`` keyed by the secret."""
    mac = hmac.new(client_secret.encode(), (identity_url + issued_at).encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class TokenStore:
    """Access tokens of one org: issued with a lifetime, checked on every request, revocable."""

    def __init__(self, instance: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.instance = instance
        self._monotonic = monotonic
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, ttl_seconds: float) -> str:
        """A new token valid for ``ttl_seconds``: ``{org id}!{opaque}`` like Salesforce's session ids."""
        token = f"{org_id(self.instance)[:15]}!AQ{secrets.token_urlsafe(72)}"
        now = self._monotonic()
        with self._lock:
            self._expiry = {t: e for t, e in self._expiry.items() if e > now}
            self._expiry[token] = now + ttl_seconds
        return token

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._expiry.get(token)
        return expiry is not None and expiry > self._monotonic()

    def revoke(self, token: str) -> None:
        with self._lock:
            self._expiry.pop(token, None)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer ...`` (or Salesforce's older ``OAuth ...``) header."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token.strip():
        return None
    return token.strip()
