"""ServiceNow paging: offset + limit with X-Total-Count and Link, keyset paging by sys_id in a time window."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from avesa_sandbox import SandboxAdmin

from .servicenow_support import SnClient, sn_instance  # noqa: F401
from .support import links

TABLES = (
    "incident",
    "sys_user",
    "core_company",
    "time_card",
    "change_request",
    "problem",
    "cmdb_ci",
    "sys_user_group",
    "task_time_worked",
    "customer_account",
    "customer_contact",
)


def test_every_table_pages_to_the_end_with_every_record_once(admin: SandboxAdmin, sn: SnClient) -> None:
    for table in TABLES:
        expected = admin.record_ids(sn.name, table)
        served = [r["sys_id"] for r in sn.all(table, limit=7, sysparm_fields="sys_id")]
        assert len(served) == len(set(served)) == len(expected) > 0, table
        assert set(served) == set(expected), table
        assert served == sorted(served), f"{table}: default order is sys_id"


def test_link_header_and_total_count(sn: SnClient) -> None:
    total = len(sn.all("incident", sysparm_fields="sys_id"))
    first = sn.get("incident", sysparm_limit=10, sysparm_fields="number")
    assert first.headers["X-Total-Count"] == str(total)
    rels = links(first)
    assert set(rels) == {"first", "next", "last"}
    assert _offset(rels["next"]) == 10 and _offset(rels["first"]) == 0
    assert _offset(rels["last"]) == (total - 1) // 10 * 10
    assert parse_qs(urlsplit(rels["next"]).query)["sysparm_fields"] == ["number"]
    middle = sn.get_url(rels["next"])
    assert set(links(middle)) == {"first", "prev", "next", "last"}
    assert _offset(links(middle)["prev"]) == 0
    last = sn.get_url(rels["last"])
    assert "next" not in links(last)
    assert len(last.json()["result"]) == total - _offset(rels["last"])
    beyond = sn.get("incident", sysparm_limit=10, sysparm_offset=total + 5)
    assert beyond.status_code == 200 and beyond.json() == {"result": []}


def test_no_count_and_suppressed_pagination_header(sn: SnClient) -> None:
    response = sn.get("incident", sysparm_limit=10, sysparm_no_count="true")
    assert "X-Total-Count" not in response.headers
    assert set(links(response)) == {"first", "next"}
    quiet = sn.get("incident", sysparm_limit=10, sysparm_suppress_pagination_header="true")
    assert "Link" not in quiet.headers and quiet.headers["X-Total-Count"]


def test_limit_defaults_to_and_is_capped_at_10000(sn: SnClient) -> None:
    total = int(sn.get("incident", sysparm_limit=1).headers["X-Total-Count"])
    assert len(sn.get("incident").json()["result"]) == total
    capped = sn.get("incident", sysparm_limit=50000)
    assert parse_qs(urlsplit(links(capped)["first"]).query)["sysparm_limit"] == ["10000"]
    for junk in ("abc", "-5", "0"):
        assert len(sn.get("incident", sysparm_limit=junk).json()["result"]) == total


def test_keyset_paging_in_a_time_window(sn: SnClient) -> None:
    everything = sn.all("time_card", sysparm_fields="sys_id,sys_updated_on")
    start, end = "2024-06-01 00:00:00", "2025-06-01 00:00:00"
    window = sorted(r["sys_id"] for r in everything if start <= r["sys_updated_on"] < end)
    assert 10 < len(window) < len(everything)
    served: list[str] = []
    last = ""
    while True:
        query = f"sys_updated_on>={start}^sys_updated_on<{end}^ORDERBYsys_id"
        if last:
            query = f"sys_updated_on>={start}^sys_updated_on<{end}^sys_id>{last}^ORDERBYsys_id"
        page = sn.get("time_card", sysparm_query=query, sysparm_limit=9, sysparm_fields="sys_id").json()["result"]
        if not page:
            break
        served += [r["sys_id"] for r in page]
        last = page[-1]["sys_id"]
    assert served == window


def test_order_by_updated_then_sys_id_and_descending(sn: SnClient) -> None:
    fields = "sys_id,sys_updated_on,number"
    by_updated = sn.all("incident", sysparm_query="ORDERBYsys_updated_on^ORDERBYsys_id", sysparm_fields=fields)
    assert [(r["sys_updated_on"], r["sys_id"]) for r in by_updated] == sorted(
        (r["sys_updated_on"], r["sys_id"]) for r in by_updated
    )
    descending = sn.all("incident", sysparm_query="ORDERBYDESCnumber", sysparm_fields=fields)
    assert [r["number"] for r in descending] == sorted((r["number"] for r in descending), reverse=True)
    by_id_desc = sn.all("incident", sysparm_query="ORDERBYDESCsys_id", sysparm_fields="sys_id")
    assert [r["sys_id"] for r in by_id_desc] == sorted((r["sys_id"] for r in by_id_desc), reverse=True)


def test_one_record_by_sys_id_v1_v2_and_task_links(sn: SnClient) -> None:
    record = sn.get("incident", sysparm_limit=1).json()["result"][0]
    for api in ("api/now/table", "api/now/v1/table", "api/now/v2/table"):
        one = sn.get_url(f"{sn.url}/{api}/incident/{record['sys_id']}")
        assert one.status_code == 200 and one.json() == {"result": record}
    card = sn.get("time_card", sysparm_limit=1).json()["result"][0]
    assert "/api/now/table/task/" in card["task"]["link"]
    task = sn.get_url(card["task"]["link"])
    assert task.status_code == 200 and task.json()["result"]["sys_id"] == card["task"]["value"]
    assert task.json()["result"]["sys_class_name"] == "incident"
    missing = sn.get_url(f"{sn.url}/api/now/table/incident/{'0' * 32}")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"message": "No Record found", "detail": "Record doesn't exist or ACL restricts the record retrieval"},
        "status": "failure",
    }
    other_table = sn.get_url(f"{sn.url}/api/now/table/problem/{record['sys_id']}")
    assert other_table.status_code == 404


def test_aggregate_count(sn: SnClient) -> None:
    everything = sn.all("incident", sysparm_fields="active")
    active = sum(r["active"] == "true" for r in everything)
    stats = sn.get_url(
        f"{sn.url}/api/now/stats/incident", params={"sysparm_count": "true", "sysparm_query": "active=true"}
    )
    assert stats.json() == {"result": {"stats": {"count": str(active)}}}
    listed = sn.get("incident", sysparm_query="active=true", sysparm_limit=1)
    assert listed.headers["X-Total-Count"] == str(active)


def _offset(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["sysparm_offset"][0])
