"""Authentication parts a service spec names: basic, bearer, API key, OAuth 2 (client credentials or
password grant).

Static schemes become headers. OAuth becomes an ``httpx.Auth`` that fetches a token on first use,
renews it shortly before it expires and, when the service still answers 401 (a token revoked or
expired early — Salesforce's ``INVALID_SESSION_ID``), fetches a new one and replays the request
once. The token request shares the connection pool; its secrets never reach messages: what a
refusal quotes passes the connector's redactor, which learns each token as it is issued.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, Generator

import httpx
import orjson

from avesa.catalog.models import AuthSpec
from avesa.connectors.templates import fill
from avesa.domain.errors import AuthenticationError, TransientError
from avesa.domain.redaction import Redactor

EXPIRY_MARGIN_SECONDS = 60.0
"""Renew a token this long before the service says it expires."""
DEFAULT_TOKEN_SECONDS = 3600.0
"""Lifetime assumed when a token response carries no ``expires_in`` (Salesforce's doesn't)."""


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class OAuth2Auth(httpx.Auth):
    """Tokens from a token endpoint, cached per connector and renewed when needed."""

    requires_response_body = True

    def __init__(self, *, token_url: str, form: dict[str, str], instance_url_field: str | None,
                 base_url: str, where: str, redactor: Redactor | None = None) -> None:
        self._redactor = redactor if redactor is not None else Redactor()
        self._token_url = token_url
        self._form = form
        self._instance_url_field = instance_url_field
        self._base_url = base_url.rstrip("/")
        self._where = where
        self._token: str | None = None
        self._expires_at = 0.0
        self.instance_url: str | None = None
        self.tokens_issued = 0
        self._lock = asyncio.Lock()

    def _valid(self) -> bool:
        return self._token is not None and time.monotonic() < self._expires_at - EXPIRY_MARGIN_SECONDS

    def _token_request(self) -> httpx.Request:
        return httpx.Request("POST", self._token_url, data=self._form, headers={"Accept": "application/json"})

    def _accept(self, response: httpx.Response) -> None:
        if response.status_code in (400, 401, 403):
            reason = self._redactor.quote(_reason(response.content), 200)
            raise AuthenticationError(f"{self._where}: the token endpoint refused the credentials "
                                      f"(HTTP {response.status_code}: {reason}); fix them with `avesa service add`")
        if response.status_code >= 300:
            raise TransientError(f"{self._where}: token endpoint answered HTTP {response.status_code}")
        try:
            body = orjson.loads(response.content)
            token = body["access_token"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise AuthenticationError(f"{self._where}: the token endpoint's answer has no access_token") from None
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        self._redactor.add(str(token))
        self._token = token
        self._expires_at = time.monotonic() + lifetime
        self.tokens_issued += 1
        if self._instance_url_field and body.get(self._instance_url_field):
            self.instance_url = str(body[self._instance_url_field]).rstrip("/")

    def _prepare(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self._token}"
        if self.instance_url and str(request.url).startswith(self._base_url):
            request.url = httpx.URL(self.instance_url + str(request.url)[len(self._base_url):])

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        original_url = request.url
        if not self._valid():
            async with self._lock:
                if not self._valid():
                    issued = yield self._token_request()
                    await issued.aread()  # httpx reads bodies for auth_flow only, not for async_auth_flow
                    self._accept(issued)
        self._prepare(request)
        response = yield request
        if response.status_code == 401:
            async with self._lock:
                self._token = None
                issued = yield self._token_request()
                await issued.aread()
                self._accept(issued)
            request.url = original_url
            self._prepare(request)
            yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("connectors are async")


def _reason(body: bytes) -> str:
    """The error code of a token response (never the request, which holds the secret)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "no JSON body"
    if isinstance(data, dict):
        return str(data.get("error_description") or data.get("error") or "refused")
    return "refused"


def build_auth(spec: AuthSpec, credentials: dict[str, str], *, base_url: str, where: str,
               redactor: Redactor | None = None) -> tuple[dict[str, str], httpx.Auth | None]:
    """Headers for every request, and an httpx.Auth for schemes that need a token (it adds the tokens
    it is issued to ``redactor``)."""

    def f(template: str | None) -> str:
        return fill(template or "", credentials, where=where)

    headers = {name: f(value) for name, value in spec.headers.items()}
    if spec.type == "basic":
        headers["Authorization"] = basic_header(f(spec.username), f(spec.password))
        return headers, None
    if spec.type == "bearer":
        headers["Authorization"] = f"Bearer {f(spec.token)}"
        return headers, None
    if spec.type == "api_key":
        headers[spec.header] = f(spec.value)
        return headers, None
    if spec.type == "none":
        return headers, None
    form = {"client_id": f(spec.client_id), "client_secret": f(spec.client_secret)}
    if spec.type == "oauth2_password":
        form |= {"grant_type": "password", "username": f(spec.username), "password": f(spec.password)}
    else:
        form["grant_type"] = "client_credentials"
    if spec.scope:
        form["scope"] = f(spec.scope)
    auth = OAuth2Auth(token_url=f(spec.token_url), form=form, instance_url_field=spec.instance_url_field,
                      base_url=base_url, where=where, redactor=redactor)
    return headers, auth
