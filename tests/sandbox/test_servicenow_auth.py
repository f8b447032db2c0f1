"""ServiceNow authentication: Basic, OAuth password and refresh grants, token expiry and revocation."""

from __future__ import annotations

import time

import httpx

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.servicenow.auth import credentials_for

from .servicenow_support import SN_READ_ONLY, SnClient, bearer, fresh_sn_instance, sn_instance  # noqa: F401

UNAUTHENTICATED = {
    "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
    "status": "failure",
}


def test_credentials_are_what_a_user_configures(sn: SnClient) -> None:
    creds = sn.creds
    assert set(creds) == {"instance_url", "username", "password", "client_id", "client_secret"}
    assert creds["instance_url"].endswith(f"/servicenow/{SN_READ_ONLY}")
    derived = credentials_for(SN_READ_ONLY, creds["instance_url"])
    assert creds == derived.to_dict()
    assert len(creds["client_id"]) == 32
    assert credentials_for("other").password != derived.password


def test_basic_auth_is_accepted_and_anything_else_is_401(sn: SnClient) -> None:
    assert sn.get("incident", sysparm_limit=1).status_code == 200
    upper = (sn.auth[0].upper(), sn.auth[1])
    assert sn.get("incident", sysparm_limit=1, auth=upper).status_code == 200  # user names are case-insensitive
    for auth in [(sn.auth[0], "wrong"), ("admin", sn.auth[1])]:
        response = sn.get("incident", auth=auth)
        assert response.status_code == 401
        assert response.json() == UNAUTHENTICATED
    anonymous = sn.http.get(f"{sn.url}/api/now/table/incident")
    assert anonymous.status_code == 401 and anonymous.json() == UNAUTHENTICATED
    assert "www-authenticate" in anonymous.headers
    garbage = sn.http.get(f"{sn.url}/api/now/table/incident", headers={"Authorization": "Basic !!!"})
    assert garbage.status_code == 401


def test_oauth_password_grant_and_bearer_requests(sn: SnClient) -> None:
    response = sn.token()
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "useraccount"
    assert body["expires_in"] == 3600 and body["access_token"] and body["refresh_token"]
    served = sn.http.get(
        f"{sn.url}/api/now/table/sys_user", params={"sysparm_limit": 2}, headers=bearer(body["access_token"])
    )
    assert served.status_code == 200 and len(served.json()["result"]) == 2
    refreshed = sn.token(grant_type="refresh_token", refresh_token=body["refresh_token"], username="", password="")
    assert refreshed.status_code == 200
    assert refreshed.json()["access_token"] != body["access_token"]
    assert refreshed.json()["refresh_token"] == body["refresh_token"]


def test_oauth_errors_are_answered_like_the_platform(sn: SnClient) -> None:
    denied = {"error_description": "access_denied", "error": "server_error"}
    for overrides in [{"client_secret": "nope"}, {"client_id": "0" * 32}, {"password": "nope"}]:
        response = sn.token(**overrides)
        assert response.status_code == 401 and response.json() == denied
    assert sn.token(grant_type="refresh_token", refresh_token="bogus").status_code == 401
    unsupported = sn.token(grant_type="authorization_code")
    assert unsupported.status_code == 400 and unsupported.json()["error"] == "unsupported_grant_type"
    invalid = sn.http.get(f"{sn.url}/api/now/table/incident", headers=bearer("not-a-token"))
    assert invalid.status_code == 401 and invalid.json() == UNAUTHENTICATED


def test_tokens_expire_after_the_ttl_knob(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    admin.set_knobs(sn_fresh.name, token_ttl_seconds=0.5)
    body = sn_fresh.token().json()
    assert body["expires_in"] == 1
    url = f"{sn_fresh.url}/api/now/table/incident"
    assert sn_fresh.http.get(url, headers=bearer(body["access_token"])).status_code == 200
    time.sleep(0.6)
    expired = sn_fresh.http.get(url, headers=bearer(body["access_token"]))
    assert expired.status_code == 401 and expired.json() == UNAUTHENTICATED
    renewed = sn_fresh.token(grant_type="refresh_token", refresh_token=body["refresh_token"]).json()
    assert sn_fresh.http.get(url, headers=bearer(renewed["access_token"])).status_code == 200


def test_token_expired_fault_revokes_the_current_token(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    token = sn_fresh.token().json()["access_token"]
    url = f"{sn_fresh.url}/api/now/table/incident"
    admin.add_fault(sn_fresh.name, "token-expired", table="incident")
    response = sn_fresh.http.get(url, headers=bearer(token))
    assert response.status_code == 401 and response.json() == UNAUTHENTICATED
    assert sn_fresh.http.get(url, headers=bearer(token)).status_code == 401  # revoked for good
    assert sn_fresh.http.get(url, headers=bearer(sn_fresh.token().json()["access_token"])).status_code == 200
    admin.add_fault(sn_fresh.name, "token-expired", table="incident")
    assert sn_fresh.get("incident").status_code == 200  # Basic auth has no token to expire
    assert admin.faults(sn_fresh.name) == []


def test_another_instances_credentials_are_refused(admin: SandboxAdmin, sn: SnClient, sn_fresh: SnClient) -> None:
    assert sn.get("incident", auth=sn_fresh.auth).status_code == 401
    token = sn_fresh.token().json()["access_token"]
    assert sn.http.get(f"{sn.url}/api/now/table/incident", headers=bearer(token)).status_code == 401
    foreign = sn.http.post(f"{sn.url}/oauth_token.do", data={**sn_fresh.creds, "grant_type": "password"})
    assert foreign.status_code == 401


def test_unknown_instance_is_404(sn: SnClient) -> None:
    base = sn.url.rsplit("/", 1)[0]
    response = httpx.get(f"{base}/nobody/api/now/table/incident", auth=sn.auth)
    assert response.status_code == 404
    assert response.json()["status"] == "failure"
