"""Fixtures: one sandbox server over real HTTP on loopback for the whole sandbox suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from avesa_sandbox import InstanceSpec, Knobs, SandboxAdmin, SandboxServer
from avesa_sandbox.connectwise.auth import credentials_for

from .support import links, new_instance

API_PATH = "v4_6_release/apis/3.0"
READ_ONLY = "acme"
"""Instance no test changes: tests that change data make their own."""


class CwClient:
    """A minimal ConnectWise API client for tests: base URL + auth headers."""

    def __init__(self, base_url: str, instance: str) -> None:
        self.api = f"{base_url}/connectwise/{instance}/{API_PATH}"
        self.headers = credentials_for(instance).headers()
        self.http = httpx.Client(timeout=30)

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.api}/{path}", params=params, headers={**self.headers, **(headers or {})})

    def get_url(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(url, headers={**self.headers, **(headers or {})})

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """Every record (pageSize 1000, walking rel=next)."""
        records: list[dict[str, Any]] = []
        response = self.get(path, pageSize=1000, **params)
        while True:
            assert response.status_code == 200, response.text
            records += response.json()
            next_url = links(response).get("next")
            if not next_url:
                return records
            response = self.get_url(next_url)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxServer]:
    spec = InstanceSpec(READ_ONLY, scale="tiny", seed=1, knobs=Knobs(rate_limit_per_minute=None))
    with SandboxServer([spec]) as server:
        yield server


@pytest.fixture(scope="session")
def admin(sandbox: SandboxServer) -> Iterator[SandboxAdmin]:
    with sandbox.admin() as client:
        yield client


@pytest.fixture(scope="session")
def cw(sandbox: SandboxServer) -> Iterator[CwClient]:
    client = CwClient(sandbox.base_url, READ_ONLY)
    yield client
    client.close()


@pytest.fixture
def fresh(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[tuple[str, CwClient]]:
    """A new tiny instance (no rate limit) that the test may change; removed afterwards."""
    name = new_instance(admin, "connectwise", "t", seed=5)
    client = CwClient(sandbox.base_url, name)
    yield name, client
    client.close()
    admin.delete_instance(name)
