"""Entra ID app credentials of a simulated tenant, the client-credentials token grant, and bearer checks.

A connector authenticates as Graph requires: ``POST {login}/{tenant}/oauth2/v2.0/token`` with
``grant_type=client_credentials``, ``client_id``, ``client_secret`` and
``scope=https://graph.microsoft.com/.default``, then sends ``Authorization: Bearer <access_token>``.
Tenant id, client id and secret derive from the instance name, so tests and the demo can compute
them (the admin API lists them too). Access tokens are JWT-shaped (header.payload.signature) and
signed with a per-process key: the API finds the tenant from the token's ``tid`` claim, as Graph
does, and refuses forged, expired (``token_ttl_seconds`` knob) or revoked ones.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import unquote_plus

import orjson

from avesa_sandbox.microsoft365.builders import tenant_id_for

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
"""Microsoft Graph's own application id (a valid scope prefix too: ``{GRAPH_APP_ID}/.default``)."""
DEFAULT_SCOPE = f"{GRAPH_RESOURCE}/.default"
LOGIN_PATH = "microsoft365/login"
GRAPH_PATH = "microsoft365/graph/v1.0"

APP_ROLES = (
    "User.Read.All",
    "Group.Read.All",
    "Device.Read.All",
    "Directory.Read.All",
    "Organization.Read.All",
    "DeviceManagementManagedDevices.Read.All",
    "AuditLog.Read.All",
)

_SIGNING_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Credentials:
    """What a Graph integration is configured with (an app registration consented in the tenant)."""

    tenant_id: str
    client_id: str
    client_secret: str
    login_url: str
    """Identity platform root (``https://login.microsoftonline.com`` in production)."""
    graph_url: str
    """Graph v1.0 root (``https://graph.microsoft.com/v1.0`` in production)."""
    token_url: str
    scope: str = DEFAULT_SCOPE

    def token_form(self) -> dict[str, str]:
        """The form a client-credentials token request posts."""
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(instance: str, purpose: str) -> bytes:
    return hashlib.sha256(f"avesa-sandbox/microsoft365/{instance}/{purpose}".encode()).digest()


def client_id_for(instance: str) -> str:
    return str(uuid.UUID(bytes=_digest(instance, "client")[:16], version=4))


def client_secret_for(instance: str) -> str:
    """A secret shaped like Entra ID's (``xxx8Q~`` + 34 characters)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~"
    raw = _digest(instance, "secret") + _digest(instance, "secret2")
    body = "".join(alphabet[b % len(alphabet)] for b in raw[:37])
    return f"{body[:3]}8Q~{body[3:37]}"


def credentials_for(instance: str, base_url: str) -> Credentials:
    """Deterministic credentials of an instance served at ``base_url``."""
    tenant = tenant_id_for(instance)
    login = f"{base_url.rstrip('/')}/{LOGIN_PATH}"
    return Credentials(
        tenant_id=tenant,
        client_id=client_id_for(instance),
        client_secret=client_secret_for(instance),
        login_url=login,
        graph_url=f"{base_url.rstrip('/')}/{GRAPH_PATH}",
        token_url=f"{login}/{tenant}/oauth2/v2.0/token",
    )


# -- access tokens ---------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_HEADER = _b64(orjson.dumps({"typ": "JWT", "alg": "HS256", "kid": "avesa-sandbox"}))


def issue_token(tenant_id: str, client_id: str, ttl_seconds: float, now: float | None = None) -> tuple[str, float]:
    """A signed access token for the app in the tenant; returns (token, expiry as epoch seconds)."""
    issued = time.time() if now is None else now
    expires = issued + ttl_seconds
    claims = {
        "aud": GRAPH_RESOURCE,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": int(issued),
        "nbf": int(issued),
        "exp": expires,
        "app_displayname": "AVESA",
        "appid": client_id,
        "idtyp": "app",
        "roles": list(APP_ROLES),
        "tid": tenant_id,
        "uti": _b64(secrets.token_bytes(16)),
        "ver": "1.0",
    }
    payload = _b64(orjson.dumps(claims))
    signature = _b64(hmac.new(_SIGNING_KEY, f"{_HEADER}.{payload}".encode(), hashlib.sha256).digest())
    return f"{_HEADER}.{payload}.{signature}", expires


@functools.lru_cache(maxsize=4096)
def decode_token(token: str) -> dict[str, Any] | None:
    """The claims of a token this sandbox signed, or None if it is malformed or forged (cached: clients
    send the same token for an hour)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(_SIGNING_KEY, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(parts[2]), expected):
            return None
        claims = orjson.loads(_unb64(parts[1]))
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


# -- the token request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRefusal:
    """Why a token request fails: HTTP status, OAuth error, AADSTS code and its text."""

    status: int
    error: str
    code: int
    description: str


def parse_form(body: bytes) -> dict[str, str]:
    """``application/x-www-form-urlencoded`` into a dict (last value wins)."""
    form: dict[str, str] = {}
    for pair in body.decode("utf-8", "replace").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        form[unquote_plus(name)] = unquote_plus(value)
    return form


def basic_client(authorization: str | None) -> tuple[str, str] | None:
    """(client_id, secret) from ``Authorization: Basic`` (client_secret_basic), if present."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, separator, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if separator else None


def check_token_request(
    form: dict[str, str], basic: tuple[str, str] | None, credentials: Credentials, tenant_label: str
) -> TokenRefusal | None:
    """None if the form is a valid client-credentials grant for these credentials, else the refusal."""
    grant = form.get("grant_type")
    if not grant:
        return TokenRefusal(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
        )
    if grant != "client_credentials":
        return TokenRefusal(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
        )
    client_id = form.get("client_id") or (basic[0] if basic else None)
    if not client_id:
        return TokenRefusal(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
        )
    if client_id.lower() != credentials.client_id:
        return TokenRefusal(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant_label}'. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented to by "
            "any user in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    secret = form.get("client_secret") or (basic[1] if basic else None)
    if not secret:
        return TokenRefusal(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if not hmac.compare_digest(secret.encode(), credentials.client_secret.encode()):
        return TokenRefusal(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
            f"not the client secret ID, for a secret added to app '{credentials.client_id}'.",
        )
    scope = form.get("scope")
    if not scope:
        return TokenRefusal(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
        )
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return TokenRefusal(
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value with "
            "/.default suffixed to the resource identifier (application ID URI).",
        )
    resource = scopes[0][: -len("/.default")].rstrip("/")
    if resource.lower() not in (GRAPH_RESOURCE, GRAPH_APP_ID, "https://graph.microsoft.com/"):
        return TokenRefusal(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant named {tenant_label}. This can "
            "happen if the application has not been installed by the administrator of the tenant or consented to by "
            "any user in the tenant. You might have sent your authentication request to the wrong tenant.",
        )
    return None
