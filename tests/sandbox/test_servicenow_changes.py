"""Admin CRUD with sys_ids, stamping, mutate, the change log, and deletes in sys_audit_delete."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest

from avesa_sandbox import SandboxAdmin, SandboxAdminError
from avesa_sandbox.servicenow.tables import DATA_TABLES

from .servicenow_support import SnClient, fresh_sn_instance  # noqa: F401


def test_admin_crud_with_string_sys_ids(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    name = sn_fresh.name
    caller = sn_fresh.get("sys_user", sysparm_query="roles=", sysparm_limit=1).json()["result"][0]
    created = admin.create_record(
        name,
        "incident",
        {"short_description": "Created by a test", "caller_id": caller["sys_id"], "impact": 1},
        by="tester",
    )
    sys_id = created["sys_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", sys_id)
    assert created["caller_id"] == {
        "link": f"{sn_fresh.url}/api/now/table/sys_user/{caller['sys_id']}",
        "value": caller["sys_id"],
    }
    assert created["impact"] == "1" and created["sys_created_by"] == created["sys_updated_by"] == "tester"
    assert re.fullmatch(r"INC\d{7}", created["number"]) and created["state"] in ("1", "2", "3")
    assert admin.get_record(name, "incident", sys_id) == created
    served = sn_fresh.get_url(f"{sn_fresh.url}/api/now/table/incident/{sys_id}").json()["result"]
    assert served == created

    updated = admin.update_record(
        name, "incident", sys_id, {"state": 2, "active": True, "description": None}, by="jsmith"
    )
    assert updated["state"] == "2" and updated["active"] == "true" and updated["description"] == ""
    assert updated["sys_mod_count"] == "1" and updated["sys_updated_by"] == "jsmith"
    assert updated["sys_updated_on"] > created["sys_updated_on"]
    assert updated["sys_created_on"] == created["sys_created_on"] and updated["sys_created_by"] == "tester"
    again = admin.update_record(name, "incident", sys_id, {"sys_mod_count": "99", "number": "INC9999999"})
    assert again["sys_mod_count"] == "2" and again["number"] == "INC9999999"
    assert again["sys_updated_on"] > updated["sys_updated_on"]
    query = f"sys_updated_on>{created['sys_updated_on']}"
    assert sys_id in [r["sys_id"] for r in sn_fresh.all("incident", sysparm_query=query, sysparm_fields="sys_id")]

    versions = admin.changes(name, table="incident", record_id=sys_id)
    assert [v["op"] for v in versions] == ["insert", "update", "update"]
    assert versions[-1]["record"] == again
    assert sys_id in admin.record_ids(name, "incident")

    deleted = admin.delete_record(name, "incident", sys_id)
    assert deleted == again
    assert sn_fresh.get_url(f"{sn_fresh.url}/api/now/table/incident/{sys_id}").status_code == 404
    assert sys_id not in admin.record_ids(name, "incident")
    audit = sn_fresh.get("sys_audit_delete", sysparm_query=f"documentkey={sys_id}").json()["result"]
    delete_entry = admin.changes(name, table="incident", record_id=sys_id)[-1]
    assert delete_entry["op"] == "delete"
    assert len(audit) == 1 and audit[0]["tablename"] == "incident" and audit[0]["display_value"] == "INC9999999"
    assert audit[0]["sys_created_on"].replace(" ", "T") + "Z" == delete_entry["last_updated"]
    assert "<number>INC9999999</number>" in audit[0]["payload"]


def test_admin_rejects_bad_ids_and_read_only_tables(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    name = sn_fresh.name
    problem = sn_fresh.get("problem", sysparm_limit=1).json()["result"][0]["sys_id"]
    for bad in ("42", "Z" * 32, problem):  # not a sys_id / not hex / another table's sys_id
        with pytest.raises(SandboxAdminError) as error:
            admin.get_record(name, "incident", bad)  # type: ignore[arg-type]
        assert error.value.status in (400, 404)
    with pytest.raises(SandboxAdminError, match="sys_audit_delete"):
        admin.create_record(name, "sys_audit_delete")
    with pytest.raises(SandboxAdminError, match="sys_audit_delete"):
        admin.mutate(name, updates=1, tables=["sys_audit_delete"])
    with pytest.raises(SandboxAdminError, match="unknown ServiceNow table"):
        admin.create_record(name, "incidents")


def test_mutate_and_change_log_agree_with_the_api(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    name = sn_fresh.name
    report = admin.mutate(name, updates=200, inserts=30, deletes=15, seed=7)
    assert report["counts"]["inserted"] == 30 and report["counts"]["updated"] == 200
    assert report["counts"]["deleted"] == 15 and 0 < report["counts"]["noop_updates"] < 60
    changed_tables = {u["table"] for u in report["updated"]}
    assert {"incident", "time_card"} <= changed_tables
    log = admin.changes(name)
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    first_mod_count: dict[tuple[str, str], int] = {}
    ops: dict[str, set[str]] = defaultdict(set)
    for entry in log:
        key = (entry["table"], entry["id"])
        latest[key] = entry
        first_mod_count.setdefault(key, int(entry["record"]["sys_mod_count"]))
        ops[entry["table"]].add(entry["op"])
    assert ops["incident"] == {"insert", "update", "delete"} or ops["incident"] == {"insert", "update"}
    for table in DATA_TABLES:
        served = {r["sys_id"]: r for r in sn_fresh.all(table)}
        alive = {key[1]: e for key, e in latest.items() if key[0] == table and e["op"] != "delete"}
        assert set(served) == set(alive), table
        for sys_id, entry in alive.items():
            assert served[sys_id] == entry["record"], (table, sys_id)
            expected_mods = first_mod_count[(table, sys_id)] + entry["version"] - 1
            assert served[sys_id]["sys_mod_count"] == str(expected_mods), (table, sys_id)
    deleted = {(d["table"], d["id"]) for d in report["deleted"]}
    audit = sn_fresh.all("sys_audit_delete")
    assert {(a["tablename"], a["documentkey"]) for a in audit} == deleted
    since = min(a["sys_created_on"] for a in audit)
    recent = sn_fresh.all("sys_audit_delete", sysparm_query=f"sys_created_on>={since}^tablename=incident")
    assert {a["documentkey"] for a in recent} == {i for t, i in deleted if t == "incident"}


def test_updates_stamp_strictly_increasing_versions(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    name = sn_fresh.name
    card = sn_fresh.get("time_card", sysparm_limit=1).json()["result"][0]
    for hours in ("1", "2", "3"):
        admin.update_record(name, "time_card", card["sys_id"], {"monday": hours})
    versions = admin.changes(name, table="time_card", record_id=card["sys_id"])
    stamps = [v["record"]["sys_updated_on"] for v in versions]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert [v["record"]["sys_mod_count"] for v in versions[1:]] == [
        str(int(card["sys_mod_count"]) + i) for i in (1, 2, 3)
    ]


def test_reset_restores_the_generated_data(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    before = sn_fresh.all("incident", sysparm_fields="sys_id,sys_updated_on")
    admin.mutate(sn_fresh.name, updates=20, deletes=3, seed=1)
    assert sn_fresh.all("sys_audit_delete")
    admin.reset(sn_fresh.name)
    assert sn_fresh.all("incident", sysparm_fields="sys_id,sys_updated_on") == before
    assert sn_fresh.all("sys_audit_delete") == []
