"""ConnectWise API credentials of a simulated instance, and the check every request passes.

Real ConnectWise authenticates with ``Authorization: Basic base64("{companyId}+{publicKey}:
{privateKey}")`` plus a ``clientId`` header (a GUID). The sandbox derives all four values from
the instance name so that tests, the demo and benchmarks can compute them without asking, and
the admin API lists them too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Credentials:
    """What a ConnectWise integration is configured with."""

    company_id: str
    public_key: str
    private_key: str
    client_id: str

    def authorization_header(self) -> str:
        """The ``Authorization`` header value these credentials produce."""
        token = f"{self.company_id}+{self.public_key}:{self.private_key}".encode()
        return "Basic " + base64.b64encode(token).decode("ascii")

    def headers(self) -> dict[str, str]:
        """Both headers a request needs."""
        return {"Authorization": self.authorization_header(), "clientId": self.client_id}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digest(instance: str, purpose: str) -> bytes:
    return hashlib.sha256(f"avesa-sandbox/connectwise/{instance}/{purpose}".encode()).digest()


def credentials_for(instance: str) -> Credentials:
    """Deterministic credentials: company id = instance name, 16-character keys, a v4-style GUID."""
    return Credentials(
        company_id=instance,
        public_key=_digest(instance, "public").hex()[:16],
        private_key=_digest(instance, "private").hex()[:16],
        client_id=str(uuid.UUID(bytes=_digest(instance, "client")[:16], version=4)),
    )


def check(credentials: Credentials, authorization: str | None, client_id: str | None) -> str | None:
    """None if the headers authenticate, else the reason (for the 401 message)."""
    if not client_id:
        return "The clientId header is required. See https://developer.connectwise.com/ClientID"
    if client_id.strip().lower() != credentials.client_id.lower():
        return "The clientId is not valid"
    if not authorization:
        return "No Authorization header was provided"
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        return "Authorization must use the Basic scheme"
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return "Authorization header is not valid base64"
    user, separator, private_key = decoded.partition(":")
    company_id, plus, public_key = user.partition("+")
    if not separator or not plus:
        return "Authorization must be companyId+publicKey:privateKey"
    if company_id.lower() != credentials.company_id.lower():
        return "Company not found or credentials are invalid"
    if public_key != credentials.public_key or private_key != credentials.private_key:
        return "Public or private key is invalid"
    return None
