"""The five ConnectWise tables added after the first eight (boards, configurations, opportunities,
project tickets, schedule entries): generated after the others without changing them, their
references point at records that exist, they are served with the same query features, and
``mutate`` changes them realistically without breaking references."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.connectwise.generate import generate
from avesa_sandbox.connectwise.references import References
from avesa_sandbox.connectwise.tables import SCALES, TABLES, table_counts

from .conftest import CwClient, links

NEW = ("service/boards", "company/configurations", "sales/opportunities", "project/tickets", "schedule/entries")
FIRST_EIGHT = tuple(t for t in TABLES if t not in NEW)
REFS = "http://127.0.0.1:1/connectwise/golden/v4_6_release/apis/3.0"

GOLDEN_FIRST_EIGHT = "5466355ce9c51e8089ddd91829a3232f0476e49ab9f1fb4a86c62194c1b2e4d9"
"""sha256 of the first eight tables of (tiny, seed 1, "golden") as generated before the five were added."""


def _ids(cw: CwClient, table: str) -> set[int]:
    return {r["id"] for r in cw.all(table, fields="id")}


def test_the_first_eight_tables_are_unchanged_by_the_five_added_later() -> None:
    data = generate(1, "golden", table_counts("tiny"), References(REFS))
    assert list(data)[: len(FIRST_EIGHT)] == list(FIRST_EIGHT)
    digest = hashlib.sha256(orjson.dumps({t: data[t] for t in FIRST_EIGHT})).hexdigest()
    assert digest == GOLDEN_FIRST_EIGHT
    without = generate(1, "golden", table_counts("tiny", dict.fromkeys(NEW, 0)), References(REFS))
    assert {t: without[t] for t in FIRST_EIGHT} == {t: data[t] for t in FIRST_EIGHT}
    assert all(without[t] == [] for t in NEW)


def test_scale_presets_include_the_new_tables_and_tiny_stays_small() -> None:
    for scale, counts in SCALES.items():
        assert set(counts) == set(TABLES), scale
    assert all(SCALES["tiny"][t] <= 40 for t in NEW)
    for table in NEW:
        assert SCALES["tiny"][table] < SCALES["small"][table] < SCALES["medium"][table] < SCALES["large"][table]


def test_new_tables_reference_existing_records(cw: CwClient) -> None:
    ids = {endpoint: _ids(cw, endpoint) for endpoint in TABLES}
    contacts = {c["id"]: c for c in cw.all("company/contacts", fields="id,company")}
    boards = {b["id"]: b for b in cw.all("service/boards")}
    # the boards tickets are on exist; service tickets are on service boards, project tickets on project boards
    for ticket in cw.all("service/tickets", fields="id,board"):
        assert boards[ticket["board"]["id"]]["projectFlag"] is False
    service_ticket_ids = ids["service/tickets"]
    for ticket in cw.all("project/tickets"):
        assert ticket["recordType"] == "ProjectTicket"
        assert ticket["id"] not in service_ticket_ids  # one id sequence in ConnectWise
        assert boards[ticket["board"]["id"]]["projectFlag"] is True
        assert ticket["company"]["id"] in ids["company/companies"]
        if "contact" in ticket:
            assert ticket["contact"]["id"] in ids["company/contacts"]
        if "owner" in ticket:
            assert ticket["owner"]["id"] in ids["system/members"]
        assert ticket["closedFlag"] == ("closedDate" in ticket)
    for config in cw.all("company/configurations"):
        assert config["company"]["id"] in ids["company/companies"]
        if "contact" in config:
            assert contacts[config["contact"]["id"]]["company"]["id"] == config["company"]["id"]
        if "installedBy" in config:
            assert config["installedBy"]["id"] in ids["system/members"]
    for opportunity in cw.all("sales/opportunities"):
        assert opportunity["company"]["id"] in ids["company/companies"]
        assert contacts[opportunity["contact"]["id"]]["company"]["id"] == opportunity["company"]["id"]
        assert opportunity["primarySalesRep"]["id"] in ids["system/members"]
        assert (opportunity["status"]["name"] != "Open") == ("closedDate" in opportunity)
    targets = {"S": service_ticket_ids | ids["project/tickets"], "O": ids["sales/opportunities"]}
    kinds = set()
    for entry in cw.all("schedule/entries"):
        kinds.add(entry["type"]["identifier"])
        assert entry["objectId"] in targets[entry["type"]["identifier"]]
        assert entry["member"]["id"] in ids["system/members"]
        assert entry["dateStart"] < entry["dateEnd"]
    assert kinds == {"S", "O"}
    for endpoint in NEW:
        for record in cw.all(endpoint, fields="id,_info"):
            info = record["_info"]
            assert info["dateEntered"] <= info["lastUpdated"] and info["updatedBy"]


def test_configurations_and_opportunities_carry_custom_fields(cw: CwClient) -> None:
    for endpoint, captions in (
        ("company/configurations", {"RMM Agent Installed", "Lifecycle Stage"}),
        ("sales/opportunities", {"Estimated MRR", "Competitor"}),
        ("project/tickets", {"Billable Milestone"}),
    ):
        for record in cw.all(endpoint, fields="id,customFields"):
            assert {f["caption"] for f in record["customFields"]} == captions, endpoint


@pytest.mark.parametrize("endpoint", NEW)
def test_count_paging_fields_and_ordering_work_on_the_new_tables(cw: CwClient, endpoint: str) -> None:
    records = cw.all(endpoint)
    assert cw.get(f"{endpoint}/count").json() == {"count": len(records)}
    # navigable paging with a small page walks every record once, in id order
    seen: list[int] = []
    response = cw.get(endpoint, pageSize=3, orderBy="id asc")
    while True:
        assert response.status_code == 200
        seen += [r["id"] for r in response.json()]
        next_url = links(response).get("next")
        if not next_url:
            break
        response = cw.get_url(next_url)
    assert seen == sorted(r["id"] for r in records)
    # a lastUpdated window, as the pipeline asks for it
    middle = sorted(r["_info"]["lastUpdated"] for r in records)[len(records) // 2]
    window = f"_info/lastUpdated >= [{middle}] and id > 0"
    expected = sorted(r["id"] for r in records if r["_info"]["lastUpdated"] >= middle)
    assert [r["id"] for r in cw.all(endpoint, conditions=window, orderBy="id asc")] == expected
    assert cw.get(f"{endpoint}/count", conditions=window).json()["count"] == len(expected)
    projected = cw.get(endpoint, fields="id,_info/lastUpdated", pageSize=2).json()
    assert all(set(r) == {"id", "_info"} and set(r["_info"]) == {"lastUpdated"} for r in projected)
    one = records[len(records) // 2]
    assert cw.get(f"{endpoint}/{one['id']}").json() == one
    assert cw.get(f"{endpoint}/1999999999").status_code == 404
    newest_first = [r["id"] for r in cw.all(endpoint, orderBy="_info/lastUpdated desc, id desc")]
    assert newest_first == [r["id"] for r in sorted(records, key=lambda r: (r["_info"]["lastUpdated"], r["id"]))][::-1]


def test_conditions_on_fields_of_the_new_schemas(cw: CwClient) -> None:
    configs = cw.all("company/configurations")
    laptops = sorted(r["id"] for r in configs if r["type"]["name"] == "Laptop")
    assert laptops
    assert sorted(r["id"] for r in cw.all("company/configurations", conditions='type/name = "Laptop"')) == laptops
    open_deals = sorted(r["id"] for r in cw.all("sales/opportunities") if r["status"]["name"] == "Open")
    assert sorted(r["id"] for r in cw.all("sales/opportunities", conditions='status/name = "Open"')) == open_deals
    project_boards = sorted(r["id"] for r in cw.all("service/boards") if r["projectFlag"])
    assert sorted(r["id"] for r in cw.all("service/boards", conditions="projectFlag = true")) == project_boards
    entries = cw.all("schedule/entries", conditions='type/identifier = "O"')
    assert entries and all(e["type"]["identifier"] == "O" for e in entries)
    rmm = 'caption = "RMM Agent Installed" and value = true'
    with_rmm = sorted(r["id"] for r in cw.all("company/configurations", customFieldConditions=rmm))
    expected = sorted(
        r["id"] for r in configs if any(f["id"] == 13 and f.get("value") is True for f in r["customFields"])
    )
    assert with_rmm and with_rmm == expected
    bad = cw.get("company/configurations", conditions='noSuchField = "x"')
    assert bad.status_code == 400


def _live(admin: SandboxAdmin, name: str, table: str) -> set[int]:
    return set(admin.record_ids(name, table))


def _assert_references_intact(admin: SandboxAdmin, name: str, cw: CwClient) -> None:
    boards = _live(admin, name, "service/boards")
    tickets = _live(admin, name, "service/tickets") | _live(admin, name, "project/tickets")
    opportunities = _live(admin, name, "sales/opportunities")
    for table in ("service/tickets", "project/tickets"):
        assert all(t["board"]["id"] in boards for t in cw.all(table, fields="id,board")), table
    for entry in cw.all("schedule/entries", fields="id,objectId,type"):
        assert entry["objectId"] in (tickets if entry["type"]["identifier"] == "S" else opportunities)


def test_mutate_changes_the_new_tables_and_keeps_references(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    before = {t: {r["id"]: r for r in cw.all(t)} for t in NEW}
    report = admin.mutate(name, updates=120, inserts=15, deletes=0, seed=8, tables=list(NEW))
    assert report["counts"]["updated"] == 120 and report["counts"]["inserted"] == 15
    assert {i["table"] for i in report["updated"]} == set(NEW)
    changed_fields: dict[str, set[str]] = {}
    for item in report["updated"]:
        changed_fields.setdefault(item["table"], set()).update(item["fields"])
        current = admin.get_record(name, item["table"], item["id"])
        old = before[item["table"]].get(item["id"])
        if old is not None:
            assert current["_info"]["lastUpdated"] > old["_info"]["lastUpdated"]
    assert changed_fields["sales/opportunities"] & {"stage", "status", "expectedCloseDate"}
    assert changed_fields["project/tickets"] & {"status", "owner", "actualHours"}
    assert changed_fields["schedule/entries"] & {"doneFlag", "acknowledgedFlag", "member", "dateStart"}
    for item in report["inserted"]:
        record = admin.get_record(name, item["table"], item["id"])
        assert record["id"] > max(before[item["table"]], default=0)
    _assert_references_intact(admin, name, cw)
    # deletes spare what is referenced: boards with tickets, tickets and deals with schedule entries
    deletable = ["service/boards", "service/tickets", "project/tickets", "sales/opportunities"]
    report = admin.mutate(name, deletes=40, seed=3, tables=deletable)
    assert report["counts"]["deleted"] > 0
    _assert_references_intact(admin, name, cw)
    assert {1, 2, 3, 4} <= _live(admin, name, "service/boards")


def test_records_created_through_the_admin_api_reference_existing_records(
    admin: SandboxAdmin, fresh: tuple[str, CwClient]
) -> None:
    name, cw = fresh
    companies = _live(admin, name, "company/companies")
    projects = {p["id"]: p for p in cw.all("project/projects")}
    for table in NEW:
        created = admin.create_record(name, table)
        assert created["id"] == max(_live(admin, name, table))
        if "company" in created:
            assert created["company"]["id"] in companies
    ticket = admin.create_record(name, "project/tickets")
    assert ticket["recordType"] == "ProjectTicket"
    assert ticket["company"]["id"] in {p["company"]["id"] for p in projects.values()}
    entry = admin.create_record(name, "schedule/entries")
    assert entry["type"]["identifier"] == "S" and entry["objectId"] in _live(admin, name, "service/tickets")
