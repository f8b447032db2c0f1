"""Admin API: instances, record changes visible in the API and the change log, mutate, stats, determinism."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from avesa_sandbox import SandboxAdmin, SandboxAdminError

from .conftest import READ_ONLY, CwClient

TICKETS = "service/tickets"


def test_instances_are_listed_with_credentials_site_url_and_counts(sandbox, admin: SandboxAdmin) -> None:  # type: ignore[no-untyped-def]
    listed = {i["name"]: i for i in admin.instances()}
    acme = listed[READ_ONLY]
    assert acme["site_url"] == f"{sandbox.base_url}/connectwise/{READ_ONLY}"
    assert acme["api_base"] == f"{acme['site_url']}/v4_6_release/apis/3.0"
    assert set(acme["credentials"]) == {"company_id", "public_key", "private_key", "client_id"}
    assert acme["counts"]["service/tickets"] == 80
    assert len(acme["counts"]) == 13  # the first eight tables and the five added later
    assert acme["knobs"]["rate_limit_per_minute"] is None


def test_create_instance_with_counts_and_knobs(admin: SandboxAdmin) -> None:
    created = admin.create_instance(
        "sized", scale="tiny", counts={"tickets": 5, "time/entries": 7}, knobs={"latency_ms": 1.5}
    )
    try:
        assert created["counts"]["service/tickets"] == 5
        assert created["counts"]["time/entries"] == 7
        assert created["knobs"]["latency_ms"] == 1.5
        with pytest.raises(SandboxAdminError, match="already exists"):
            admin.create_instance("sized", scale="tiny")
        with pytest.raises(SandboxAdminError, match="unknown scale"):
            admin.create_instance("bad-scale", scale="huge")
        with pytest.raises(SandboxAdminError, match="instance name"):
            admin.create_instance("Bad Name", scale="tiny")
    finally:
        admin.delete_instance("sized")
    with pytest.raises(SandboxAdminError) as missing:
        admin.instance("sized")
    assert missing.value.status == 404


def assert_strictly_increasing(versions: list[dict[str, Any]]) -> None:
    stamps = [v["last_updated"] for v in versions]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), stamps


def test_update_is_visible_in_the_api_and_the_change_log(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    ticket = cw.get(TICKETS, pageSize=1).json()[0]
    before = ticket["_info"]["lastUpdated"]
    updated = admin.update_record(name, TICKETS, ticket["id"], {"summary": "Changed summary"}, by="jsmith")
    served = cw.get(f"{TICKETS}/{ticket['id']}").json()
    assert served == updated
    assert served["summary"] == "Changed summary"
    assert served["_info"]["updatedBy"] == "jsmith"
    assert served["_info"]["lastUpdated"] > before
    assert served["_info"]["dateEntered"] == ticket["_info"]["dateEntered"]
    # the new version is found by an incremental query from the old watermark
    assert ticket["id"] in [r["id"] for r in cw.all(TICKETS, conditions=f"lastUpdated > [{before}]", fields="id")]
    # two more updates in the same second still get distinct, increasing stamps
    admin.update_record(name, TICKETS, ticket["id"], {"budgetHours": 3.0})
    admin.update_record(name, TICKETS, ticket["id"], {"severity": None})
    assert "severity" not in cw.get(f"{TICKETS}/{ticket['id']}").json()
    versions = admin.changes(name, table="tickets", record_id=ticket["id"])
    assert [v["op"] for v in versions] == ["insert", "update", "update", "update"]
    assert [v["version"] for v in versions] == [1, 2, 3, 4]
    assert versions[0]["record"] == ticket
    assert versions[-1]["record"] == cw.get(f"{TICKETS}/{ticket['id']}").json()
    assert_strictly_increasing(versions)


def test_insert_and_delete(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    count = cw.get(f"{TICKETS}/count").json()["count"]
    created = admin.create_record(name, TICKETS, {"summary": "Brand new ticket"})
    assert created["summary"] == "Brand new ticket"
    assert created["id"] > max(admin.record_ids(name, TICKETS)[:-1])
    assert cw.get(f"{TICKETS}/{created['id']}").json() == created
    assert cw.get(f"{TICKETS}/count").json()["count"] == count + 1
    company_ids = set(admin.record_ids(name, "company/companies"))
    assert created["company"]["id"] in company_ids

    admin.delete_record(name, TICKETS, created["id"])
    assert cw.get(f"{TICKETS}/{created['id']}").status_code == 404
    assert created["id"] not in admin.record_ids(name, TICKETS)
    log = admin.changes(name, table=TICKETS, record_id=created["id"])
    assert [e["op"] for e in log] == ["insert", "delete"]
    assert log[1]["record"] == created
    assert_strictly_increasing(log)
    # ids are never reused
    again = admin.create_record(name, TICKETS)
    assert again["id"] > created["id"]
    with pytest.raises(SandboxAdminError) as missing:
        admin.delete_record(name, TICKETS, created["id"])
    assert missing.value.status == 404


def test_change_log_starts_with_the_generated_data(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, _ = fresh
    log = admin.changes(name)
    by_table: dict[str, int] = defaultdict(int)
    for entry in log:
        assert entry["op"] == "insert" and entry["version"] == 1
        by_table[entry["table"]] += 1
    assert dict(by_table) == admin.instance(name)["counts"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    time.sleep(0.01)
    marker = datetime.now(UTC).isoformat()
    admin.mutate(name, updates=3, seed=1, tables=[TICKETS])
    assert len(admin.changes(name, after_seq=len(log))) == 3
    assert len(admin.changes(name, since=marker)) == 3
    assert len(admin.changes(name, table="company/companies", after_seq=len(log))) == 0
    assert len(admin.changes(name, limit=5)) == 5


def test_mutate_makes_realistic_changes_and_reports_them(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    before = {r["id"]: r for r in cw.all(TICKETS)}
    seq = len(admin.changes(name))
    report = admin.mutate(name, updates=60, inserts=5, deletes=4, seed=42, tables=[TICKETS, "time/entries"])
    assert report["counts"]["inserted"] == 5
    assert report["counts"]["updated"] == 60
    assert report["counts"]["deleted"] == 4
    assert 0 < report["counts"]["noop_updates"] < 20
    log = admin.changes(name, after_seq=seq)
    assert len(log) == 69
    after = {r["id"]: r for r in cw.all(TICKETS)}
    times_updated = defaultdict(int)
    for item in report["updated"]:
        times_updated[(item["table"], item["id"])] += 1
    for item in report["updated"]:
        if item["table"] != TICKETS or item["id"] not in after or times_updated[(TICKETS, item["id"])] > 1:
            continue
        old, new = before.get(item["id"]), after[item["id"]]
        if old is None:
            continue
        assert new["_info"]["lastUpdated"] > old["_info"]["lastUpdated"]
        if item["noop"]:
            assert {k: v for k, v in new.items() if k != "_info"} == {k: v for k, v in old.items() if k != "_info"}
    business_changes = [i for i in report["updated"] if not i["noop"]]
    assert all(i["fields"] for i in business_changes)
    # deletes never remove a ticket that time entries still point at
    entries = cw.all("time/entries", fields="id,chargeToId,chargeToType")
    live_tickets = set(admin.record_ids(name, TICKETS))
    assert all(e["chargeToId"] in live_tickets for e in entries if e["chargeToType"] == "ServiceTicket")
    # every record's versions are strictly increasing
    versions: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for entry in admin.changes(name):
        versions[(entry["table"], entry["id"])].append(entry)
    for history in versions.values():
        assert_strictly_increasing(history)


def test_mutate_is_deterministic_for_a_seed(admin: SandboxAdmin) -> None:
    reports = []
    for name in ("det", "det"):
        admin.create_instance(name, scale="tiny", seed=9)
        try:
            report = admin.mutate(name, updates=20, inserts=3, deletes=2, seed=7)
            reports.append(report)
        finally:
            admin.delete_instance(name)
    assert reports[0] == reports[1]


def test_same_seed_same_data_and_reset_regenerates(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    original = {table: cw.all(table) for table in ("company/companies", TICKETS)}
    admin.mutate(name, updates=10, inserts=2, deletes=1, seed=1)
    assert {table: cw.all(table) for table in original} != original
    admin.reset(name)
    assert {table: cw.all(table) for table in original} == original
    assert all(e["op"] == "insert" for e in admin.changes(name))


def test_stats_count_requests_and_bytes(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.reset_stats(name)
    body = cw.get(TICKETS, pageSize=10).content
    cw.get("company/companies/count")
    cw.http.get(f"{cw.api}/{TICKETS}")  # no credentials
    stats = admin.stats(name)
    assert stats["requests"] == 3
    assert stats["unauthorized"] == 1
    assert stats["records_served"] == 10
    assert stats["bytes_sent"] >= len(body)
    assert stats["by_table"] == {TICKETS: 1, "company/companies": 1}
    everything = admin.stats()
    assert everything["instances"][name] == stats
    assert everything["totals"]["requests"] >= 3


def test_knobs_and_faults_are_readable(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, _ = fresh
    assert admin.set_knobs(name, latency_ms=5, jitter_ms=1)["latency_ms"] == 5
    assert admin.knobs(name)["jitter_ms"] == 1
    pending = admin.add_fault(name, "503", count=3, table="tickets")
    assert pending == [
        {"kind": "503", "remaining": 3, "table": TICKETS, "scope": "list", "retry_after": 1, "delay_ms": 2000.0}
    ]
    admin.clear_faults(name)
    assert admin.faults(name) == []
    admin.reset(name)
    assert admin.knobs(name)["latency_ms"] == 0


def test_bad_admin_requests_are_explained(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, _ = fresh
    with pytest.raises(SandboxAdminError, match="unknown ConnectWise table"):
        admin.record_ids(name, "service/nothing")
    with pytest.raises(SandboxAdminError, match="no record"):
        admin.update_record(name, TICKETS, 1, {"summary": "x"})
    with pytest.raises(SandboxAdminError, match="unknown mutate field"):
        admin._call("POST", f"/instances/{name}/mutate", json={"update": 1})
