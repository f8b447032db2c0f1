"""Salesforce auth: the client-credentials token endpoint, bearer tokens, expiry and revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator

import httpx
import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.salesforce.auth import credentials_for

from .salesforce_support import SfClient, error_code, fresh_org, new_org


@pytest.fixture(scope="module")
def sf(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sfauth") as client:
        yield client


def test_credentials_are_the_login_url_and_the_connected_app_keys(sf: SfClient, sandbox: SandboxServer) -> None:
    creds = sf.credentials
    assert set(creds) == {"login_url", "client_id", "client_secret"}
    assert creds["login_url"] == f"{sandbox.base_url}/salesforce/{sf.instance}"
    assert creds["client_id"].startswith("3MVG9") and len(creds["client_id"]) == 85
    assert len(creds["client_secret"]) == 64
    assert creds == {"login_url": creds["login_url"], **credentials_for(sf.instance).to_dict()}


def test_token_response_has_the_documented_shape(sf: SfClient) -> None:
    response = sf.token_response()
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "signature", "scope", "instance_url", "id", "token_type", "issued_at"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sf.credentials["login_url"]
    assert body["access_token"].startswith("00D") and "!" in body["access_token"]
    assert "/id/00D" in body["id"] and body["id"].rsplit("/", 1)[1].startswith("005")
    assert abs(int(body["issued_at"]) / 1000 - time.time()) < 60
    mac = hmac.new(sf.credentials["client_secret"].encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256)
    assert base64.b64decode(body["signature"]) == mac.digest()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"client_secret": "wrong"}, "invalid_client"),
        ({"client_id": "3MVG9nope"}, "invalid_client_id"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": None}, "unsupported_grant_type"),
    ],
)
def test_bad_token_requests_get_oauth_errors(sf: SfClient, overrides: dict[str, str | None], error: str) -> None:
    response = sf.token_response(**overrides)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == error and body["error_description"]


def test_client_credentials_may_come_as_basic_auth(sf: SfClient) -> None:
    pair = f"{sf.credentials['client_id']}:{sf.credentials['client_secret']}".encode()
    response = sf.http.post(
        f"{sf.credentials['login_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(pair).decode()},
    )
    assert response.status_code == 200, response.text


def test_a_valid_token_is_accepted_with_bearer_and_oauth_schemes(sf: SfClient) -> None:
    assert sf.get("limits").status_code == 200
    response = sf.http.get(
        f"{sf.instance_url}/services/data/v59.0/limits", headers={"Authorization": f"OAuth {sf.token}"}
    )
    assert response.status_code == 200


def test_missing_or_malformed_authorization_is_invalid_auth_header(sf: SfClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = sf.http.get(
            f"{sf.instance_url}/services/data/v59.0/query", params={"q": "SELECT Id FROM Account"}, headers=headers
        )
        assert response.status_code == 401
        assert error_code(response) == "INVALID_AUTH_HEADER"


def test_an_unknown_token_is_invalid_session_id(sf: SfClient) -> None:
    response = sf.http.get(
        f"{sf.instance_url}/services/data/v59.0/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Authorization": "Bearer 00D000000000000!AQforged"},
    )
    assert response.status_code == 401
    assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_versions_need_no_token(sf: SfClient) -> None:
    response = httpx.get(f"{sf.instance_url}/services/data/")
    assert response.status_code == 200
    versions = {v["version"]: v for v in response.json()}
    assert versions["59.0"] == {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}


def test_tokens_expire_after_the_ttl_knob_and_a_new_one_works(admin: SandboxAdmin) -> None:
    name = new_org(admin, "sfttl", knobs={"token_ttl_seconds": 0.4})
    client = SfClient(admin, name)
    try:
        assert client.get("limits").status_code == 200
        time.sleep(0.5)
        expired = client.get("limits")
        assert expired.status_code == 401 and error_code(expired) == "INVALID_SESSION_ID"
        client.login()
        assert client.get("limits").status_code == 200
    finally:
        client.close()
        admin.delete_instance(name)


def test_token_expired_fault_revokes_the_token(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.add_fault(sf.instance, "token-expired", table="Account", scope="any")
    assert sf.query("SELECT Id FROM Contact").status_code == 200  # another object: not affected
    response = sf.query("SELECT Id FROM Account")
    assert response.status_code == 401 and error_code(response) == "INVALID_SESSION_ID"
    assert sf.query("SELECT Id FROM Contact").status_code == 401  # the token stays revoked
    sf.login()
    assert sf.query("SELECT Id FROM Account").status_code == 200
    assert admin.stats(sf.instance)["faults"]["token-expired"] == 1


def test_token_requests_do_not_count_against_the_daily_allocation(sf: SfClient) -> None:
    before = sf.get("limits").headers["Sforce-Limit-Info"]
    sf.login()
    sf.login()
    after = sf.get("limits").headers["Sforce-Limit-Info"]
    used = [int(h.split("=")[1].split("/")[0]) for h in (before, after)]
    assert used[1] == used[0] + 1
