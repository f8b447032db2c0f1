"""Fixtures and a small Table API client for the ServiceNow sandbox tests (imported by test modules)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer

from .support import fresh_client, links, shared_client

SN_READ_ONLY = "sn-acme"
"""ServiceNow instance no test changes."""


class SnClient:
    """A minimal ServiceNow client for tests: instance URL + Basic auth (or a bearer token)."""

    def __init__(self, admin: SandboxAdmin, name: str) -> None:
        self.name = name
        self.creds: dict[str, str] = admin.credentials(name)
        self.url = self.creds["instance_url"]
        self.auth = (self.creds["username"], self.creds["password"])
        self.http = httpx.Client(timeout=30)

    def get(
        self, table: str, *, auth: Any = None, headers: dict[str, str] | None = None, **params: Any
    ) -> httpx.Response:
        return self.http.get(
            f"{self.url}/api/now/table/{table}", params=params, auth=auth or self.auth, headers=headers or {}
        )

    def get_url(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(url, auth=kwargs.pop("auth", self.auth), **kwargs)

    def all(self, table: str, limit: int = 10000, **params: Any) -> list[dict[str, Any]]:
        """Every record (offset paging, following rel=next)."""
        records: list[dict[str, Any]] = []
        response = self.get(table, sysparm_limit=limit, **params)
        while True:
            assert response.status_code == 200, response.text
            records += response.json()["result"]
            next_url = links(response).get("next")
            if not next_url:
                return records
            response = self.get_url(next_url)

    def token(self, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "password",
            "client_id": self.creds["client_id"],
            "client_secret": self.creds["client_secret"],
            "username": self.creds["username"],
            "password": self.creds["password"],
        } | overrides
        return self.http.post(f"{self.url}/oauth_token.do", data=form)

    def close(self) -> None:
        self.http.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session", name="sn")
def sn_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[SnClient]:
    """The read-only tiny ServiceNow instance (no rate limit), shared by every module that imports this."""
    with shared_client(admin, SnClient, "servicenow", SN_READ_ONLY) as client:
        yield client


@pytest.fixture(name="sn_fresh")
def fresh_sn_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[SnClient]:
    """A new tiny ServiceNow instance (no rate limit) the test may change; removed afterwards."""
    with fresh_client(admin, SnClient, "servicenow", "sn-t", seed=5) as client:
        yield client
