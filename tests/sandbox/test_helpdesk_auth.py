"""Acme Helpdesk authentication: the X-Api-Key header, 401 bodies, routing and methods."""

from __future__ import annotations

import base64

import httpx

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.helpdesk.auth import api_key_for

from .helpdesk_support import HD_READ_ONLY, HdClient, fresh_hd_instance, hd_instance  # noqa: F401

UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "invalid or missing API key"}}


def test_credentials_are_the_api_root_and_key(hd: HdClient, sandbox: SandboxServer, admin: SandboxAdmin) -> None:
    assert hd.creds == {"api_url": f"{sandbox.base_url}/helpdesk/{HD_READ_ONLY}", "api_key": api_key_for(HD_READ_ONLY)}
    assert hd.creds["api_key"].startswith("hd_live_") and len(hd.creds["api_key"]) == 48
    assert api_key_for("other") != hd.creds["api_key"]
    info = admin.instance(HD_READ_ONLY)
    assert info["service"] == "helpdesk"
    assert info["site_url"] == info["api_base"] == hd.root


def test_the_key_authenticates_and_anything_else_is_401(hd: HdClient, admin: SandboxAdmin) -> None:
    assert hd.get("tickets", limit=1).status_code == 200
    before = admin.stats(HD_READ_ONLY)["unauthorized"]
    for headers in (
        {},
        {"X-Api-Key": ""},
        {"X-Api-Key": hd.creds["api_key"] + "x"},
        {"X-Api-Key": api_key_for("someone-else")},
        {"Authorization": f"Bearer {hd.creds['api_key']}"},  # the key only counts in its own header
    ):
        response = hd.get("tickets", headers=headers)
        assert response.status_code == 401, headers
        assert response.json() == UNAUTHORIZED
        assert response.headers["content-type"].startswith("application/json")
    # the header name is case-insensitive, as HTTP header names are
    assert hd.get("tickets", headers={"x-api-key": hd.creds["api_key"]}).status_code == 200
    assert admin.stats(HD_READ_ONLY)["unauthorized"] == before + 5


def test_authentication_comes_before_routing(hd: HdClient) -> None:
    assert hd.get("no_such_table", headers={}).status_code == 401
    assert hd.get("tickets/100001", headers={}).status_code == 401


def test_unknown_instance_endpoint_table_and_record_are_404(hd: HdClient) -> None:
    response = hd.http.get(hd.root.replace(HD_READ_ONLY, "nobody") + "/api/v2/tickets", headers=hd.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = hd.get("agents")
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "unknown table 'agents'; tables: companies, contacts, tickets, time_entries",
    }
    for url in (f"{hd.root}/api/v1/tickets", f"{hd.root}/tickets", f"{hd.root}/api/v2/tickets/1/notes/2"):
        response = hd.http.get(url, headers=hd.headers)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    for missing in ("1", "999999999", "abc", "-5"):
        response = hd.get(f"tickets/{missing}")
        assert response.status_code == 404, missing
        assert response.json() == {"error": {"code": "not_found", "message": f"ticket {missing} not found"}}


def test_other_connectwise_or_service_instances_are_not_served_here(hd: HdClient, sandbox: SandboxServer) -> None:
    response = httpx.get(f"{sandbox.base_url}/helpdesk/acme/api/v2/tickets", headers=hd.headers)  # a CW instance
    assert response.status_code == 404


def test_the_api_is_read_only(hd: HdClient) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = hd.http.request(method, f"{hd.root}/api/v2/tickets/100001", headers=hd.headers, json={})
        assert response.status_code == 405, method
        assert response.headers["allow"] == "GET"
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_the_key_also_authenticates_as_the_password_of_basic_auth(hd: HdClient) -> None:
    """What a URL `http://name:<key>@site` makes a client send."""
    key = hd.creds["api_key"]

    def basic(user: str, password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert hd.get("tickets", headers=basic("anyone", key), limit=1).status_code == 200
    for wrong in (basic(key, ""), basic("anyone", key + "x"), {"Authorization": "Basic not-base64!"}):
        assert hd.get("tickets", headers=wrong, limit=1).status_code == 401, wrong
