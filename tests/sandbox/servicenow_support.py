"""Fixtures and a small Table API client for the ServiceNow sandbox tests (imported by test modules)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from avesa.sandbox import SandboxAdmin, SandboxServer

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


def links(response: httpx.Response) -> dict[str, str]:
    """rel -> URL from a ServiceNow ``Link`` header (``<url>;rel="next",...``)."""
    return {rel: url for url, rel in re.findall(r'<([^>]+)>;rel="(\w+)"', response.headers.get("link", ""))}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session", name="sn")
def sn_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[SnClient]:
    """The read-only tiny ServiceNow instance (no rate limit), shared by every module that imports this."""
    if SN_READ_ONLY not in admin.health()["instances"]:
        admin.create_instance(
            SN_READ_ONLY, service="servicenow", scale="tiny", seed=1, knobs={"rate_limit_per_minute": None}
        )
    client = SnClient(admin, SN_READ_ONLY)
    yield client
    client.close()


_counter = itertools.count(1)


@pytest.fixture(name="sn_fresh")
def fresh_sn_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[SnClient]:
    """A new tiny ServiceNow instance (no rate limit) the test may change; removed afterwards."""
    name = f"sn-t{next(_counter)}"
    admin.create_instance(name, service="servicenow", scale="tiny", seed=5, knobs={"rate_limit_per_minute": None})
    client = SnClient(admin, name)
    yield client
    client.close()
    admin.delete_instance(name)
