"""Fixtures and a small API client for the Acme Helpdesk sandbox tests (imported by test modules)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.helpdesk.schema import record_schema

from .support import fresh_client, shared_client

HD_READ_ONLY = "hd-acme"
"""Helpdesk instance no test changes."""
TABLES = ("companies", "contacts", "tickets", "time_entries")


class HdClient:
    """A minimal Acme Helpdesk client for tests: the API root + the API key header."""

    def __init__(self, admin: SandboxAdmin, name: str) -> None:
        self.name = name
        self.creds: dict[str, str] = admin.credentials(name)
        self.root = self.creds["api_url"]
        self.headers = {"X-Api-Key": self.creds["api_key"]}
        self.http = httpx.Client(timeout=30)

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        """``GET {root}/api/v2/{path}`` with the key (``headers`` replace it when given)."""
        return self.http.get(
            f"{self.root}/api/v2/{path}", params=params, headers=self.headers if headers is None else headers
        )

    def ok(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def all(self, table: str, limit: int = 500, **params: Any) -> list[dict[str, Any]]:
        """Every matching record, keyset-paged by ``after_id`` until ``has_more`` is false."""
        records: list[dict[str, Any]] = []
        after: int | None = None
        while True:
            extra = {} if after is None else {"after_id": after}
            body = self.ok(table, limit=limit, **params, **extra)
            records += body["data"]
            if not body["has_more"]:
                return records
            after = body["data"][-1]["id"]

    def close(self) -> None:
        self.http.close()


@functools.cache
def validator(table: str) -> Draft202012Validator:
    """A JSON-schema validator of one table's records (format assertions included)."""
    return Draft202012Validator(record_schema(table), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_errors(table: str, record: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(table).iter_errors(record)]


@pytest.fixture(scope="session", name="hd")
def hd_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[HdClient]:
    """The read-only tiny helpdesk instance (no rate limit), shared by every module that imports this."""
    with shared_client(admin, HdClient, "helpdesk", HD_READ_ONLY) as client:
        yield client


@pytest.fixture(name="hd_fresh")
def fresh_hd_instance(sandbox: SandboxServer, admin: SandboxAdmin) -> Iterator[HdClient]:
    """A new tiny helpdesk instance (no rate limit) the test may change; removed afterwards."""
    with fresh_client(admin, HdClient, "helpdesk", "hd-t", seed=5) as client:
        yield client
