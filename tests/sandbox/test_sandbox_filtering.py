"""conditions / childConditions / customFieldConditions, orderBy, fields, /count and single records over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from .conftest import CwClient

TICKETS = "service/tickets"


@pytest.fixture(scope="module")
def tickets(cw: CwClient) -> list[dict[str, Any]]:
    return cw.all(TICKETS)


def ids_where(records: list[dict[str, Any]], predicate: Any) -> list[int]:
    return sorted(r["id"] for r in records if predicate(r))


def ids_of(cw: CwClient, table: str = TICKETS, **params: Any) -> list[int]:
    return [r["id"] for r in cw.all(table, fields="id", **params)]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_equality_on_reference_paths(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    company = tickets[0]["company"]["id"]
    assert ids_of(cw, conditions=f"company/id={company}") == ids_where(tickets, lambda r: r["company"]["id"] == company)
    closed = ids_where(tickets, lambda r: r["status"]["name"] == "Closed")
    assert ids_of(cw, conditions='status/name="closed"') == closed


def test_each_comparison_operator(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    pivot = tickets[len(tickets) // 2]["id"]
    cases = {
        f"id = {pivot}": lambda r: r["id"] == pivot,
        f"id != {pivot}": lambda r: r["id"] != pivot,
        f"id < {pivot}": lambda r: r["id"] < pivot,
        f"id <= {pivot}": lambda r: r["id"] <= pivot,
        f"id > {pivot}": lambda r: r["id"] > pivot,
        f"id >= {pivot}": lambda r: r["id"] >= pivot,
        "budgetHours >= 2.5": lambda r: r.get("budgetHours", -1) >= 2.5,
        'summary contains "printer"': lambda r: "printer" in r["summary"].lower(),
        'summary not contains "printer"': lambda r: "printer" not in r["summary"].lower(),
        'summary like "install%"': lambda r: r["summary"].lower().startswith("install"),
        'summary not like "%e%"': lambda r: "e" not in r["summary"].lower(),
        f"id in ({pivot}, {tickets[0]['id']}, 1)": lambda r: r["id"] in (pivot, tickets[0]["id"]),
        'status/name not in ("Closed", "New")': lambda r: r["status"]["name"] not in ("Closed", "New"),
        "closedFlag = true": lambda r: r["closedFlag"] is True,
        "closedFlag = false": lambda r: r["closedFlag"] is False,
        "owner/id = null": lambda r: "owner" not in r,
        "owner/id != null": lambda r: "owner" in r,
    }
    for condition, predicate in cases.items():
        expected = ids_where(tickets, predicate)
        assert ids_of(cw, conditions=condition) == expected, condition
        assert cw.get(f"{TICKETS}/count", conditions=condition).json() == {"count": len(expected)}, condition


def test_dates_in_brackets_compare_by_time(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    stamps = sorted(r["_info"]["lastUpdated"] for r in tickets)
    low, high = stamps[len(stamps) // 4], stamps[3 * len(stamps) // 4]
    expected = ids_where(tickets, lambda r: low <= r["_info"]["lastUpdated"] < high)
    for field in ("_info/lastUpdated", "lastUpdated", "_INFO/LASTUPDATED"):
        assert ids_of(cw, conditions=f"{field} >= [{low}] and {field} < [{high}]") == expected
    # another timezone designator, same instant
    shifted = datetime.fromisoformat(low).astimezone().isoformat()
    assert ids_of(cw, conditions=f"lastUpdated >= [{shifted}]") == ids_where(
        tickets, lambda r: epoch(r["_info"]["lastUpdated"]) >= epoch(low)
    )
    entered = ids_where(tickets, lambda r: r["_info"]["dateEntered"] > low)
    assert ids_of(cw, conditions=f"_info/dateEntered > [{low}]") == entered


def test_and_or_and_parentheses(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    condition = '(status/name = "New" or status/name = "Closed") and priority/id <= 2'
    expected = ids_where(tickets, lambda r: r["status"]["name"] in ("New", "Closed") and r["priority"]["id"] <= 2)
    assert ids_of(cw, conditions=condition) == expected
    condition = 'status/name = "New" or status/name = "Closed" AND priority/id <= 2'
    expected = ids_where(
        tickets,
        lambda r: r["status"]["name"] == "New" or (r["status"]["name"] == "Closed" and r["priority"]["id"] <= 2),
    )
    assert ids_of(cw, conditions=condition) == expected


def test_malformed_conditions_are_400_naming_the_problem(cw: CwClient) -> None:
    for condition, fragment in [
        ("status/name = New", "double quotes"),
        ("id >", "Expected a value"),
        ("(id = 1", "Expected ')'"),
        ("nosuch = 1", "Unknown field"),
        ("lastUpdated > [yesterday]", "Invalid date"),
    ]:
        response = cw.get(TICKETS, conditions=condition)
        assert response.status_code == 400, condition
        body = response.json()
        assert body["code"] == "InvalidObject"
        assert fragment in body["message"]
        assert body["errors"][0]["field"] == "conditions"
        assert cw.get(f"{TICKETS}/count", conditions=condition).status_code == 400


def test_child_and_custom_field_conditions(cw: CwClient) -> None:
    contacts = cw.all("company/contacts")
    expected = ids_where(
        contacts, lambda r: any(i.get("communicationType") == "Phone" for i in r.get("communicationItems", []))
    )
    assert ids_of(cw, "company/contacts", childConditions='communicationItems/communicationType = "Phone"') == expected
    expected = ids_where(
        contacts, lambda r: any(c["caption"] == "VIP" and c.get("value") is True for c in r["customFields"])
    )
    assert ids_of(cw, "company/contacts", customFieldConditions='caption = "VIP" and value = true') == expected
    assert cw.get("company/contacts", customFieldConditions="caption = ").status_code == 400


def test_order_by(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    assert ids_of(cw, orderBy="id desc") == sorted((r["id"] for r in tickets), reverse=True)
    by_updated = [r["id"] for r in sorted(tickets, key=lambda r: (r["_info"]["lastUpdated"], r["id"]))]
    assert ids_of(cw, orderBy="_info/lastUpdated asc, id asc") == by_updated
    assert ids_of(cw, orderBy="lastUpdated") == by_updated
    newest_first = [r["id"] for r in sorted(tickets, key=lambda r: (r["_info"]["lastUpdated"], -r["id"]), reverse=True)]
    assert ids_of(cw, orderBy="_info/lastUpdated desc") == newest_first
    by_summary = [r["id"] for r in sorted(tickets, key=lambda r: (r["summary"].casefold(), r["id"]), reverse=True)]
    assert ids_of(cw, orderBy="summary desc, id desc") == by_summary
    assert cw.get(TICKETS, orderBy="nosuch asc").status_code == 400
    assert cw.get(TICKETS, orderBy="id sideways").status_code == 400


def test_fields_projects_top_level_and_nested_paths(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    response = cw.get(TICKETS, fields="id,summary,company/name,_info/lastUpdated", pageSize=5)
    for record, full in zip(response.json(), tickets[:5], strict=True):
        assert record == {
            "id": full["id"],
            "summary": full["summary"],
            "company": {"name": full["company"]["name"]},
            "_info": {"lastUpdated": full["_info"]["lastUpdated"]},
        }
    whole_info = cw.get(TICKETS, fields="id,_info", pageSize=1).json()[0]
    assert whole_info == {"id": tickets[0]["id"], "_info": tickets[0]["_info"]}
    assert cw.get(TICKETS, fields="id,noSuchField", pageSize=1).json() == [{"id": tickets[0]["id"]}]


def test_count_agrees_with_list(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    assert cw.get(f"{TICKETS}/count").json() == {"count": len(tickets)}
    for table in (
        "company/companies",
        "company/contacts",
        "time/entries",
        "procurement/products",
        "finance/agreements",
        "project/projects",
        "system/members",
    ):
        assert cw.get(f"{table}/count").json()["count"] == len(cw.all(table, fields="id")), table


def test_single_record_and_404(cw: CwClient, tickets: list[dict[str, Any]]) -> None:
    first = tickets[0]
    assert cw.get(f"{TICKETS}/{first['id']}").json() == first
    projected = cw.get(f"{TICKETS}/{first['id']}", fields="id,summary").json()
    assert projected == {"id": first["id"], "summary": first["summary"]}
    missing = cw.get(f"{TICKETS}/1")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NotFound"


def test_the_api_is_read_only(cw: CwClient) -> None:
    response = cw.http.post(f"{cw.api}/{TICKETS}", headers=cw.headers, json={"summary": "x"})
    assert response.status_code == 405
