"""Changes to a Salesforce org: admin CRUD with string Ids, mutate, the change log, soft deletes and replication."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.client import SandboxAdminError
from avesa_sandbox.salesforce.mutate import REFERENCE_FIELDS
from avesa_sandbox.salesforce.tables import OBJECTS

from .salesforce_support import SfClient, error_code, fresh_org


@pytest.fixture
def sf(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sfc") as client:
        yield client


def epoch(text: str) -> int:
    """Seconds of an API datetime (``...000+0000``) or a change-log stamp (``...Z``)."""
    return int(datetime.fromisoformat(text).timestamp())


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def served(sf: SfClient, obj: str, record_id: str, all_rows: bool = False) -> dict[str, Any] | None:
    found = sf.records(f"SELECT FIELDS(ALL) FROM {obj} WHERE Id = '{record_id}' LIMIT 1", all_rows=all_rows)
    if not found:
        return None
    return {k: v for k, v in found[0].items() if k != "attributes"}


def test_admin_crud_with_salesforce_ids(sf: SfClient, admin: SandboxAdmin) -> None:
    account = admin.create_record(sf.instance, "account", {"Name": "Sandbox Test Co", "industry": "Banking"})
    assert account["Id"].startswith("0015g0") and len(account["Id"]) == 18
    assert account["Name"] == "Sandbox Test Co" and account["Industry"] == "Banking"
    assert account["CreatedDate"] == account["LastModifiedDate"] == account["SystemModstamp"]
    assert account["CreatedById"] == account["LastModifiedById"] and account["CreatedById"].startswith("005")
    assert served(sf, "Account", account["Id"]) == account
    assert admin.get_record(sf.instance, "Account", account["Id"][:15]) == account
    assert account["Id"] in admin.record_ids(sf.instance, "Account")

    contact = admin.create_record(sf.instance, "Contact", {"AccountId": account["Id"]})
    user = sf.records("SELECT Id FROM User WHERE IsActive = true ORDER BY Id DESC LIMIT 1")[0]["Id"]
    changed = admin.update_record(sf.instance, "Contact", contact["Id"], {"FirstName": "Ada", "Title": None}, by=user)
    assert changed["Name"] == f"Ada {contact['LastName']}" and changed["Title"] is None and "Title" in changed
    assert changed["LastModifiedById"] == user and changed["CreatedById"] == contact["CreatedById"]
    assert changed["SystemModstamp"] > contact["SystemModstamp"] and changed["CreatedDate"] == contact["CreatedDate"]
    touched = admin.update_record(sf.instance, "Contact", contact["Id"], {}, by="system")
    assert touched["SystemModstamp"] > changed["SystemModstamp"]
    assert touched["LastModifiedDate"] == changed["LastModifiedDate"] and touched["LastModifiedById"] == user

    with pytest.raises(SandboxAdminError, match="no field"):
        admin.update_record(sf.instance, "Contact", contact["Id"], {"Nickname": "x"})
    with pytest.raises(SandboxAdminError) as wrong_prefix:
        admin.get_record(sf.instance, "Contact", account["Id"])
    assert wrong_prefix.value.status == 400
    with pytest.raises(SandboxAdminError):
        admin.get_record(sf.instance, "Contact", "not-an-id")

    deleted = admin.delete_record(sf.instance, "Contact", contact["Id"])
    assert deleted["Id"] == contact["Id"]
    assert served(sf, "Contact", contact["Id"]) is None
    gone = sf.get(f"sobjects/Contact/{contact['Id']}")
    assert gone.status_code == 404 and error_code(gone) == "ENTITY_IS_DELETED"
    log = admin.changes(sf.instance, table="Contact", record_id=contact["Id"])
    assert [e["op"] for e in log] == ["insert", "update", "update", "delete"]
    binned = served(sf, "Contact", contact["Id"], all_rows=True)
    assert binned is not None and binned["IsDeleted"] is True
    assert epoch(binned["SystemModstamp"]) == epoch(log[-1]["last_updated"]) > epoch(touched["SystemModstamp"])
    assert {k: v for k, v in binned.items() if k not in ("IsDeleted", "SystemModstamp")} == {
        k: v for k, v in touched.items() if k not in ("IsDeleted", "SystemModstamp")
    }


def test_mutate_and_the_change_log_agree_with_what_is_served(sf: SfClient, admin: SandboxAdmin) -> None:
    start_seq = len(admin.changes(sf.instance))
    report = admin.mutate(sf.instance, updates=120, inserts=25, deletes=12, seed=9)
    assert report["counts"]["inserted"] == 25 and report["counts"]["updated"] == 120
    assert report["counts"]["deleted"] == 12 and report["counts"]["noop_updates"] > 0
    entries = admin.changes(sf.instance, after_seq=start_seq)
    assert len(entries) == 25 + 120 + 12
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in entries:
        latest[(entry["table"], entry["id"])] = entry
    for (obj, record_id), entry in latest.items():
        if entry["op"] == "delete":
            assert served(sf, obj, record_id) is None
            binned = served(sf, obj, record_id, all_rows=True)
            assert binned is not None and binned["IsDeleted"] is True
            assert epoch(binned["SystemModstamp"]) == epoch(entry["last_updated"])
        else:
            assert served(sf, obj, record_id) == entry["record"]
            assert epoch(entry["record"]["SystemModstamp"]) == epoch(entry["last_updated"])
    deleted = [(e["table"], e["id"]) for e in entries if e["op"] == "delete"]
    assert not any(obj == "User" for obj, _ in deleted)
    live_references = {
        record.get(field)
        for obj, fields in REFERENCE_FIELDS.items()
        for record in sf.records(f"SELECT {', '.join(fields)} FROM {obj}")
        for field in fields
    }
    assert not live_references & {record_id for _, record_id in deleted}


def test_incremental_query_on_system_modstamp_sees_exactly_the_changes(sf: SfClient, admin: SandboxAdmin) -> None:
    since = time.time() - 1
    report = admin.mutate(sf.instance, updates=60, inserts=15, deletes=8, seed=4)
    changed = {(i["table"], i["id"]) for i in report["inserted"] + report["updated"]} - {
        (d["table"], d["id"]) for d in report["deleted"]
    }
    seen = set()
    for obj in OBJECTS:
        records = sf.records(f"SELECT Id FROM {obj} WHERE SystemModstamp >= {iso(since)[:19]}Z ORDER BY Id")
        seen |= {(obj, r["Id"]) for r in records}
    assert seen == changed
    with_deletes = set()
    for obj in OBJECTS:
        if obj == "User":
            continue
        records = sf.records(
            f"SELECT Id, IsDeleted FROM {obj} WHERE SystemModstamp >= {iso(since)[:19]}Z", all_rows=True
        )
        with_deletes |= {(obj, r["Id"]) for r in records if r["IsDeleted"]}
    assert with_deletes == {(d["table"], d["id"]) for d in report["deleted"]}


def test_query_all_merges_live_and_deleted_rows_in_order(sf: SfClient, admin: SandboxAdmin) -> None:
    ids = sorted(admin.record_ids(sf.instance, "Task"))
    for record_id in ids[1:6]:
        admin.delete_record(sf.instance, "Task", record_id)
    everything = sf.records("SELECT Id, IsDeleted FROM Task ORDER BY Id", all_rows=True)
    assert [r["Id"] for r in everything] == ids
    assert [r["IsDeleted"] for r in everything[:7]] == [False, True, True, True, True, True, False]
    desc = sf.records("SELECT Id FROM Task ORDER BY Id DESC LIMIT 8", all_rows=True)
    assert [r["Id"] for r in desc] == ids[::-1][:8]
    by_stamp = sf.records("SELECT Id, SystemModstamp FROM Task ORDER BY SystemModstamp, Id", all_rows=True)
    assert [r["Id"] for r in by_stamp][-5:] == ids[1:6]  # deleted just now: the latest stamps
    assert sf.query("SELECT COUNT() FROM Task", all_rows=True).json()["totalSize"] == len(ids)
    assert sf.query("SELECT COUNT() FROM Task").json()["totalSize"] == len(ids) - 5
    assert sf.query("SELECT COUNT() FROM Task WHERE IsDeleted = true").json()["totalSize"] == 0


def test_deleted_and_updated_resources(sf: SfClient, admin: SandboxAdmin) -> None:
    now = time.time()
    victims = sorted(admin.record_ids(sf.instance, "Case"))[:3]
    for record_id in victims:
        admin.delete_record(sf.instance, "Case", record_id)
    survivor = sorted(admin.record_ids(sf.instance, "Case"))[0]
    admin.update_record(sf.instance, "Case", survivor, {"Priority": "High"})
    window = {"start": iso(now - 120), "end": iso(now + 120)}
    body = sf.get("sobjects/Case/deleted/", **window).json()
    assert sorted(r["id"] for r in body["deletedRecords"]) == victims
    assert all(r["deletedDate"].endswith(".000+0000") for r in body["deletedRecords"])
    assert body["earliestDateAvailable"] == "2024-01-01T00:00:00.000+0000"
    assert epoch(body["latestDateCovered"]) <= time.time() and body["latestDateCovered"].endswith(":00.000+0000")
    assert sf.get("sobjects/Case/updated/", **window).json()["ids"] == [survivor]
    assert sf.get("sobjects/Case/deleted/", start=iso(now - 7200), end=iso(now - 3600)).json()["deletedRecords"] == []
    assert sf.get("sobjects/User/deleted/", **window).json()["deletedRecords"] == []
    for params, code in (
        ({"start": iso(now - 31 * 86400), "end": iso(now)}, "INVALID_REPLICATION_DATE"),
        ({"start": iso(now), "end": iso(now - 60)}, "INVALID_REPLICATION_DATE"),
        ({"start": iso(now)}, "MISSING_ARGUMENT"),
        ({"start": "yesterday", "end": iso(now)}, "INVALID_PARAMETER_VALUE"),
    ):
        response = sf.get("sobjects/Case/deleted/", **params)
        assert response.status_code == 400 and error_code(response) == code, params


def test_the_recycle_bin_keeps_deleted_records_15_days(
    sf: SfClient, admin: SandboxAdmin, sandbox: SandboxServer
) -> None:
    victim = sorted(admin.record_ids(sf.instance, "Event"))[0]
    admin.delete_record(sf.instance, "Event", victim)
    deleted_at = epoch(admin.changes(sf.instance, table="Event", record_id=victim)[-1]["last_updated"])
    assert served(sf, "Event", victim, all_rows=True) is not None
    clock = sandbox.registry.clock  # type: ignore[union-attr]
    clock.offset_seconds += 16 * 86400
    try:
        assert served(sf, "Event", victim, all_rows=True) is None
        now = time.time() + clock.offset_seconds
        body = sf.get("sobjects/Event/deleted/", start=iso(now - 20 * 86400), end=iso(now)).json()
        assert body["deletedRecords"] == [] and epoch(body["earliestDateAvailable"]) == deleted_at
        assert sf.get(f"sobjects/Event/{victim}").status_code == 404
    finally:
        clock.offset_seconds -= 16 * 86400
