"""A minimal Graph client for the Microsoft 365 sandbox tests: token, requests, paging, delta rounds."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import httpx

from avesa_sandbox import SandboxAdmin

from . import support


def new_instance(admin: SandboxAdmin, prefix: str = "m", seed: int = 3, **spec: Any) -> str:
    """Create a Microsoft 365 instance (tiny, no rate limit unless given) and return its name."""
    return support.new_instance(admin, "microsoft365", prefix, seed, **spec)


def fresh_tenant(admin: SandboxAdmin, prefix: str, seed: int = 3, **spec: Any) -> AbstractContextManager[GraphClient]:
    """A Graph client of a new instance, deleted afterwards (``with`` it in a fixture)."""
    return support.fresh_client(admin, GraphClient, "microsoft365", prefix, seed, **spec)


class GraphClient:
    """Gets a token with the instance's credentials and calls Graph with it."""

    def __init__(self, admin: SandboxAdmin, instance: str) -> None:
        self.instance = instance
        self.credentials: dict[str, str] = admin.instance(instance)["credentials"]
        self.graph = self.credentials["graph_url"]
        self.http = httpx.Client(timeout=30)
        self.token = self.new_token()

    def token_response(self, **overrides: str | None) -> httpx.Response:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
            "scope": "https://graph.microsoft.com/.default",
        }
        form.update(overrides)
        tenant = form.pop("tenant", None) or self.credentials["tenant_id"]
        data = {k: v for k, v in form.items() if v is not None}
        return self.http.post(f"{self.credentials['login_url']}/{tenant}/oauth2/v2.0/token", data=data)

    def new_token(self) -> str:
        response = self.token_response()
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return self.http.get(f"{self.graph}/{path}", params=params, headers=self.headers(headers))

    def get_url(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(url, headers=self.headers(headers))

    def all(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
        """Every record of a collection, following ``@odata.nextLink``."""
        records, _ = self.walk(f"{self.graph}/{path}", headers, params)
        return records

    def walk(
        self, url: str, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(records, page bodies) of a whole walk; the last body holds a deltaLink for delta rounds."""
        records: list[dict[str, Any]] = []
        bodies: list[dict[str, Any]] = []
        response = self.http.get(url, params=params, headers=self.headers(headers))
        while True:
            assert response.status_code == 200, response.text
            body = response.json()
            bodies.append(body)
            records += body["value"]
            next_url = body.get("@odata.nextLink")
            if not next_url:
                return records, bodies
            response = self.http.get(next_url, headers=self.headers(headers))

    def delta_round(
        self, url: str, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """(items, deltaLink) of a whole delta round starting at ``url``."""
        records, bodies = self.walk(url, headers, params)
        assert "@odata.deltaLink" in bodies[-1], bodies[-1]
        assert all("@odata.deltaLink" not in body for body in bodies[:-1])
        return records, bodies[-1]["@odata.deltaLink"]

    def close(self) -> None:
        self.http.close()
