"""A minimal Salesforce REST client for the sandbox tests: token, SOQL queries, paging, replication."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import httpx

from avesa_sandbox import SandboxAdmin

from . import support

VERSION = "59.0"


def new_org(admin: SandboxAdmin, prefix: str = "sf", seed: int = 4, **spec: Any) -> str:
    """Create a Salesforce instance (tiny, no rate limit unless given) and return its name."""
    return support.new_instance(admin, "salesforce", prefix, seed, **spec)


def fresh_org(admin: SandboxAdmin, prefix: str, seed: int = 4, **spec: Any) -> AbstractContextManager[SfClient]:
    """A logged-in client of a new org, deleted afterwards (``with`` it in a fixture)."""
    return support.fresh_client(admin, SfClient, "salesforce", prefix, seed, **spec)


class SfClient:
    """Logs in with the instance's credentials and calls the REST API with the token."""

    def __init__(self, admin: SandboxAdmin, instance: str) -> None:
        self.instance = instance
        self.credentials: dict[str, str] = admin.instance(instance)["credentials"]
        self.http = httpx.Client(timeout=30)
        self.instance_url = ""
        self.token = self.login()

    def token_response(self, **overrides: str | None) -> httpx.Response:
        form: dict[str, str | None] = {
            "grant_type": "client_credentials",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
        }
        form.update(overrides)
        data = {k: v for k, v in form.items() if v is not None}
        return self.http.post(f"{self.credentials['login_url']}/services/oauth2/token", data=data)

    def login(self) -> str:
        response = self.token_response()
        assert response.status_code == 200, response.text
        self.instance_url = response.json()["instance_url"]
        self.token = str(response.json()["access_token"])
        return self.token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        """GET ``{instance_url}/services/data/v59.0/{path}`` (or an absolute ``/services/...`` path)."""
        url = (
            f"{self.instance_url}{path}"
            if path.startswith("/")
            else f"{self.instance_url}/services/data/v{VERSION}/{path}"
        )
        return self.http.get(url, params=params, headers=self.headers(headers))

    def query(self, soql: str, all_rows: bool = False, batch_size: int | None = None) -> httpx.Response:
        extra = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
        return self.get("queryAll" if all_rows else "query", headers=extra, q=soql)

    def records(self, soql: str, all_rows: bool = False, batch_size: int | None = None) -> list[dict[str, Any]]:
        """Every record of a query, following ``nextRecordsUrl`` to the end."""
        response = self.query(soql, all_rows, batch_size)
        out: list[dict[str, Any]] = []
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            out += body["records"]
            if body["done"]:
                assert "nextRecordsUrl" not in body
                return out
            response = self.get(body["nextRecordsUrl"])

    def close(self) -> None:
        self.http.close()


def error_code(response: httpx.Response) -> str:
    """The ``errorCode`` of a Salesforce error body (a one-element list)."""
    body = response.json()
    assert isinstance(body, list) and len(body) == 1, body
    return str(body[0]["errorCode"])
