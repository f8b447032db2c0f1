"""Authentication: Basic companyId+publicKey:privateKey and a clientId header on every request."""

from __future__ import annotations

import base64

import pytest

from avesa_sandbox.connectwise.auth import credentials_for

from .conftest import READ_ONLY, CwClient


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_valid_credentials_are_accepted(cw: CwClient) -> None:
    assert cw.get("company/companies").status_code == 200


def test_credentials_are_deterministic_and_listed_by_the_admin_api(admin) -> None:  # type: ignore[no-untyped-def]
    listed = admin.credentials(READ_ONLY)
    derived = credentials_for(READ_ONLY)
    assert listed == derived.to_dict()
    assert listed["company_id"] == READ_ONLY
    assert len(listed["public_key"]) == 16 and len(listed["private_key"]) == 16
    assert len(listed["client_id"]) == 36
    assert credentials_for("other").public_key != derived.public_key


CREDS = credentials_for(READ_ONLY)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"clientId": CREDS.client_id},
        {"Authorization": CREDS.authorization_header()},
        {"Authorization": CREDS.authorization_header(), "clientId": "00000000-0000-4000-8000-000000000000"},
        {"Authorization": basic(f"{READ_ONLY}+{CREDS.public_key}", "wrong"), "clientId": CREDS.client_id},
        {"Authorization": basic(f"{READ_ONLY}+wrong", CREDS.private_key), "clientId": CREDS.client_id},
        {"Authorization": basic(f"other+{CREDS.public_key}", CREDS.private_key), "clientId": CREDS.client_id},
        {"Authorization": basic(CREDS.public_key, CREDS.private_key), "clientId": CREDS.client_id},
        {"Authorization": "Bearer abc", "clientId": CREDS.client_id},
        {"Authorization": "Basic !!!notbase64", "clientId": CREDS.client_id},
    ],
    ids=[
        "none",
        "client-id-only",
        "basic-only",
        "wrong-client-id",
        "wrong-private",
        "wrong-public",
        "wrong-company",
        "no-company",
        "bearer",
        "garbage",
    ],
)
def test_anything_else_is_401_with_a_connectwise_error_body(cw: CwClient, headers: dict[str, str]) -> None:
    response = cw.http.get(f"{cw.api}/company/companies", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "Unauthorized"
    assert body["message"]


def test_company_id_is_case_insensitive(cw: CwClient) -> None:
    headers = {
        "Authorization": basic(f"{READ_ONLY.upper()}+{CREDS.public_key}", CREDS.private_key),
        "clientId": CREDS.client_id,
    }
    assert cw.http.get(f"{cw.api}/company/companies", headers=headers).status_code == 200


def test_another_instances_credentials_are_refused(sandbox, admin) -> None:  # type: ignore[no-untyped-def]
    admin.create_instance("auth-other", scale="tiny", counts={"time/entries": 0})
    try:
        other = credentials_for("auth-other").headers()
        response = CwClient(sandbox.base_url, READ_ONLY).http.get(
            f"{sandbox.base_url}/connectwise/{READ_ONLY}/v4_6_release/apis/3.0/company/companies", headers=other
        )
        assert response.status_code == 401
    finally:
        admin.delete_instance("auth-other")


def test_unknown_instance_and_endpoint_are_404(sandbox, cw: CwClient) -> None:  # type: ignore[no-untyped-def]
    response = cw.http.get(f"{sandbox.base_url}/connectwise/nobody/v4_6_release/apis/3.0/company/companies")
    assert response.status_code == 404
    assert cw.get("company/nothing").status_code == 404
    assert cw.get("company/companies/abc").status_code == 404
