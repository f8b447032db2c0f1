"""``sysparm_query``: operators, ^OR / ^NQ, ordering, dot-walks, date forms, and invalid parts ignored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from avesa_sandbox.servicenow.encoded_query import Condition, parse

from .servicenow_support import SnClient, sn_instance  # noqa: F401

Record = dict[str, Any]


@pytest.fixture(scope="module")
def incidents(sn: SnClient) -> list[Record]:
    return sn.all("incident")


@pytest.fixture(scope="module")
def users(sn: SnClient) -> dict[str, Record]:
    return {u["sys_id"]: u for u in sn.all("sys_user")}


def served(sn: SnClient, query: str, table: str = "incident") -> list[str]:
    response = sn.get(table, sysparm_query=query, sysparm_fields="sys_id")
    assert response.status_code == 200, response.text
    ids = [r["sys_id"] for r in response.json()["result"]]
    assert response.headers["X-Total-Count"] == str(len(ids))
    return ids


def expect(records: list[Record], keep: Callable[[Record], bool]) -> list[str]:
    return sorted(r["sys_id"] for r in records if keep(r))


def ref(record: Record, field: str) -> str:
    value = record[field]
    return value["value"] if isinstance(value, dict) else value


def test_parser_reads_groups_clauses_and_ordering() -> None:
    parsed = parse("active=true^priority<=2^ORstateIN1,2^NQcategory=network^ORDERBYDESCsys_updated_on^EQ")
    assert parsed.groups == (
        (
            (Condition("active", "=", "true"),),
            (Condition("priority", "<=", "2"), Condition("state", "IN", "1,2")),
        ),
        ((Condition("category", "=", "network"),),),
    )
    assert parsed.order == (("sys_updated_on", True),)
    assert parse("short_descriptionNOT LIKEvpn").groups[0][0][0] == Condition("short_description", "NOT LIKE", "vpn")
    assert parse("short_descriptionNOTLIKEvpn").groups[0][0][0].operator == "NOT LIKE"
    assert parse("descriptionLIKEa^^b").groups[0][0][0].value == "a^b"
    assert parse("Bogus piece^state=2").dropped == ("Bogus piece",)


def test_comparison_operators(sn: SnClient, incidents: list[Record]) -> None:
    cases: list[tuple[str, Callable[[Record], bool]]] = [
        ("state=7", lambda r: r["state"] == "7"),
        ("state!=7", lambda r: r["state"] != "7"),
        ("priority<3", lambda r: int(r["priority"]) < 3),
        ("priority>=4", lambda r: int(r["priority"]) >= 4),
        ("reassignment_count>0", lambda r: int(r["reassignment_count"]) > 0),
        ("stateIN1,2,3", lambda r: r["state"] in ("1", "2", "3")),
        ("stateNOT IN6,7", lambda r: r["state"] not in ("6", "7")),
        ("active=true", lambda r: r["active"] == "true"),
        ("active=1", lambda r: r["active"] == "true"),
        ("short_descriptionLIKEvpn", lambda r: "vpn" in r["short_description"].lower()),
        ("short_descriptionNOTLIKEvpn", lambda r: "vpn" not in r["short_description"].lower()),
        ("short_descriptionSTARTSWITHprinter", lambda r: r["short_description"].lower().startswith("printer")),
        ("short_descriptionENDSWITHoffline", lambda r: r["short_description"].lower().endswith("offline")),
        ("numberSTARTSWITHinc001", lambda r: r["number"].startswith("INC001")),
        ("resolved_atISEMPTY", lambda r: r["resolved_at"] == ""),
        ("resolved_atISNOTEMPTY", lambda r: r["resolved_at"] != ""),
        ("assigned_to=", lambda r: r["assigned_to"] == ""),
        ("priorityBETWEEN2@3", lambda r: 2 <= int(r["priority"]) <= 3),
        ("state=6^ORstate=8", lambda r: r["state"] in ("6", "8")),
        (
            "active=true^priority<=3^ORimpact=1",
            lambda r: r["active"] == "true" and (int(r["priority"]) <= 3 or r["impact"] == "1"),
        ),
        (
            "state=1^NQstate=3^category=network",
            lambda r: r["state"] == "1" or (r["state"] == "3" and r["category"] == "network"),
        ),
    ]
    for query, keep in cases:
        wanted = expect(incidents, keep)
        assert served(sn, query) == wanted, query
    assert 0 < len(served(sn, "state=7")) < len(incidents)


def test_references_dot_walks_and_field_comparisons(
    sn: SnClient,
    incidents: list[Record],
    users: dict[str, Record],
) -> None:
    caller = ref(incidents[0], "caller_id")
    assert served(sn, f"caller_id={caller}") == expect(incidents, lambda r: ref(r, "caller_id") == caller)
    name = users[caller]["name"]
    walked = expect(incidents, lambda r: users.get(ref(r, "caller_id"), {}).get("name") == name)
    assert served(sn, f"caller_id.name={name}") == walked
    assert served(sn, f"caller_idLIKE{name.split()[0]}") == expect(
        incidents, lambda r: name.split()[0].lower() in users.get(ref(r, "caller_id"), {}).get("name", "").lower()
    )
    vip = expect(incidents, lambda r: users.get(ref(r, "caller_id"), {}).get("vip") == "true")
    assert served(sn, "caller_id.vip=true") == vip
    same = expect(incidents, lambda r: r["opened_by"] and ref(r, "opened_by") == ref(r, "caller_id"))
    assert served(sn, "opened_bySAMEAScaller_id") == same


def test_dates_literal_javascript_and_relative(sn: SnClient, incidents: list[Record]) -> None:
    start, end = "2025-01-01 00:00:00", "2025-03-01 00:00:00"
    window = expect(incidents, lambda r: start <= r["sys_updated_on"] < end)
    assert window
    assert served(sn, f"sys_updated_on>={start}^sys_updated_on<{end}") == window
    generated = (
        "sys_updated_on>=javascript:gs.dateGenerate('2025-01-01','00:00:00')"
        "^sys_updated_on<javascript:gs.dateGenerate('2025-03-01','start')"
    )
    assert served(sn, generated) == window
    assert served(sn, "sys_updated_on>=2025-01-01^sys_updated_on<2025-03-01") == window
    between = f"sys_updated_onBETWEEN{start}@2025-02-28 23:59:59"
    assert served(sn, between) == window
    created = expect(incidents, lambda r: r["sys_created_on"] >= start)
    assert served(sn, f"sys_created_on>={start}") == created
    # generated data lies in the past: relative dates select all or nothing
    assert served(sn, "sys_updated_on>javascript:gs.daysAgoStart(1)") == []
    assert len(served(sn, "sys_updated_on<javascript:gs.beginningOfToday()")) == len(incidents)
    year = "javascript:gs.dateGenerate('2025-01-01','start')@javascript:gs.dateGenerate('2025-12-31','end')"
    on = f"opened_atONThis year@{year}"
    assert served(sn, on) == expect(incidents, lambda r: r["opened_at"].startswith("2025"))


def test_invalid_parts_are_silently_ignored(sn: SnClient, incidents: list[Record]) -> None:
    closed = expect(incidents, lambda r: r["state"] == "7")
    for junk in (
        "no_such_field=1",
        "stateFROBNICATE7",
        "priority<high",
        "sys_updated_on>=2025-01-01T00:00:00",
        "sys_updated_on>yesterday",
        "caller_id.no_such_field=x",
        "ORDERBYno_such_field",
        "Garbage",
    ):
        assert served(sn, f"{junk}^state=7") == closed, junk
        assert served(sn, f"state=7^{junk}") == closed, junk
    # a query that is nothing but invalid parts returns everything: the classic integration trap
    assert len(served(sn, "sys_updated_on>2025-01-01T00:00:00Z")) == len(incidents)


def test_sys_id_keyset_conditions(sn: SnClient, incidents: list[Record]) -> None:
    ids = sorted(r["sys_id"] for r in incidents)
    pivot = ids[len(ids) // 2]
    assert served(sn, f"sys_id>{pivot}") == [i for i in ids if i > pivot]
    assert served(sn, f"sys_id>={pivot}") == [i for i in ids if i >= pivot]
    assert served(sn, f"sys_id<{pivot}") == [i for i in ids if i < pivot]
    assert served(sn, f"sys_id={pivot}") == [pivot]
    assert served(sn, f"sys_id>{pivot.upper()}") == [i for i in ids if i > pivot]
    assert served(sn, f"sys_idIN{ids[0]},{ids[-1]}") == [ids[0], ids[-1]]
    assert served(sn, "sys_id>8") == [i for i in ids if i > "8"]
    assert served(sn, "sys_id=0123") == []
