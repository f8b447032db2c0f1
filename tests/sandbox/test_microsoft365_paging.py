"""Microsoft 365 collections: paging by nextLink, $select, $count, $filter, single objects, errors."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.microsoft365.tables import RESOURCES, USER_DEFAULT_SELECT

from .microsoft365_support import GraphClient, fresh_tenant, new_instance

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture(scope="module")
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    with fresh_tenant(admin, "page", counts={"users": 230}) as client:
        yield client


@pytest.mark.parametrize("path", list(RESOURCES))
def test_paging_returns_every_record_exactly_once(graph: GraphClient, admin: SandboxAdmin, path: str) -> None:
    records = graph.all(path, **{"$top": 7})
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(admin.record_ids(graph.instance, path))
    assert ids == sorted(ids)  # keyset order: ids sort like the store's keys


def test_default_page_size_and_next_link_shape(graph: GraphClient) -> None:
    response = graph.get("users", **{"$select": "displayName"})
    body = response.json()
    assert len(body["value"]) == 100
    assert body["@odata.context"] == f"{graph.graph}/$metadata#users(id,displayName)"
    next_link = body["@odata.nextLink"]
    assert next_link.startswith(f"{graph.graph}/users?")
    query = parse_qs(urlsplit(next_link).query)
    assert query["$select"] == ["displayName"] and "$skiptoken" in query
    assert "%24" not in next_link
    assert response.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    assert response.headers["x-ms-resource-unit"] == "1"
    assert response.headers["request-id"] and response.headers["client-request-id"]


def test_top_is_validated_like_the_directory(graph: GraphClient) -> None:
    assert len(graph.get("users", **{"$top": 999}).json()["value"]) == 230
    for bad in (1000, 0, -1):
        response = graph.get("users", **{"$top": bad})
        assert response.status_code == 400
        assert response.json()["error"]["code"] in ("Request_BadRequest", "BadRequest")
    assert "Invalid page size" in graph.get("users", **{"$top": 1000}).json()["error"]["message"]
    assert graph.get("users", **{"$top": "ten"}).status_code == 400
    # Intune pages hold up to 1000 and larger values are served as 1000
    assert graph.get("deviceManagement/managedDevices", **{"$top": 5000}).status_code == 200


def test_users_without_select_have_the_default_properties(graph: GraphClient) -> None:
    user = graph.get("users", **{"$top": 1}).json()["value"][0]
    assert set(user) == set(USER_DEFAULT_SELECT)


def test_select_is_case_insensitive_and_always_returns_id(graph: GraphClient) -> None:
    users = graph.get("users", **{"$select": "DISPLAYNAME,department,accountEnabled", "$top": 5}).json()["value"]
    for user in users:
        assert set(user) == {"id", "displayName", "department", "accountEnabled"}


def test_group_select_only_properties_need_select(graph: GraphClient) -> None:
    group = graph.get("groups", **{"$top": 1}).json()["value"][0]
    assert "assignedLicenses" not in group and "groupTypes" in group
    selected = graph.get("groups", **{"$top": 1, "$select": "assignedLicenses"}).json()["value"][0]
    assert set(selected) == {"id", "assignedLicenses"}


def test_select_errors(graph: GraphClient) -> None:
    unknown = graph.get("users", **{"$select": "displayName,shoeSize"})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == {
        **unknown.json()["error"],
        "code": "Request_BadRequest",
        "message": "Could not find a property named 'shoeSize' on type 'Microsoft.DirectoryServices.User'.",
    }
    outside = graph.get("users", **{"$select": "skills"})
    assert outside.status_code == 501
    assert outside.json()["error"]["code"] == "NotImplemented"
    assert graph.get("users", **{"$select": "manager"}).status_code == 400


def test_count_needs_consistency_level_eventual(graph: GraphClient) -> None:
    with_header = graph.get("users", EVENTUAL, **{"$count": "true", "$top": 10}).json()
    assert with_header["@odata.count"] == 230
    without = graph.get("users", **{"$count": "true", "$top": 10}).json()
    assert "@odata.count" not in without  # silently ignored, as documented
    segment = graph.get("users/$count", EVENTUAL)
    assert segment.status_code == 200 and segment.text == "230"
    assert segment.headers["content-type"].startswith("text/plain")
    refused = graph.get("users/$count")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "$count is not currently supported."
    # Intune is not a directory: $count=true works without the header
    assert "@odata.count" in graph.get("deviceManagement/managedDevices", **{"$count": "true"}).json()


def test_count_follows_the_filter(graph: GraphClient) -> None:
    guests = graph.all("users", **{"$filter": "userType eq 'Guest'", "$select": "userType"})
    assert guests and all(u["userType"] == "Guest" for u in guests)
    counted = graph.get("users/$count", EVENTUAL, **{"$filter": "userType eq 'Guest'"}).text
    assert int(counted) == len(guests)


@pytest.mark.parametrize(
    ("path", "expression", "check"),
    [
        ("users", "accountEnabled eq false", lambda r: r["accountEnabled"] is False),
        ("users", "startswith(displayName,'j')", lambda r: r["displayName"].lower().startswith("j")),
        ("users", "department in ('Sales', 'Finance')", lambda r: r["department"] in ("Sales", "Finance")),
        ("users", "usageLocation eq 'US' and userType eq 'Member'", lambda r: r["userType"] == "Member"),
        ("groups", "groupTypes/any(c:c eq 'Unified')", lambda r: "Unified" in r["groupTypes"]),
        (
            "groups",
            "mailEnabled eq false or securityEnabled eq true",
            lambda r: r["securityEnabled"] or not r["mailEnabled"],
        ),
        ("devices", "operatingSystem eq 'windows'", lambda r: r["operatingSystem"] == "Windows"),
        (
            "deviceManagement/managedDevices",
            "complianceState eq 'compliant'",
            lambda r: r["complianceState"] == "compliant",
        ),
        (
            "deviceManagement/managedDevices",
            "lastSyncDateTime ge 2025-01-01T00:00:00Z and lastSyncDateTime lt 2025-07-01T00:00:00Z",
            lambda r: "2025-01-01T00:00:00Z" <= r["lastSyncDateTime"] < "2025-07-01T00:00:00Z",
        ),
        (
            "devices",
            "approximateLastSignInDateTime le 2024-12-31T23:59:59Z",
            lambda r: r["approximateLastSignInDateTime"] <= "2024-12-31T23:59:59Z",
        ),
    ],
)
def test_filters_select_the_matching_records(graph: GraphClient, path: str, expression: str, check) -> None:  # type: ignore[no-untyped-def]
    everything = graph.all(path, **{"$select": "*"})
    matched = graph.all(path, **{"$filter": expression, "$select": "*", "$top": 25})
    assert matched and len(matched) < len(everything)
    assert all(check(r) for r in matched)
    assert {r["id"] for r in matched} == {r["id"] for r in everything if check(r)}


def test_lambda_over_complex_collections(graph: GraphClient) -> None:
    sku = graph.get("subscribedSkus").json()["value"][0]["skuId"]
    licensed = graph.all(
        "users", **{"$filter": f"assignedLicenses/any(x:x/skuId eq {sku})", "$select": "assignedLicenses"}
    )
    assert licensed and all(any(a["skuId"] == sku for a in u["assignedLicenses"]) for u in licensed)


def test_advanced_operators_need_advanced_query_parameters(graph: GraphClient) -> None:
    refused = graph.get("users", **{"$filter": "userType ne 'Guest'"})
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "Request_UnsupportedQuery"
    allowed = graph.all(
        "users", EVENTUAL, **{"$filter": "userType ne 'Guest'", "$count": "true", "$select": "userType"}
    )
    assert allowed and all(u["userType"] != "Guest" for u in allowed)


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("shoeSize eq 42", "Request_BadRequest"),
        ("displayName eq", "Request_BadRequest"),
        ("displayName eq 'unterminated", "Request_BadRequest"),
        ("accountEnabled eq 'yes'", "Request_BadRequest"),
        ("assignedLicenses eq 'x'", "Request_UnsupportedQuery"),
        ("contains(displayName,'a')", "Request_UnsupportedQuery"),
    ],
)
def test_malformed_filters_are_400(graph: GraphClient, expression: str, code: str) -> None:
    response = graph.get("users", **{"$filter": expression})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_unsupported_options_are_refused(graph: GraphClient) -> None:
    assert graph.get("users", **{"$orderby": "displayName"}).status_code == 400
    assert graph.get("users", **{"$skip": "5"}).status_code == 400
    assert graph.get("users", **{"$expand": "manager"}).status_code == 400
    assert graph.get("users", **{"$search": '"displayName:a"'}).json()["error"]["code"] == "Request_UnsupportedQuery"
    assert graph.get("users", **{"$frobnicate": "1"}).status_code == 400
    assert graph.get("users", unrelated="ignored").status_code == 200


def test_get_one_object_by_id_or_user_principal_name(graph: GraphClient) -> None:
    users = graph.all("users", **{"$top": 100})
    guest = next(u for u in users if "#EXT#" in u["userPrincipalName"])
    member = next(u for u in users if "#EXT#" not in u["userPrincipalName"])
    for user in (member, guest):
        by_id = graph.get(f"users/{user['id']}")
        assert by_id.status_code == 200
        body = by_id.json()
        assert body.pop("@odata.context") == f"{graph.graph}/$metadata#users/$entity"
        assert body == user
        # a guest's name holds "#EXT#": a client sends it percent-encoded, as a URL requires
        upn = quote(user["userPrincipalName"], safe="@")
        by_upn = graph.get(f"users/{upn}", **{"$select": "department"}).json()
        assert by_upn["id"] == user["id"] and "department" in by_upn
    device = graph.get("deviceManagement/managedDevices", **{"$top": 1}).json()["value"][0]
    assert graph.get(f"deviceManagement/managedDevices/{device['id']}").json()["deviceName"] == device["deviceName"]


def test_unknown_objects_are_404(graph: GraphClient) -> None:
    user = graph.get("users", **{"$top": 1}).json()["value"][0]
    foreign = user["id"][:-4] + ("0000" if not user["id"].endswith("0000") else "1111")
    for path in (f"users/{foreign}", "users/not-a-guid", f"groups/{user['id']}"):
        response = graph.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "Request_ResourceNotFound"
    intune = graph.get(f"deviceManagement/managedDevices/{user['id']}")
    assert intune.status_code == 404 and intune.json()["error"]["code"] == "ResourceNotFound"


def test_routing_errors_have_graph_shapes(graph: GraphClient) -> None:
    unknown = graph.get("contacts")
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == "Resource not found for the segment 'contacts'."
    assert graph.get("organization/delta").status_code == 400
    assert graph.get("users/x/y").status_code == 400
    assert graph.get("Users", **{"$top": 1}).status_code == 200  # segments are case-insensitive
    beta = graph.http.get(graph.graph.replace("/v1.0", "/beta") + "/users", headers=graph.headers())
    assert beta.status_code == 400 and beta.json()["error"]["message"] == "Invalid version: beta"
    posted = graph.http.post(f"{graph.graph}/users", headers=graph.headers(), json={})
    assert posted.status_code == 405


def test_skiptokens_cannot_be_forged_or_reused_after_a_reset(graph: GraphClient, admin: SandboxAdmin) -> None:
    next_link = graph.get("users", **{"$top": 10}).json()["@odata.nextLink"]
    tampered = next_link[:-3] + ("AAA" if not next_link.endswith("AAA") else "BBB")
    response = graph.get_url(tampered)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "Directory_ExpiredPageToken"
    name = new_instance(admin, "page")
    try:
        other = GraphClient(admin, name)
        stale = other.get("users", **{"$top": 10}).json()["@odata.nextLink"]
        admin.reset(name)
        assert other.get_url(stale).status_code == 400
        other.close()
    finally:
        admin.delete_instance(name)


def test_empty_pages_with_a_next_link_do_not_lose_records(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(graph.instance, empty_page_rate=0.5)
    try:
        records, bodies = graph.walk(f"{graph.graph}/users", params={"$top": 20, "$select": "id"})
    finally:
        admin.set_knobs(graph.instance, empty_page_rate=0.0)
    assert any(not body["value"] and "@odata.nextLink" in body for body in bodies)
    assert sorted(r["id"] for r in records) == sorted(admin.record_ids(graph.instance, "users"))


def test_records_changing_mid_walk_are_not_lost(graph: GraphClient, admin: SandboxAdmin) -> None:
    first = graph.get("devices", **{"$top": 10, "$select": "id"}).json()
    ids = [r["id"] for r in first["value"]]
    admin.mutate(graph.instance, updates=30, tables=["devices"], seed=4)
    rest, _ = graph.walk(first["@odata.nextLink"])
    ids += [r["id"] for r in rest]
    assert sorted(ids) == sorted(admin.record_ids(graph.instance, "devices"))
