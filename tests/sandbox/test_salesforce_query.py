"""SOQL over HTTP: batches and query cursors, incremental filters, field selection, counts, bad queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from avesa_sandbox import SandboxAdmin, SandboxServer
from avesa_sandbox.salesforce.schema import object_def
from avesa_sandbox.salesforce.simulator import SalesforceSimulator
from avesa_sandbox.salesforce.tables import OBJECTS

from .salesforce_support import SfClient, error_code, fresh_org

TASKS = 650


@pytest.fixture(scope="module")
def sf(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sfq", counts={"Task": TASKS}) as client:
        yield client


@pytest.fixture
def fresh(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sfqf", counts={"Task": 450}) as client:
        yield client


def test_paging_to_the_end_returns_every_record_exactly_once(sf: SfClient, admin: SandboxAdmin) -> None:
    first = sf.query("SELECT Id, Subject FROM Task ORDER BY Id", batch_size=200)
    body = first.json()
    assert body["totalSize"] == TASKS and body["done"] is False and len(body["records"]) == 200
    assert body["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert body["nextRecordsUrl"].endswith("-200")
    records = sf.records("SELECT Id, Subject FROM Task ORDER BY Id", batch_size=200)
    ids = [r["Id"] for r in records]
    assert ids == sorted(ids) and len(set(ids)) == TASKS
    assert set(ids) == set(admin.record_ids(sf.instance, "Task"))


def test_default_batch_is_2000_and_the_batch_size_header_is_clamped(sf: SfClient) -> None:
    assert len(sf.query("SELECT Id FROM Task").json()["records"]) == TASKS
    assert len(sf.query("SELECT Id FROM Task", batch_size=50).json()["records"]) == 200
    assert len(sf.query("SELECT Id FROM Task", batch_size=300).json()["records"]) == 300
    assert len(sf.query("SELECT Id FROM Task", batch_size=9000).json()["records"]) == TASKS


def test_records_carry_attributes_and_exactly_the_selected_fields_in_order(sf: SfClient) -> None:
    record = sf.query("SELECT subject, ID, systemmodstamp, WhoId FROM Task LIMIT 1").json()["records"][0]
    assert list(record) == ["attributes", "Subject", "Id", "SystemModstamp", "WhoId"]
    assert record["attributes"] == {"type": "Task", "url": f"/services/data/v59.0/sobjects/Task/{record['Id']}"}
    assert record["SystemModstamp"].endswith(".000+0000") and len(record["SystemModstamp"]) == 28
    other_version = sf.get("/services/data/v61.0/query", q="SELECT Id FROM Task LIMIT 1").json()["records"][0]
    assert other_version["attributes"]["url"].startswith("/services/data/v61.0/sobjects/Task/")


def test_fields_all_selects_every_field_and_needs_a_limit(sf: SfClient) -> None:
    record = sf.query("SELECT FIELDS(ALL) FROM Account LIMIT 200").json()["records"][0]
    assert list(record)[1:] == list(object_def("Account").field_names)
    refused = sf.query("SELECT FIELDS(ALL) FROM Account")
    assert refused.status_code == 400 and error_code(refused) == "MALFORMED_QUERY"
    standard = sf.query("SELECT FIELDS(STANDARD) FROM Account").json()["records"][0]
    assert "SLA__c" not in standard and "Name" in standard


def test_system_modstamp_window_and_id_keyset_select_exactly_the_matching_records(sf: SfClient) -> None:
    everything = sf.records("SELECT Id, SystemModstamp FROM Task ORDER BY Id")
    low, high = "2024-06-01T00:00:00.000+0000", "2025-03-01T00:00:00.000+0000"
    expected = [r["Id"] for r in everything if low <= r["SystemModstamp"] < high]
    assert 0 < len(expected) < len(everything)
    window = "SystemModstamp >= 2024-06-01T00:00:00Z AND SystemModstamp < 2025-03-01T00:00:00Z"
    got = sf.records(f"SELECT Id FROM Task WHERE {window} ORDER BY Id")
    assert [r["Id"] for r in got] == expected
    # the same window in pages of 100 by keyset, as a connector walks it
    seen: list[str] = []
    last = None
    while True:
        keyset = f" AND Id > '{last}'" if last else ""
        page = sf.query(f"SELECT Id FROM Task WHERE {window}{keyset} ORDER BY Id LIMIT 100").json()["records"]
        seen += [r["Id"] for r in page]
        if len(page) < 100:
            break
        last = page[-1]["Id"]
    assert seen == expected
    # offsets and 15-character ids mean the same instants and records
    offset = sf.records(
        "SELECT Id FROM Task WHERE SystemModstamp >= 2024-05-31T17:00:00-07:00 "
        "AND SystemModstamp < 2025-03-01T01:00:00.000+0100 ORDER BY Id"
    )
    assert [r["Id"] for r in offset] == expected
    short = sf.records(f"SELECT Id FROM Task WHERE Id >= '{expected[3][:15]}' AND {window} ORDER BY Id")
    assert [r["Id"] for r in short] == expected[3:]


def test_order_by_system_modstamp_then_id(sf: SfClient) -> None:
    records = sf.records("SELECT Id, SystemModstamp FROM Task ORDER BY SystemModstamp ASC, Id ASC")
    keys = [(r["SystemModstamp"], r["Id"]) for r in records]
    assert keys == sorted(keys) and len(keys) == TASKS


def test_order_by_other_fields_limit_and_offset(sf: SfClient) -> None:
    records = sf.records("SELECT Id, Name, AnnualRevenue FROM Account ORDER BY AnnualRevenue DESC NULLS LAST, Name")
    revenues = [r["AnnualRevenue"] for r in records]
    present = [r for r in revenues if r is not None]
    assert present == sorted(present, reverse=True) and revenues[len(present) :] == [None] * (
        len(revenues) - len(present)
    )
    everything = [r["Id"] for r in sf.records("SELECT Id FROM Contact ORDER BY Id DESC")]
    assert everything == sorted(everything, reverse=True)
    page = [r["Id"] for r in sf.records("SELECT Id FROM Contact ORDER BY Id DESC LIMIT 5 OFFSET 3")]
    assert page == everything[3:8]


def test_count_queries(sf: SfClient) -> None:
    body = sf.query("SELECT COUNT() FROM Task").json()
    assert body == {"totalSize": TASKS, "done": True, "records": []}
    closed = sf.query("SELECT COUNT() FROM Task WHERE IsClosed = true").json()["totalSize"]
    assert closed == len(sf.records("SELECT Id FROM Task WHERE IsClosed = true"))
    aggregate = sf.query("SELECT COUNT(WhoId) FROM Task").json()
    with_who = len(sf.records("SELECT Id FROM Task WHERE WhoId != null"))
    assert aggregate["totalSize"] == 1
    assert aggregate["records"] == [{"attributes": {"type": "AggregateResult"}, "expr0": with_who}]


def test_filters_on_other_fields(sf: SfClient) -> None:
    cases = sf.records("SELECT Id, Status, Priority, Subject, AccountId FROM Case")
    closed_high = sf.records("SELECT Id FROM Case WHERE status = 'CLOSED' AND (Priority = 'High' OR Priority = 'Low')")
    expected = [c["Id"] for c in cases if c["Status"] == "Closed" and c["Priority"] in ("High", "Low")]
    assert [r["Id"] for r in closed_high] == expected
    account = next(c["AccountId"] for c in cases if c["AccountId"])
    mine = sf.records(f"SELECT Id FROM Case WHERE AccountId IN ('{account}', '{account[:15]}') AND NOT Status = 'New'")
    assert [r["Id"] for r in mine] == [c["Id"] for c in cases if c["AccountId"] == account and c["Status"] != "New"]
    like = sf.records("SELECT Id, Subject FROM Case WHERE Subject LIKE '%password%'")
    assert [r["Id"] for r in like] == [c["Id"] for c in cases if "password" in c["Subject"].lower()]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Nothing", "INVALID_TYPE"),
        ("SELECT Id, Bogus FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE SystemModstamp > '2024-01-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE Id = 'not-an-id'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY"),
        ("SELECT Id Name FROM Account", "MALFORMED_QUERY"),
        ("", "MALFORMED_QUERY"),
    ],
)
def test_bad_queries_are_400_with_the_real_error_codes(sf: SfClient, soql: str, code: str) -> None:
    response = sf.query(soql)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    if soql:
        assert "ERROR at Row:1:Column:" in response.json()[0]["message"]


def test_a_cursor_snapshots_the_result_at_query_time(fresh: SfClient, admin: SandboxAdmin) -> None:
    first = fresh.query("SELECT Id, Subject FROM Task ORDER BY Id", batch_size=200).json()
    ids = [r["Id"] for r in first["records"]]
    admin.mutate(fresh.instance, inserts=30, seed=2, tables=["Task"])
    victim = first["records"][0]["Id"]  # already served
    later = sorted(admin.record_ids(fresh.instance, "Task"))[250]  # in a later batch
    admin.update_record(fresh.instance, "Task", later, {"Subject": "Changed while paging"})
    url = first["nextRecordsUrl"]
    while url:
        body = fresh.get(url).json()
        ids += [r["Id"] for r in body["records"]]
        for record in body["records"]:
            if record["Id"] == later:
                assert record["Subject"] == "Changed while paging"  # values are read when served
        url = body.get("nextRecordsUrl")
        assert body["totalSize"] == 450
    assert len(ids) == 450 == len(set(ids)) and victim in ids


def test_bad_expired_and_evicted_locators_are_invalid_query_locator(fresh: SfClient, sandbox: SandboxServer) -> None:
    simulator = sandbox.registry.get(fresh.instance).simulator  # type: ignore[union-attr]
    assert isinstance(simulator, SalesforceSimulator)
    url = fresh.query("SELECT Id FROM Task", batch_size=200).json()["nextRecordsUrl"]
    locator = url.rsplit("/", 1)[1].split("-")[0]
    for bad in ("01gnotalocator-200", f"{locator}-9999", f"{locator}-0", "garbage"):
        response = fresh.get(f"/services/data/v59.0/query/{bad}")
        assert response.status_code == 400 and error_code(response) == "INVALID_QUERY_LOCATOR", bad
    assert fresh.get(url).status_code == 200  # any offset inside the result may be read again
    assert fresh.get(f"/services/data/v59.0/query/{locator}-300").json()["records"]
    simulator.cursors.ttl_seconds = 0.0
    try:
        expired = fresh.get(url)
    finally:
        simulator.cursors.ttl_seconds = 900.0
    assert expired.status_code == 400 and error_code(expired) == "INVALID_QUERY_LOCATOR"
    urls = [fresh.query("SELECT Id FROM Task", batch_size=200).json()["nextRecordsUrl"] for _ in range(11)]
    assert fresh.get(urls[0]).status_code == 400  # the eleventh cursor released the oldest
    assert all(fresh.get(u).status_code == 200 for u in urls[1:])


def test_describe_and_sobject_resources(sf: SfClient) -> None:
    listed = sf.get("sobjects").json()
    assert {o["name"]: o["keyPrefix"] for o in listed["sobjects"]} == {n: o.key_prefix for n, o in OBJECTS.items()}
    describe = sf.get("sobjects/account/describe").json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["Industry"]["type"] == "picklist" and "Banking" in [
        p["value"] for p in fields["Industry"]["picklistValues"]
    ]
    assert fields["OwnerId"]["referenceTo"] == ["User"] and fields["Name"]["nillable"] is False
    assert sf.get("sobjects/Nothing/describe").status_code == 404
    assert set(sf.get("").json()) >= {"sobjects", "query", "queryAll", "limits"}


def test_retrieve_one_record(sf: SfClient) -> None:
    account: dict[str, Any] = sf.query("SELECT FIELDS(ALL) FROM Account LIMIT 1").json()["records"][0]
    full = sf.get(f"sobjects/Account/{account['Id']}").json()
    assert full == account
    assert sf.get(f"sobjects/Account/{account['Id'][:15]}").json()["Id"] == account["Id"]
    some = sf.get(f"sobjects/Account/{account['Id']}", fields="Name,id").json()
    assert list(some) == ["attributes", "Name", "Id"]
    missing = sf.get("sobjects/Account/0015g0000000001AAA")
    assert missing.status_code == 404 and error_code(missing) == "NOT_FOUND"
    assert sf.get("sobjects/Account/garbage").status_code == 404


def test_unknown_resources_and_methods(sf: SfClient) -> None:
    assert error_code(sf.get("nothing")) == "NOT_FOUND"
    assert sf.get("/services/data/latest/query", q="SELECT Id FROM Account").status_code == 404
    response = sf.http.post(f"{sf.instance_url}/services/data/v59.0/sobjects/Account", headers=sf.headers(), json={})
    assert response.status_code == 405 and error_code(response) == "METHOD_NOT_ALLOWED"
