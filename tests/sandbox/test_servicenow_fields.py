"""Representation: sysparm_fields (with dot-walks), reference links, display values."""

from __future__ import annotations

import re

from .servicenow_support import SnClient, sn_instance  # noqa: F401


def test_fields_selects_in_order_and_skips_unknown_names(sn: SnClient) -> None:
    response = sn.get("incident", sysparm_limit=3, sysparm_fields="number,state, sys_updated_on,no_such_field")
    for record in response.json()["result"]:
        assert list(record) == ["number", "state", "sys_updated_on"]
        assert re.fullmatch(r"INC\d{7}", record["number"])


def test_references_are_link_value_objects_or_plain_sys_ids(sn: SnClient) -> None:
    full = sn.get("incident", sysparm_limit=5).json()["result"]
    caller = next(r["caller_id"] for r in full if r["caller_id"])
    assert set(caller) == {"link", "value"}
    assert caller["link"] == f"{sn.url}/api/now/table/sys_user/{caller['value']}"
    assert sn.get_url(caller["link"]).json()["result"]["sys_id"] == caller["value"]
    bare = sn.get("incident", sysparm_limit=5, sysparm_exclude_reference_link="true").json()["result"]
    assert [r["caller_id"] for r in bare] == [r["caller_id"]["value"] if r["caller_id"] else "" for r in full]
    assert [r["number"] for r in bare] == [r["number"] for r in full]
    assert full[0]["sys_domain"] == {"link": f"{sn.url}/api/now/table/sys_user_group/global", "value": "global"}


def test_display_values(sn: SnClient) -> None:
    fields = "number,state,priority,caller_id,active,reassignment_count,calendar_duration,sys_class_name"
    raw = sn.get("incident", sysparm_limit=20, sysparm_fields=fields).json()["result"]
    shown = sn.get("incident", sysparm_limit=20, sysparm_fields=fields, sysparm_display_value="true").json()["result"]
    both = sn.get("incident", sysparm_limit=20, sysparm_fields=fields, sysparm_display_value="all").json()["result"]
    users = {u["sys_id"]: u["name"] for u in sn.all("sys_user", sysparm_fields="sys_id,name")}
    states = {"1": "New", "2": "In Progress", "3": "On Hold", "6": "Resolved", "7": "Closed", "8": "Canceled"}
    for value, display, combined in zip(raw, shown, both, strict=True):
        assert display["state"] == states[value["state"]]
        assert display["priority"].startswith(value["priority"] + " - ")
        assert display["sys_class_name"] == "Incident"
        assert display["active"] == value["active"]
        assert combined["state"] == {"display_value": display["state"], "value": value["state"]}
        if value["caller_id"]:
            name = users[value["caller_id"]["value"]]
            assert display["caller_id"] == {"display_value": name, "link": value["caller_id"]["link"]}
            assert combined["caller_id"] == {"display_value": name, **value["caller_id"]}
        if value["calendar_duration"]:
            assert re.fullmatch(r"(\d+ (Day|Hour|Minute|Second)s? ?)+", display["calendar_duration"])
    plain = sn.get(
        "incident",
        sysparm_limit=5,
        sysparm_fields="caller_id",
        sysparm_display_value="true",
        sysparm_exclude_reference_link="true",
    ).json()["result"]
    assert all(isinstance(r["caller_id"], str) for r in plain)
    unknown = sn.get("incident", sysparm_limit=2, sysparm_display_value="maybe").json()["result"]
    assert isinstance(unknown[0]["state"], str) and unknown[0]["state"].isdigit()


def test_dot_walked_fields(sn: SnClient) -> None:
    fields = "number,caller_id.name,caller_id.company,caller_id.company.name,cmdb_ci.no_such"
    records = sn.get("incident", sysparm_limit=10, sysparm_fields=fields).json()["result"]
    companies = {c["sys_id"]: c["name"] for c in sn.all("core_company", sysparm_fields="sys_id,name")}
    for record in records:
        assert list(record) == ["number", "caller_id.name", "caller_id.company", "caller_id.company.name"]
        company = record["caller_id.company"]
        if company:
            assert record["caller_id.company.name"] == companies[company["value"]]
    cards = sn.get("time_card", sysparm_limit=5, sysparm_fields="task.number,user.name").json()["result"]
    assert all(c["task.number"].startswith("INC") for c in cards)


def test_values_are_strings_and_timestamps_utc_text(sn: SnClient) -> None:
    for table in ("incident", "time_card", "sys_user", "cmdb_ci"):
        for record in sn.get(table, sysparm_limit=20).json()["result"]:
            for name, value in record.items():
                assert isinstance(value, str | dict), (table, name, value)
            assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["sys_updated_on"])
            assert record["sys_mod_count"].isdigit()
            assert re.fullmatch(r"[0-9a-f]{32}", record["sys_id"])
