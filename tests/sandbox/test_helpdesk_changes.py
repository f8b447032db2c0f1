"""Acme Helpdesk incremental reads (updated_since / updated_before), mutate, the change log, admin CRUD."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.clock import format_epoch, parse_epoch

from .helpdesk_support import (  # noqa: F401
    HD_READ_ONLY,
    TABLES,
    HdClient,
    fresh_hd_instance,
    hd_instance,
    schema_errors,
)


def _stamps(records: list[dict[str, Any]]) -> list[int]:
    return [parse_epoch(r["updated_at"]) for r in records]


def test_updated_since_is_inclusive_and_updated_before_exclusive(hd: HdClient) -> None:
    everything = hd.all("tickets")
    stamps = sorted(_stamps(everything))
    pivot = stamps[len(stamps) // 2]
    since, before = format_epoch(pivot), format_epoch(pivot)
    newer = hd.all("tickets", updated_since=since)
    older = hd.all("tickets", updated_before=before)
    assert all(s >= pivot for s in _stamps(newer)) and all(s < pivot for s in _stamps(older))
    assert pivot in _stamps(newer) and pivot not in _stamps(older)
    assert len(newer) + len(older) == len(everything)
    assert sorted(r["id"] for r in newer + older) == sorted(r["id"] for r in everything)
    body = hd.ok("tickets", updated_since=since, limit=1)
    assert body["total"] == len(newer)


def test_windows_partition_the_table(hd: HdClient) -> None:
    """Adjacent [start, end) windows, each keyset-paged, return every record exactly once."""
    everything = {r["id"]: r for r in hd.all("time_entries")}
    start = datetime(2024, 1, 1, tzinfo=UTC)
    seen: Counter[int] = Counter()
    while start < datetime(2026, 1, 1, tzinfo=UTC):
        end = start + timedelta(days=45)
        params = {"updated_since": start.isoformat(), "updated_before": end.isoformat()}
        window = hd.all("time_entries", limit=13, **params)
        assert hd.ok("time_entries", limit=1, **params)["total"] == len(window)
        for record in window:
            assert start.timestamp() <= parse_epoch(record["updated_at"]) < end.timestamp()
            assert record == everything[record["id"]]
        seen.update(r["id"] for r in window)
        start = end
    assert seen == Counter(everything.keys())


def test_timestamps_in_any_iso_form(hd: HdClient) -> None:
    everything = hd.all("contacts")
    pivot = sorted(_stamps(everything))[10]
    expected = sorted(r["id"] for r in everything if parse_epoch(r["updated_at"]) >= pivot)
    moment = datetime.fromtimestamp(pivot, UTC)
    for text in (
        format_epoch(pivot),  # 2024-05-01T10:00:00Z
        moment.isoformat(),  # +00:00
        moment.astimezone(timezone(timedelta(hours=2))).isoformat(),  # +02:00, URL-encoded by httpx
        moment.replace(tzinfo=None).isoformat(),  # naive: UTC
        (moment - timedelta(milliseconds=500)).isoformat(timespec="milliseconds"),  # fractions round up
    ):
        assert sorted(r["id"] for r in hd.all("contacts", updated_since=text)) == expected, text
    day = moment.date().isoformat()
    from_day = [r for r in everything if r["updated_at"] >= f"{day}T00:00:00Z"]
    assert len(hd.all("contacts", updated_since=day)) == len(from_day)
    # a window that is empty or inverted is just empty
    assert hd.ok("contacts", updated_since=format_epoch(pivot), updated_before=format_epoch(pivot))["total"] == 0
    assert hd.ok("contacts", updated_since="2030-01-01", updated_before="2020-01-01")["data"] == []


def test_mutate_changes_are_what_the_api_serves_and_what_the_log_says(
    hd_fresh: HdClient, admin: SandboxAdmin
) -> None:
    name = hd_fresh.name
    before = {t: {r["id"]: r for r in hd_fresh.all(t)} for t in TABLES}
    high_water = max(max(_stamps(list(records.values()))) for records in before.values())
    last_seq = len(admin.changes(name))
    report = admin.mutate(name, updates=120, inserts=30, deletes=15, seed=11)
    assert report["counts"]["updated"] == 120 and report["counts"]["inserted"] == 30
    assert report["counts"]["deleted"] == 15
    assert 0 < report["counts"]["noop_updates"] < 40

    log = admin.changes(name, after_seq=last_seq)
    assert Counter(e["op"] for e in log) == {"update": 120, "insert": 30, "delete": 15}
    latest: dict[tuple[str, int], dict[str, Any]] = {}
    for entry in log:
        latest[(entry["table"], entry["id"])] = entry
    for table in TABLES:
        now = {r["id"]: r for r in hd_fresh.all(table)}
        for record in now.values():
            assert not schema_errors(table, record), (table, record["id"], schema_errors(table, record))
        for (t, record_id), entry in latest.items():
            if t != table:
                continue
            if entry["op"] == "delete":
                assert record_id not in now  # a deleted record simply disappears
                assert hd_fresh.get(f"{table}/{record_id}").status_code == 404
            else:
                assert now[record_id] == entry["record"]
                assert entry["last_updated"] == now[record_id]["updated_at"]
        untouched = {i for i in before[table] if (table, i) not in latest}
        assert all(now[i] == before[table][i] for i in untouched)
        # every change is later than all generated data, so an incremental read finds exactly the changes
        changed = hd_fresh.all(table, updated_since=format_epoch(high_water + 1))
        assert {r["id"] for r in changed} == {i for (t, i), e in latest.items() if t == table and e["op"] != "delete"}
        assert sorted(now) == admin.record_ids(name, table)


def test_mutate_is_deterministic_per_seed_and_follows_the_workflow(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    report = admin.mutate(hd_fresh.name, updates=200, seed=4, tables=["tickets"])
    tickets = {r["id"]: r for r in hd_fresh.all("tickets")}
    for record in tickets.values():
        status = record["status"]
        assert (record["closed_at"] is not None) == (status == "closed")
        assert (record["solved_at"] is not None) == (status in ("solved", "closed")), record
        if status != "new":
            assert record["first_response_at"] is not None and record["assignee"] is not None
        for field in ("first_response_at", "solved_at", "closed_at"):
            if record[field] is not None:
                assert record["created_at"] <= record[field] <= record["updated_at"]
    assert {u["table"] for u in report["updated"]} == {"tickets"}
    assert any("status" in u["fields"] for u in report["updated"])


def test_deletes_only_remove_unreferenced_records(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.mutate(hd_fresh.name, deletes=60, seed=9)
    companies = {r["id"] for r in hd_fresh.all("companies")}
    contacts = {r["id"]: r for r in hd_fresh.all("contacts")}
    tickets = {r["id"]: r for r in hd_fresh.all("tickets")}
    assert all(c["company_id"] in companies for c in contacts.values())
    assert all(t["company_id"] in companies for t in tickets.values())
    assert all(t["contact_id"] is None or t["contact_id"] in contacts for t in tickets.values())
    for entry in hd_fresh.all("time_entries"):
        assert entry["ticket_id"] in tickets
        assert entry["company_id"] == tickets[entry["ticket_id"]]["company_id"]


def test_admin_records_crud(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    name = hd_fresh.name
    created = admin.create_record(name, "tickets", {"subject": "Scanner offline", "priority": "urgent"})
    record_id = created["id"]
    assert record_id == max(admin.record_ids(name, "tickets"))
    assert created["subject"] == "Scanner offline" and created["status"] == "new"
    assert created["created_at"] == created["updated_at"]
    assert not schema_errors("tickets", created)
    assert hd_fresh.ok(f"tickets/{record_id}")["data"] == created

    updated = admin.update_record(name, "tickets", record_id, {"status": "open", "due_at": None})
    assert updated["status"] == "open" and updated["due_at"] is None  # null clears: the field stays, as null
    assert list(updated) == list(created)
    assert updated["updated_at"] > created["updated_at"]  # strictly later, even within the same second
    assert hd_fresh.ok(f"tickets/{record_id}")["data"] == updated
    # the id and the stamps are the service's, not the caller's
    again = admin.update_record(name, "tickets", record_id, {"updated_at": "2000-01-01T00:00:00Z"})
    assert again["updated_at"] > updated["updated_at"]

    with_id = admin.create_record(name, "companies", {"id": 900000, "name": "Fixed Id Ltd"})
    assert with_id["id"] == 900000 and hd_fresh.ok("companies/900000")["data"]["name"] == "Fixed Id Ltd"
    assert admin.get_record(name, "time-entries", admin.record_ids(name, "time_entries")[0])["ticket_id"]

    deleted = admin.delete_record(name, "tickets", record_id)
    assert deleted == again
    assert hd_fresh.get(f"tickets/{record_id}").status_code == 404
    assert record_id not in {r["id"] for r in hd_fresh.all("tickets")}
    history = admin.changes(name, table="tickets", record_id=record_id)
    assert [(e["op"], e["version"]) for e in history] == [("insert", 1), ("update", 2), ("update", 3), ("delete", 4)]
    assert history[-1]["last_updated"] > history[-2]["last_updated"]


def test_admin_insert_of_every_table_references_live_records(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    name = hd_fresh.name
    company = admin.create_record(name, "companies")
    contact = admin.create_record(name, "contacts")
    ticket = admin.create_record(name, "tickets")
    entry = admin.create_record(name, "time_entries")
    for table, record in (("companies", company), ("contacts", contact), ("tickets", ticket), ("time_entries", entry)):
        assert not schema_errors(table, record), schema_errors(table, record)
    ids = {t: set(admin.record_ids(name, t)) for t in TABLES}
    assert contact["company_id"] in ids["companies"]
    assert ticket["company_id"] in ids["companies"]
    assert entry["ticket_id"] in ids["tickets"]
    assert entry["ended_at"] <= entry["created_at"]
    assert company["name"] not in {r["name"] for r in hd_fresh.all("companies") if r["id"] != company["id"]}
