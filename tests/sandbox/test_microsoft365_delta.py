"""Microsoft 365 delta queries: rounds, deltaLinks, changes only, @removed, $select tracking, resync."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.microsoft365.tables import DELTA_PAGE_SIZE, USER_DEFAULT_SELECT

from .microsoft365_support import GraphClient, fresh_tenant

MINIMAL = {"Prefer": "return=minimal"}


@pytest.fixture
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    """A fresh tenant (delta tests change data) with enough users for several delta pages."""
    with fresh_tenant(admin, "delta", counts={"users": 2 * DELTA_PAGE_SIZE + 50}) as client:
        yield client


def _by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    assert len(items) == len({i["id"] for i in items}), "an object appears twice in one round"
    return {i["id"]: i for i in items}


def test_initial_round_pages_every_user_then_gives_a_delta_link(graph: GraphClient, admin: SandboxAdmin) -> None:
    records, bodies = graph.walk(f"{graph.graph}/users/delta")
    assert len(bodies) == 3
    assert all("@odata.nextLink" in body for body in bodies[:-1])
    assert "@odata.deltaLink" in bodies[-1] and "@odata.nextLink" not in bodies[-1]
    assert bodies[0]["@odata.nextLink"].startswith(f"{graph.graph}/users/delta?$skiptoken=")
    assert bodies[-1]["@odata.deltaLink"].startswith(f"{graph.graph}/users/delta?$deltatoken=")
    assert set(_by_id(records)) == set(admin.record_ids(graph.instance, "users"))
    assert all(set(r) == set(USER_DEFAULT_SELECT) for r in records)


def test_next_round_returns_only_what_changed(graph: GraphClient, admin: SandboxAdmin) -> None:
    _, delta_link = graph.delta_round(
        f"{graph.graph}/users/delta", params={"$select": "displayName,jobTitle,department"}
    )
    seq = len(admin.changes(graph.instance))
    report = admin.mutate(graph.instance, updates=25, inserts=6, deletes=4, tables=["users"], seed=11)
    changes, next_link = graph.delta_round(delta_link)
    items = _by_id(changes)

    log = admin.changes(graph.instance, table="users", after_seq=seq)
    deleted = {e["id"] for e in log if e["op"] == "delete"}
    inserted = {e["id"] for e in log if e["op"] == "insert"} - deleted
    tracked = {"displayName", "jobTitle", "department"}
    updated = {u["id"] for u in report["updated"] if tracked & set(u["fields"])} - deleted - inserted
    removed = {i for i, item in items.items() if "@removed" in item}
    assert removed == deleted
    assert all(items[i]["@removed"] == {"reason": "changed"} for i in removed)  # users go to the recycle bin first
    assert set(items) - removed == inserted | updated
    for record_id in inserted | updated:
        current = admin.get_record(graph.instance, "users", record_id)
        assert items[record_id] == {"id": record_id, **{name: current[name] for name in tracked}}

    again, _ = graph.delta_round(next_link)
    assert again == []  # nothing changed since


def test_changes_to_untracked_properties_do_not_return_the_object(graph: GraphClient, admin: SandboxAdmin) -> None:
    _, delta_link = graph.delta_round(f"{graph.graph}/users/delta", params={"$select": "displayName"})
    user = admin.record_ids(graph.instance, "users")[5]
    admin.update_record(graph.instance, "users", user, {"officeLocation": "Building 9"})
    assert graph.delta_round(delta_link)[0] == []
    admin.update_record(graph.instance, "users", user, {"displayName": "Renamed Person"})
    assert graph.delta_round(delta_link)[0] == [{"id": user, "displayName": "Renamed Person"}]


def test_without_select_every_property_is_tracked_and_the_default_set_returned(
    graph: GraphClient, admin: SandboxAdmin
) -> None:
    _, delta_link = graph.delta_round(f"{graph.graph}/users/delta")
    user = admin.record_ids(graph.instance, "users")[7]
    admin.update_record(graph.instance, "users", user, {"department": "Legal"})
    items = graph.delta_round(delta_link)[0]
    assert [i["id"] for i in items] == [user]
    assert set(items[0]) == set(USER_DEFAULT_SELECT)
    minimal = graph.delta_round(delta_link, headers=MINIMAL)[0]
    assert minimal == [{"id": user, "department": "Legal"}]


def test_prefer_return_minimal_returns_only_changed_properties(graph: GraphClient, admin: SandboxAdmin) -> None:
    params = {"$select": "displayName,jobTitle,mobilePhone"}
    _, delta_link = graph.delta_round(f"{graph.graph}/users/delta", params=params)
    users = graph.all("users", **{"$select": "mobilePhone,userType"})
    user = next(u["id"] for u in users if u["mobilePhone"] and u["userType"] == "Member")
    admin.update_record(graph.instance, "users", user, {"jobTitle": "Chief Cat Herder", "mobilePhone": None})
    response = graph.get_url(delta_link, headers=MINIMAL)
    assert response.headers["preference-applied"] == "return=minimal"
    assert response.json()["value"] == [{"id": user, "jobTitle": "Chief Cat Herder", "mobilePhone": None}]
    full = graph.get_url(delta_link).json()["value"]
    assert set(full[0]) == {"id", "displayName", "jobTitle", "mobilePhone"}


def test_delta_token_latest_syncs_from_now(graph: GraphClient, admin: SandboxAdmin) -> None:
    body = graph.get("groups/delta", **{"$deltatoken": "latest"}).json()
    assert body["value"] == [] and "@odata.nextLink" not in body
    group = admin.create_record(graph.instance, "groups")
    items, _ = graph.delta_round(body["@odata.deltaLink"])
    assert [i["id"] for i in items] == [group["id"]]


def test_devices_and_groups_have_delta_and_report_removals(graph: GraphClient, admin: SandboxAdmin) -> None:
    _, device_link = graph.delta_round(f"{graph.graph}/devices/delta")
    _, group_link = graph.delta_round(f"{graph.graph}/groups/delta")
    device = admin.record_ids(graph.instance, "devices")[0]
    group = admin.record_ids(graph.instance, "groups")[0]
    admin.delete_record(graph.instance, "devices", device)
    admin.delete_record(graph.instance, "groups", group)
    assert graph.delta_round(device_link)[0] == [{"id": device, "@removed": {"reason": "deleted"}}]
    assert graph.delta_round(group_link)[0] == [{"id": group, "@removed": {"reason": "changed"}}]


def test_created_and_deleted_between_rounds_is_not_mentioned(graph: GraphClient, admin: SandboxAdmin) -> None:
    _, delta_link = graph.delta_round(f"{graph.graph}/devices/delta")
    device = admin.create_record(graph.instance, "devices")
    admin.delete_record(graph.instance, "devices", device["id"])
    assert graph.delta_round(delta_link)[0] == []


def test_changes_during_the_initial_round_come_in_the_next(graph: GraphClient, admin: SandboxAdmin) -> None:
    first = graph.get("users/delta", **{"$select": "displayName"}).json()
    seen = {r["id"] for r in first["value"]}
    early = sorted(seen)[0]
    admin.update_record(graph.instance, "users", early, {"displayName": "Changed Mid Round"})
    rest, delta_link = graph.delta_round(first["@odata.nextLink"])
    assert early not in {r["id"] for r in rest}
    nxt = graph.delta_round(delta_link)[0]
    assert {"id": early, "displayName": "Changed Mid Round"} in nxt


def test_filter_by_ids_tracks_only_those_objects(graph: GraphClient, admin: SandboxAdmin) -> None:
    ids = admin.record_ids(graph.instance, "users")[:3]
    expression = " or ".join(f"id eq '{i}'" for i in ids)
    items, delta_link = graph.delta_round(f"{graph.graph}/users/delta", params={"$filter": expression})
    assert sorted(i["id"] for i in items) == sorted(ids)
    admin.update_record(graph.instance, "users", ids[1], {"surname": "Tracked"})
    admin.update_record(graph.instance, "users", admin.record_ids(graph.instance, "users")[10], {"surname": "Other"})
    assert [i["id"] for i in graph.delta_round(delta_link)[0]] == [ids[1]]
    refused = graph.get("users/delta", **{"$filter": "department eq 'Sales'"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_unknown_or_stale_tokens_are_410_sync_state_not_found(
    graph: GraphClient, admin: SandboxAdmin, sandbox: SandboxServer
) -> None:
    _, delta_link = graph.delta_round(f"{graph.graph}/users/delta")
    for bad in ("garbage", delta_link.split("$deltatoken=")[1][:-2] + "zz"):
        response = graph.get("users/delta", **{"$deltatoken": bad})
        assert response.status_code == 410
        assert response.json()["error"]["code"] == "syncStateNotFound"
        assert response.headers["location"] == f"{graph.graph}/users/delta"
    assert graph.get("users/delta", **{"$skiptoken": "garbage"}).status_code == 410
    users_token = parse_qs(urlsplit(delta_link).query)["$deltatoken"][0]
    assert graph.get("groups/delta", **{"$deltatoken": users_token}).status_code == 410

    assert sandbox.registry is not None
    clock = sandbox.registry.clock
    clock.offset_seconds += 8 * 86400
    try:
        graph.token = graph.new_token()
        assert graph.get_url(delta_link).status_code == 410  # delta tokens live seven days
    finally:
        clock.offset_seconds -= 8 * 86400
        graph.token = graph.new_token()
    assert graph.get_url(delta_link).status_code == 200
    admin.reset(graph.instance)
    assert graph.get_url(delta_link).status_code == 410  # a reset invalidates every sync state


def test_empty_delta_pages_still_carry_the_next_link(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(graph.instance, empty_page_rate=1.0)
    records, bodies = graph.walk(f"{graph.graph}/users/delta", params={"$select": "id"})
    assert any(not body["value"] and "@odata.nextLink" in body for body in bodies)
    assert "@odata.deltaLink" in bodies[-1]
    assert sorted(r["id"] for r in records) == sorted(admin.record_ids(graph.instance, "users"))


def test_delta_refuses_what_graph_refuses(graph: GraphClient) -> None:
    assert graph.get("users/delta", **{"$orderby": "displayName"}).status_code == 400
    assert graph.get("users/delta", **{"$select": "shoeSize"}).status_code == 400
    assert graph.get("subscribedSkus/delta").status_code == 400
    assert graph.get("users/microsoft.graph.delta()").status_code == 200
