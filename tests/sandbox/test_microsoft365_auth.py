"""Microsoft 365 auth: the client-credentials token endpoint and bearer tokens on Graph."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.microsoft365.builders import tenant_id_for

from .microsoft365_support import GraphClient, fresh_tenant, new_instance


@pytest.fixture(scope="module")
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    with fresh_tenant(admin, "auth") as client:
        yield client


def test_credentials_name_the_tenant_the_app_and_both_roots(graph: GraphClient, sandbox: SandboxServer) -> None:
    creds = graph.credentials
    assert creds["tenant_id"] == tenant_id_for(graph.instance)
    assert creds["login_url"] == f"{sandbox.base_url}/microsoft365/login"
    assert creds["graph_url"] == f"{sandbox.base_url}/microsoft365/graph/v1.0"
    assert creds["token_url"] == f"{creds['login_url']}/{creds['tenant_id']}/oauth2/v2.0/token"
    assert "8Q~" in creds["client_secret"] and len(creds["client_secret"]) == 40


def test_token_response_has_the_documented_shape(graph: GraphClient) -> None:
    response = graph.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"].count(".") == 2
    assert response.headers["cache-control"].startswith("no-store")


def test_tenant_may_be_named_by_id_domain_or_instance(graph: GraphClient, admin: SandboxAdmin) -> None:
    org = graph.get("organization").json()["value"][0]
    domains = [d["name"] for d in org["verifiedDomains"]]
    for tenant in (graph.credentials["tenant_id"].upper(), graph.instance, *domains):
        assert graph.token_response(tenant=tenant).status_code == 200, tenant


def test_client_secret_basic_is_accepted(graph: GraphClient) -> None:
    creds = graph.credentials
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    response = graph.http.post(
        creds["token_url"],
        data={"grant_type": "client_credentials", "scope": "https://graph.microsoft.com/.default"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("overrides", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_secret": None}, 401, "invalid_client", 7000218),
        ({"client_id": "11111111-2222-4333-8444-555555555555"}, 400, "unauthorized_client", 700016),
        ({"tenant": "00000000-1111-4222-8333-444444444444"}, 400, "invalid_request", 90002),
        ({"tenant": "nosuchtenant.onmicrosoft.com"}, 400, "invalid_request", 90002),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"grant_type": None}, 400, "invalid_request", 900144),
        ({"scope": None}, 400, "invalid_request", 900144),
        ({"scope": "User.Read"}, 400, "invalid_scope", 1002012),
        ({"scope": "https://management.azure.com/.default"}, 400, "invalid_resource", 500011),
    ],
)
def test_token_refusals_use_entra_error_bodies(
    graph: GraphClient, overrides: dict[str, str | None], status: int, error: str, code: int
) -> None:
    response = graph.token_response(**overrides)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_uri"].endswith(f"code={code}")
    assert {"trace_id", "correlation_id", "timestamp"} <= set(body)


def test_token_endpoint_only_accepts_post(graph: GraphClient) -> None:
    response = graph.http.get(graph.credentials["token_url"])
    assert response.status_code == 400
    assert response.json()["error_codes"] == [900561]


def test_graph_accepts_the_token_and_finds_the_tenant_from_it(graph: GraphClient, admin: SandboxAdmin) -> None:
    other = new_instance(admin, "auth", seed=9)
    try:
        other_client = GraphClient(admin, other)
        mine = graph.get("organization").json()["value"][0]
        theirs = other_client.get("organization").json()["value"][0]
        assert mine["id"] == graph.credentials["tenant_id"]
        assert theirs["id"] == other_client.credentials["tenant_id"] != mine["id"]
        other_client.close()
    finally:
        admin.delete_instance(other)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Access token is empty."),
        ("Bearer", "Access token is empty."),
        ("Basic dXNlcjpwYXNz", "Access token is empty."),
        ("Bearer not-a-jwt", "CompactToken parsing failed with error code: 80049217"),
        ("Bearer aaa.bbb.ccc", "Access token validation failure. Invalid signature."),
    ],
)
def test_missing_or_bad_tokens_are_401(graph: GraphClient, authorization: str | None, message: str) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = httpx.get(f"{graph.graph}/users", headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert error["message"] == message
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_forged_token_is_refused(graph: GraphClient) -> None:
    header, payload, signature = graph.token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = httpx.get(f"{graph.graph}/users", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_tokens_expire_after_the_ttl_knob(graph: GraphClient, admin: SandboxAdmin, sandbox: SandboxServer) -> None:
    admin.set_knobs(graph.instance, token_ttl_seconds=120)
    try:
        response = graph.token_response()
        assert response.json()["expires_in"] == 120
        token = response.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{graph.graph}/users", headers=headers).status_code == 200
        assert sandbox.registry is not None
        clock = sandbox.registry.clock
        clock.offset_seconds += 121
        try:
            expired = httpx.get(f"{graph.graph}/users", headers=headers)
            assert expired.status_code == 401
            assert expired.json()["error"]["message"] == "Access token has expired or is not yet valid."
            graph.token = graph.new_token()  # a fresh token works again
            assert graph.get("users").status_code == 200
        finally:
            clock.offset_seconds -= 121
    finally:
        admin.set_knobs(graph.instance, token_ttl_seconds=3600)
        graph.token = graph.new_token()


def test_token_expired_fault_revokes_the_token(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "token-expired", table="users")
    first = graph.get("users")
    assert first.status_code == 401
    assert first.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert graph.get("groups").status_code == 401  # the token stays revoked everywhere
    graph.token = graph.new_token()
    assert graph.get("users").status_code == 200
    assert admin.stats(graph.instance)["faults"].get("token-expired") == 1
