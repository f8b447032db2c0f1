"""Authentication of the simulated ServiceNow instance: Basic, and OAuth 2 bearer tokens.

A connector is configured with the instance URL, an integration user's user name and password, and
(for OAuth) the client id and secret of an OAuth application registry entry. The sandbox derives
them from the instance name (``credentials_for``) so tests and benchmarks can compute them.

- Basic: ``Authorization: Basic base64(user:password)``.
- OAuth: ``POST {instance_url}/oauth_token.do`` (form-encoded) with ``grant_type=password`` +
  client id/secret + user name/password, or ``grant_type=refresh_token`` + client id/secret +
  ``refresh_token``; answered ``{access_token, refresh_token, scope, token_type, expires_in}``.
  Access tokens live ``token_ttl_seconds`` (knob), refresh tokens 100 days. A bad client or user
  is 401 ``{"error_description": "access_denied", "error": "server_error"}``, the platform's
  (unhelpful) answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

INTEGRATION_USER = "avesa.integration"
REFRESH_TTL_SECONDS = 100 * 86400


@dataclass(frozen=True)
class Credentials:
    """What a ServiceNow integration is configured with."""

    instance_url: str
    username: str
    password: str
    client_id: str
    client_secret: str

    def basic_header(self) -> str:
        """The ``Authorization`` header value of Basic auth with these credentials."""
        token = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(instance: str, purpose: str) -> bytes:
    return hashlib.sha256(f"avesa-sandbox/servicenow/{instance}/{purpose}".encode()).digest()


def credentials_for(instance: str, instance_url: str = "") -> Credentials:
    """Deterministic credentials of an instance (``instance_url`` as the server serves it)."""
    return Credentials(
        instance_url=instance_url,
        username=INTEGRATION_USER,
        password=base64.urlsafe_b64encode(_digest(instance, "password")).decode()[:20],
        client_id=_digest(instance, "client-id").hex()[:32],
        client_secret=base64.urlsafe_b64encode(_digest(instance, "client-secret")).decode()[:24],
    )


def check_basic(credentials: Credentials, header_value: str) -> bool:
    """Does a ``Basic`` authorization value carry the integration user's credentials?"""
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, separator, password = decoded.partition(":")
    return bool(separator) and user.lower() == credentials.username.lower() and password == credentials.password


class TokenState(Enum):
    VALID = "valid"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass
class _Token:
    expires: float
    refresh: str


class TokenStore:
    """Issued OAuth tokens of one instance. Thread-safe; expiry on the monotonic clock."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._access: dict[str, _Token] = {}
        self._refresh: dict[str, float] = {}

    def issue(self, ttl: float, refresh_token: str | None = None) -> dict[str, Any]:
        """A new access token (and a new refresh token unless one is being used)."""
        access = secrets.token_urlsafe(64)
        now = self._monotonic()
        with self._lock:
            if refresh_token is None:
                refresh_token = secrets.token_urlsafe(64)
                self._refresh[refresh_token] = now + REFRESH_TTL_SECONDS
            self._access[access] = _Token(now + ttl, refresh_token)
            self._expire(now)
        return {
            "access_token": access,
            "refresh_token": refresh_token,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": math.ceil(ttl),
        }

    def refresh_valid(self, refresh_token: str) -> bool:
        with self._lock:
            expires = self._refresh.get(refresh_token)
            return expires is not None and expires > self._monotonic()

    def state(self, access_token: str) -> TokenState:
        with self._lock:
            token = self._access.get(access_token)
            if token is None:
                return TokenState.UNKNOWN
            return TokenState.VALID if token.expires > self._monotonic() else TokenState.EXPIRED

    def revoke(self, access_token: str) -> None:
        """Make a token invalid now (the ``token-expired`` fault)."""
        with self._lock:
            token = self._access.get(access_token)
            if token is not None:
                token.expires = 0.0

    def _expire(self, now: float) -> None:
        """Forget tokens long past expiry (keeps the maps small on long runs)."""
        if len(self._access) < 1024:
            return
        for token, entry in list(self._access.items()):
            if entry.expires < now - 3600:
                del self._access[token]


class Authorization(Enum):
    """Outcome of checking a request's ``Authorization`` header."""

    BASIC = "basic"
    BEARER = "bearer"
    DENIED = "denied"


def authorize(credentials: Credentials, tokens: TokenStore, header: str | None) -> tuple[Authorization, str | None]:
    """(how the request authenticated, the bearer token if any)."""
    if not header:
        return Authorization.DENIED, None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic" and check_basic(credentials, value):
        return Authorization.BASIC, None
    if scheme == "bearer" and tokens.state(value.strip()) is TokenState.VALID:
        return Authorization.BEARER, value.strip()
    return Authorization.DENIED, None


def token_response(
    credentials: Credentials, tokens: TokenStore, form: dict[str, str], ttl: float
) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of ``POST /oauth_token.do`` for a parsed form."""
    grant = form.get("grant_type", "")
    if grant not in ("password", "refresh_token"):
        return 400, {"error_description": f"Unsupported grant type {grant!r}", "error": "unsupported_grant_type"}
    denied = {"error_description": "access_denied", "error": "server_error"}
    if form.get("client_id") != credentials.client_id or form.get("client_secret") != credentials.client_secret:
        return 401, denied
    if grant == "password":
        user = form.get("username", "")
        if user.lower() != credentials.username.lower() or form.get("password") != credentials.password:
            return 401, denied
        return 200, tokens.issue(ttl)
    refresh_token = form.get("refresh_token", "")
    if not tokens.refresh_valid(refresh_token):
        return 401, denied
    return 200, tokens.issue(ttl, refresh_token)
