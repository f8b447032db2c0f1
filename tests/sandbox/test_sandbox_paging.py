"""Paging: navigable (page/pageSize + Link first/prev/next/last) and forward-only (pageId)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import CwClient, links

TABLE = "service/tickets"


def all_ids(cw: CwClient, table: str = TABLE) -> list[int]:
    return [r["id"] for r in cw.all(table, fields="id")]


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_default_page_size_is_25_and_first_page_links(cw: CwClient) -> None:
    total = cw.get(f"{TABLE}/count").json()["count"]
    response = cw.get(TABLE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert len(response.json()) == 25
    rel = links(response)
    assert set(rel) == {"next", "last"}
    assert query_of(rel["next"])["page"] == ["2"]
    assert query_of(rel["last"])["page"] == [str(-(-total // 25))]
    assert rel["next"].startswith(cw.api + "/" + TABLE)


def test_middle_and_last_pages_have_first_and_prev(cw: CwClient) -> None:
    middle = links(cw.get(TABLE, page=2, pageSize=10))
    assert set(middle) == {"first", "prev", "next", "last"}
    assert query_of(middle["prev"])["page"] == ["1"]
    last_page = int(query_of(middle["last"])["page"][0])
    last = cw.get(TABLE, page=last_page, pageSize=10)
    assert set(links(last)) == {"first", "prev"}
    assert 1 <= len(last.json()) <= 10


def test_links_keep_the_other_parameters(cw: CwClient) -> None:
    response = cw.get(TABLE, conditions="id > 180010", orderBy="id desc", pageSize=5)
    query = query_of(links(response)["next"])
    assert query["conditions"] == ["id > 180010"]
    assert query["orderBy"] == ["id desc"]
    assert query["pageSize"] == ["5"]


def test_walking_links_yields_every_record_exactly_once(cw: CwClient) -> None:
    expected = sorted(all_ids(cw))
    seen: list[int] = []
    response = cw.get(TABLE, pageSize=7)
    while True:
        seen += [r["id"] for r in response.json()]
        nxt = links(response).get("next")
        if not nxt:
            break
        response = cw.get_url(nxt)
    assert seen == expected
    assert len(seen) == cw.get(f"{TABLE}/count").json()["count"]


def test_page_size_above_1000_is_served_as_1000(cw: CwClient) -> None:
    response = cw.get("time/entries", pageSize=5000)
    assert response.status_code == 200
    assert len(response.json()) == min(1000, cw.get("time/entries/count").json()["count"])


def test_invalid_paging_parameters_are_400(cw: CwClient) -> None:
    for params in ({"page": 0}, {"pageSize": 0}, {"page": "x"}, {"pageSize": "1.5"}):
        response = cw.get(TABLE, **params)
        assert response.status_code == 400, params
        assert response.json()["code"] == "InvalidObject"


def test_page_past_the_end_is_empty(cw: CwClient) -> None:
    assert cw.get(TABLE, page=1000, pageSize=25).json() == []


FORWARD = {"pagination-type": "forward-only"}


def test_forward_only_next_link_carries_page_id(cw: CwClient) -> None:
    response = cw.get(TABLE, headers=FORWARD, pageSize=10)
    ids = [r["id"] for r in response.json()]
    rel = links(response)
    assert set(rel) == {"next"}
    assert query_of(rel["next"])["pageId"] == [str(ids[-1])]


def test_page_id_acts_as_id_greater_than(cw: CwClient) -> None:
    ids = all_ids(cw)
    pivot = ids[10]
    response = cw.get(TABLE, headers=FORWARD, pageSize=5, pageId=pivot)
    assert [r["id"] for r in response.json()] == [i for i in ids if i > pivot][:5]


def test_forward_only_walk_yields_every_record_once_even_with_conditions(cw: CwClient) -> None:
    condition = 'status/name != "Closed"'
    expected = [r["id"] for r in cw.all(TABLE, conditions=condition, fields="id")]
    seen: list[int] = []
    response = cw.get(TABLE, headers=FORWARD, pageSize=4, conditions=condition)
    while True:
        seen += [r["id"] for r in response.json()]
        nxt = links(response).get("next")
        if not nxt:
            break
        response = cw.get_url(nxt, headers=FORWARD)
    assert seen == expected and expected


def test_forward_only_rejects_other_orders(cw: CwClient) -> None:
    assert cw.get(TABLE, headers=FORWARD, orderBy="id desc").status_code == 400
    assert cw.get(TABLE, headers=FORWARD, orderBy="id asc").status_code == 200


@given(size=st.integers(1, 60), forward=st.booleans())
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_page_size_yields_every_record_once(cw: CwClient, size: int, forward: bool) -> None:
    expected = sorted(r["id"] for r in cw.all("company/contacts", fields="id"))
    headers = FORWARD if forward else None
    seen: list[int] = []
    response = cw.get("company/contacts", headers=headers, pageSize=size, fields="id")
    for _ in range(1000):
        seen += [r["id"] for r in response.json()]
        nxt = links(response).get("next")
        if not nxt:
            break
        response = cw.get_url(nxt, headers=headers)
    assert seen == expected
