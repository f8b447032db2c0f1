"""Acme Helpdesk list requests: keyset paging, sort, limit, fields, totals and bad parameters."""

from __future__ import annotations

from typing import Any

import pytest

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.helpdesk.schema import fields as schema_fields

from .helpdesk_support import HD_READ_ONLY, TABLES, HdClient, fresh_hd_instance, hd_instance  # noqa: F401


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("limit", [7, 500])
def test_paging_by_after_id_returns_every_record_exactly_once(
    hd: HdClient, admin: SandboxAdmin, table: str, limit: int
) -> None:
    records = hd.all(table, limit=limit)
    ids = [record["id"] for record in records]
    assert ids == sorted(set(ids))
    assert ids == admin.record_ids(HD_READ_ONLY, table)


def test_a_page_says_the_total_and_whether_more_follow(hd: HdClient, admin: SandboxAdmin) -> None:
    everything = admin.record_ids(HD_READ_ONLY, "tickets")
    first = hd.ok("tickets")
    assert [r["id"] for r in first["data"]] == everything[:100]
    assert first["total"] == len(everything) and first["has_more"] is False  # tiny: 80 tickets, default limit 100
    page = hd.ok("tickets", limit=30, after_id=everything[29])
    assert [r["id"] for r in page["data"]] == everything[30:60]
    assert page["total"] == len(everything)  # total ignores after_id and limit
    assert page["has_more"] is True
    last = hd.ok("tickets", limit=30, after_id=everything[-31])
    assert len(last["data"]) == 30 and last["has_more"] is False
    past = hd.ok("tickets", after_id=everything[-1])
    assert past == {"data": [], "total": len(everything), "has_more": False}
    assert hd.ok("tickets", after_id=0)["data"][0]["id"] == everything[0]


def test_default_limit_is_100_and_the_maximum_500(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    assert len(hd_fresh.ok("time_entries")["data"]) == 100
    assert len(hd_fresh.ok("time_entries", limit=500)["data"]) == 200  # tiny has 200
    admin.mutate(hd_fresh.name, inserts=400, seed=3, tables=["time_entries"])
    body = hd_fresh.ok("time_entries", limit=500)
    assert len(body["data"]) == 500 and body["has_more"] is True and body["total"] == 600
    for bad in ("501", "0", "-1", "ten", "1.5", ""):
        response = hd_fresh.get("time_entries", limit=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_parameter"
    assert "between 1 and 500" in hd_fresh.get("time_entries", limit=1000).json()["error"]["message"]


def test_sort_by_updated_at_then_id(hd: HdClient) -> None:
    records = hd.ok("time_entries", sort="updated_at", limit=500)["data"]
    keys = [(r["updated_at"], r["id"]) for r in records]
    assert keys == sorted(keys) and len(keys) == 200
    earliest = hd.ok("time_entries", sort="updated_at", limit=1)
    assert earliest["data"][0]["id"] == records[0]["id"] and earliest["has_more"] is True
    by_id = hd.ok("time_entries", sort="id", limit=500)["data"]
    assert [r["id"] for r in by_id] == sorted(r["id"] for r in records)
    # after_id filters (id > N) whatever the order
    pivot = by_id[150]["id"]
    filtered = hd.ok("time_entries", sort="updated_at", after_id=pivot, limit=500)
    assert [r["id"] for r in filtered["data"]] == [r["id"] for r in records if r["id"] > pivot]
    assert filtered["total"] == 200 and filtered["has_more"] is False
    window = {"updated_since": records[20]["updated_at"], "updated_before": records[120]["updated_at"]}
    in_window = hd.ok("time_entries", sort="updated_at", limit=50, **window)
    expected = [r["id"] for r in records if window["updated_since"] <= r["updated_at"] < window["updated_before"]]
    assert [r["id"] for r in in_window["data"]] == expected[:50]
    assert in_window["total"] == len(expected) and in_window["has_more"] is (len(expected) > 50)


def test_fields_selects_top_level_fields_and_always_the_id(hd: HdClient) -> None:
    full = {r["id"]: r for r in hd.ok("tickets", limit=500)["data"]}
    selected = hd.ok("tickets", limit=500, fields="updated_at, status,subject")["data"]
    assert len(selected) == len(full)
    for record in selected:
        assert list(record) == ["id", "subject", "status", "updated_at"]  # schema order
        assert record == {k: full[record["id"]][k] for k in record}
    nested = hd.ok("companies", limit=1, fields="address,custom_fields")["data"][0]
    assert set(nested) == {"id", "address", "custom_fields"} and "city" in nested["address"]
    one = hd.ok(f"tickets/{selected[0]['id']}", fields="status")
    assert one == {"data": {"id": selected[0]["id"], "status": selected[0]["status"]}}
    for bad in ("nope", "address.city", ",", "subject,Status"):
        response = hd.get("tickets", fields=bad)
        assert response.status_code == 400, bad
        assert response.json()["error"]["code"] == "invalid_parameter"
    assert schema_fields("tickets")[0] == "id"


def test_one_record_by_id(hd: HdClient, admin: SandboxAdmin) -> None:
    for table in TABLES:
        record_id = admin.record_ids(HD_READ_ONLY, table)[3]
        body = hd.ok(f"{table}/{record_id}")
        assert body == {"data": admin.get_record(HD_READ_ONLY, table, record_id)}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"updated_since": "yesterday"}, "updated_since must be an ISO 8601 date-time"),
        ({"updated_before": "2024-13-01T00:00:00Z"}, "updated_before must be an ISO 8601 date-time"),
        ({"updated_since": "2024-01-01T00:00:00 02:00"}, "URL-encode a '+' offset as %2B"),
        ({"updated_since": ""}, "updated_since must be"),
        ({"sort": "name"}, "sort must be one of: id, updated_at; got 'name'"),
        ({"sort": "-id"}, "sort must be one of"),
        ({"after_id": "abc"}, "after_id must be an integer >= 0"),
        ({"after_id": "-3"}, "after_id must be an integer >= 0"),
        ({"page": "2"}, "unknown parameter 'page'; GET /api/v2/tickets accepts: updated_since, updated_before"),
        ({"updated_sinse": "2024-01-01"}, "unknown parameter 'updated_sinse'"),
    ],
)
def test_bad_parameters_are_400_invalid_parameter(hd: HdClient, params: dict[str, Any], fragment: str) -> None:
    response = hd.get("tickets", **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert error["code"] == "invalid_parameter"
    assert fragment in error["message"]


def test_a_parameter_given_twice_is_400(hd: HdClient) -> None:
    response = hd.http.get(f"{hd.root}/api/v2/tickets?limit=5&limit=6", headers=hd.headers)
    assert response.status_code == 400
    assert "'limit' is given more than once" in response.json()["error"]["message"]
    response = hd.get("tickets/100001", limit=5)
    assert response.status_code == 400
    assert "accepts: fields" in response.json()["error"]["message"]
