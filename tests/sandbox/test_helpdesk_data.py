"""Acme Helpdesk data: served records match the JSON schema, references hold, generation is deterministic."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.helpdesk.generate import WINDOW_END, WINDOW_START
from avesa_sandbox.helpdesk.schema import document, fields, normalize, table_of
from avesa_sandbox.helpdesk.simulator import HelpdeskSimulator
from avesa_sandbox.helpdesk.tables import SCALES, table_counts
from avesa_sandbox.spec import InstanceSpec

from .helpdesk_support import HD_READ_ONLY, TABLES, HdClient, hd_instance, schema_errors  # noqa: F401


def test_the_schema_file_is_a_valid_json_schema() -> None:
    text = resources.files("avesa_sandbox.helpdesk").joinpath("records.schema.json").read_text("utf-8")
    Draft202012Validator.check_schema(json.loads(text))
    assert document()["x-tables"].keys() == set(TABLES)


@pytest.mark.parametrize("table", TABLES)
def test_served_records_match_the_schema_in_field_order(hd: HdClient, table: str) -> None:
    records = hd.all(table)
    assert len(records) == SCALES["tiny"][table]
    for record in records:
        assert schema_errors(table, record) == [], (record["id"], schema_errors(table, record))
        assert tuple(record) == fields(table)
        assert WINDOW_START <= parse_epoch(record["created_at"]) <= parse_epoch(record["updated_at"]) <= WINDOW_END


def test_the_schema_rejects_what_is_not_a_record(hd: HdClient) -> None:
    ticket = hd.ok("tickets", limit=1)["data"][0]
    assert schema_errors("tickets", {**ticket, "status": "resolved"})
    assert schema_errors("tickets", {**ticket, "updated_at": "2024-01-01 00:00:00"})
    assert schema_errors("tickets", {k: v for k, v in ticket.items() if k != "closed_at"})
    assert schema_errors("tickets", {**ticket, "unexpected": 1})


def test_references_point_at_records_that_existed_first(hd: HdClient) -> None:
    companies = {r["id"]: r for r in hd.all("companies")}
    contacts = {r["id"]: r for r in hd.all("contacts")}
    tickets = {r["id"]: r for r in hd.all("tickets")}
    entries = hd.all("time_entries")
    for contact in contacts.values():
        assert companies[contact["company_id"]]["created_at"] <= contact["created_at"]
        assert contact["email"].endswith("@" + companies[contact["company_id"]]["domain"])
    primaries = Counter(c["company_id"] for c in contacts.values() if c["is_primary"])
    assert set(primaries.values()) == {1}
    for ticket in tickets.values():
        company = companies[ticket["company_id"]]
        assert company["created_at"] <= ticket["created_at"]
        if ticket["contact_id"] is None:
            assert ticket["channel"] == "monitoring"
        else:
            assert contacts[ticket["contact_id"]]["company_id"] == ticket["company_id"]
        assert (ticket["closed_at"] is not None) == (ticket["status"] == "closed")
        assert (ticket["solved_at"] is not None) == (ticket["status"] in ("solved", "closed"))
        assert (ticket["assignee"] is None) == (ticket["status"] == "new")
        stamps = [ticket[f] for f in ("created_at", "first_response_at", "solved_at", "closed_at") if ticket[f]]
        assert stamps == sorted(stamps) and stamps[-1] <= ticket["updated_at"]
    for entry in entries:
        ticket = tickets[entry["ticket_id"]]
        assert entry["company_id"] == ticket["company_id"]
        assert ticket["created_at"] <= entry["started_at"] < entry["ended_at"] <= entry["created_at"]
        seconds = parse_epoch(entry["ended_at"]) - parse_epoch(entry["started_at"])
        assert abs(entry["hours"] * 3600 - seconds) < 36
        assert (entry["rate"] is not None) == entry["billable"]
        assert not entry["invoiced"] or entry["billable"]
    ids = [e["id"] for e in entries]
    assert [e["created_at"] for e in entries] == sorted(e["created_at"] for e in entries)  # ids follow creation
    assert ids == sorted(ids)


def test_data_is_realistic_not_uniform(hd: HdClient) -> None:
    tickets = hd.all("tickets")
    assert len({t["status"] for t in tickets}) >= 3
    assert len({t["subject"] for t in tickets}) >= 10
    assert len({t["assignee"]["id"] for t in tickets if t["assignee"]}) >= 3
    companies = hd.all("companies")
    assert len({c["name"] for c in companies}) == len(companies)
    assert any(c["address"]["line2"] is None for c in companies) or len(companies) < 5
    entries = hd.all("time_entries")
    assert {True, False} <= {e["billable"] for e in entries}
    assert len({e["hours"] for e in entries}) >= 4


def test_generation_is_deterministic_per_seed_and_name() -> None:
    def data(name: str, seed: int) -> dict[str, list[dict[str, object]]]:
        spec = InstanceSpec(name, service="helpdesk", scale="tiny", seed=seed)
        return HelpdeskSimulator().generate(spec, f"http://x/helpdesk/{name}")

    assert data("a", 1) == data("a", 1)
    assert data("a", 1) != data("a", 2)
    assert data("a", 1)["tickets"] != data("b", 1)["tickets"]
    small = HelpdeskSimulator().generate(InstanceSpec("a", service="helpdesk", scale="small"), "http://x")
    assert {t: len(r) for t, r in small.items()} == SCALES["small"]
    for table, records in small.items():
        assert not [e for r in records[:300] for e in schema_errors(table, r)]


def test_scales_and_count_overrides(admin: SandboxAdmin, hd: HdClient) -> None:
    assert SCALES["small"] == {"companies": 200, "contacts": 800, "tickets": 1500, "time_entries": 4000}
    assert SCALES["medium"]["time_entries"] == 20000 and SCALES["large"]["time_entries"] == 50000
    assert table_counts("tiny", {"time-entries": 5})["time_entries"] == 5
    with pytest.raises(ValueError, match="unknown scale"):
        table_counts("huge")
    assert admin.instance(HD_READ_ONLY)["counts"] == SCALES["tiny"]


def test_normalize_restores_removed_fields_and_keeps_unknown_ones(hd: HdClient) -> None:
    ticket = hd.ok("tickets", limit=1)["data"][0]
    partial = {k: v for k, v in ticket.items() if k not in ("closed_at", "subject")} | {"drift": 1}
    assert table_of(partial) == "tickets"
    shaped = normalize("tickets", partial)
    assert list(shaped) == [*fields("tickets"), "drift"]
    assert shaped["closed_at"] is None and shaped["subject"] is None
    for table in TABLES:
        record = hd.ok(table, limit=1)["data"][0]
        assert table_of(record) == table
