"""The parts specs assemble connectors from: record reading, paginators, window queries, rate headers."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from avesa.catalog.models import IncrementalSpec, PaginatorSpec, TableSpec
from avesa.connectors.paginators import END, NextPage, Paginator
from avesa.connectors.queries import QueryParams, ServiceNowQuery, Soql
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_headers import Allowance, allowance_from
from avesa.connectors.records import RecordReader
from avesa.connectors.templates import fill
from avesa.connectors.timeformats import format_stamp, parse_stamp
from avesa.domain.errors import ConfigError

START = datetime(2024, 1, 1, tzinfo=UTC)
END_ = datetime(2024, 1, 2, 12, 30, tzinfo=UTC)


def test_reader_keeps_exact_bytes_and_reads_only_the_envelope() -> None:
    reader = RecordReader(records="result", id_field="sys_id", change_field="sys_updated_on",
                          sensitive_fields=["password"], extras=["next"])
    body = (b'{"result":[{"sys_id":"a1","sys_updated_on":"2024-01-01 00:00:00","x": [1, 2]},'
            b'{"sys_id":"b2","sys_updated_on":"2024-01-01 00:00:01","password":"p"}],"next":"n"}')
    page = reader.read(body)
    assert page.raws[0] == b'{"sys_id":"a1","sys_updated_on":"2024-01-01 00:00:00","x": [1, 2]}'
    assert page.ids == ["a1", "b2"] and page.sensitive == [1] and page.extras == {"next": "n"}
    assert page.changes == ["2024-01-01 00:00:00", "2024-01-01 00:00:01"]


def test_reader_follows_nested_change_paths_and_deletion_markers() -> None:
    reader = RecordReader(records="", id_field="id", change_field="_info/lastUpdated", deleted_field="@removed")
    page = reader.read(b'[{"id":1,"_info":{"lastUpdated":"2024-01-01T00:00:00Z"}},'
                       b'{"id":2,"@removed":{"reason":"deleted"}},{"id":3,"_info":null}]')
    assert page.ids == [1, 2, 3] and page.changes == ["2024-01-01T00:00:00Z", None, None]
    assert page.deleted == [1]


def test_reader_refuses_a_body_without_its_list() -> None:
    with pytest.raises(ValueError, match="no 'data' list"):
        RecordReader(records="data", id_field="id").read(b'{"error": "x"}')


@pytest.mark.parametrize(("fmt", "text"), [("iso", "2024-01-02T12:30:00Z"), ("servicenow", "2024-01-02 12:30:00"),
                                           ("epoch_seconds", "1704198600"), ("epoch_millis", "1704198600000"),
                                           ("iso_millis", "2024-01-02T12:30:00.000Z")])
def test_time_formats_round_trip(fmt: str, text: str) -> None:
    assert format_stamp(END_, fmt) == text  # type: ignore[arg-type]
    assert parse_stamp(text, fmt) == END_  # type: ignore[arg-type]


def test_salesforce_offsets_parse_to_utc() -> None:
    assert parse_stamp("2024-01-02T13:30:00.000+0100", "iso") == END_


def test_servicenow_query_names_only_declared_parts() -> None:
    table = TableSpec(path="incident", id_field="sys_id", change_field="sys_updated_on")
    params = ServiceNowQuery(IncrementalSpec(style="servicenow_query", time_format="servicenow")).params(
        table, START, END_, "abc", 500)
    assert params["sysparm_query"] == ("sys_updated_on>=2024-01-01 00:00:00^sys_updated_on<2024-01-02 12:30:00"
                                       "^sys_id>abc^ORDERBYsys_id")
    assert params["sysparm_limit"] == 500


def test_soql_selects_the_spec_fields_in_a_window_after_the_cursor() -> None:
    table = TableSpec(path="Account", id_field="Id", change_field="SystemModstamp", fields=["Id", "Name"])
    soql = Soql(IncrementalSpec(style="soql", time_format="iso"))
    assert soql.params(table, START, END_, "001'x", 2000)["q"] == (
        "SELECT Id, Name FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:00Z AND SystemModstamp < "
        "2024-01-02T12:30:00Z AND Id > '001\\'x' ORDER BY Id ASC LIMIT 2000")
    assert soql.count(table, START, None) == "SELECT COUNT() FROM Account WHERE SystemModstamp >= 2024-01-01T00:00:00Z"


def test_query_params_style() -> None:
    inc = IncrementalSpec(since_param="updated_since", until_param="updated_before", after_id_param="after_id",
                          sort_params={"sort": "id"})
    table = TableSpec(path="tickets", change_field="updated_at", params={"include": "all"})
    params = QueryParams(inc, PaginatorSpec(type="keyset", page_size_param="limit")).params(table, START, END_, "7",
                                                                                            100)
    assert params == {"include": "all", "updated_since": "2024-01-01T00:00:00Z",
                      "updated_before": "2024-01-02T12:30:00Z", "after_id": "7", "sort": "id", "limit": 100}


def _next(paginator: Paginator, page: NextPage, received: int, **kwargs: object) -> NextPage | None:
    return paginator.next(page, received=received, page_size=10, last_id=kwargs.get("last_id"),  # type: ignore[arg-type]
                          headers=httpx.Headers(kwargs.get("headers") or {}), extras=kwargs.get("extras") or {})  # type: ignore[arg-type]


def test_paginators_resume_where_their_cursor_says() -> None:
    offset = Paginator(PaginatorSpec(type="offset", offset_param="offset"))
    second = _next(offset, offset.resume(None), 10)
    assert second == NextPage(params={"offset": 10}, cursor="10")
    assert offset.resume("10") == second
    assert _next(offset, second, 3) is None

    pages = Paginator(PaginatorSpec(type="page_number", page_param="page"))
    assert _next(pages, pages.resume("4"), 10) == NextPage(params={"page": 5}, cursor="5")

    keyset = Paginator(PaginatorSpec(type="keyset"))
    assert _next(keyset, keyset.resume(None), 10, last_id="42") == NextPage(params={}, cursor="42")

    links = Paginator(PaginatorSpec(type="next_link", next_path="@odata.nextLink"))
    assert _next(links, links.resume(None), 0, extras={"@odata.nextLink": "http://x/2"}).url == "http://x/2"
    assert _next(links, links.resume(None), 10, extras={"@odata.nextLink": None}) is None

    header = Paginator(PaginatorSpec(type="link_header"))
    link = '<http://x/?page=2>; rel="next", <http://x/?page=9>; rel="last"'
    assert _next(header, header.resume(None), 10, headers={"Link": link}).url == "http://x/?page=2"
    assert header.resume(END) is None


def test_rate_headers_are_read_in_both_styles() -> None:
    assert allowance_from(httpx.Headers({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "1700000030"}),
                          now=1_700_000_000) == Allowance(5, 30)
    assert allowance_from(httpx.Headers({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "30"})) == Allowance(5, 30)
    sforce = allowance_from(httpx.Headers({"Sforce-Limit-Info": "api-usage=99000/100000"}))
    assert sforce is not None and sforce.remaining == 1000
    assert allowance_from(httpx.Headers({})) is None


def test_a_budget_slows_to_what_is_left_and_pauses_when_nothing_is() -> None:
    budget = RateBudget(300, 50)
    budget.observe(Allowance(remaining=100, resets_in=60))
    assert budget.requests_per_minute == pytest.approx(100)
    budget.observe(Allowance(remaining=10_000, resets_in=60))
    assert budget.requests_per_minute == 300  # never faster than documented
    budget.observe(Allowance(remaining=0, resets_in=5))
    assert budget.pauses == 1


def test_templates_name_a_missing_field_but_never_a_value() -> None:
    assert fill("{api_url}/v1", {"api_url": "https://x"}, where="t/s") == "https://x/v1"
    with pytest.raises(ConfigError, match="t/s: credential field 'region' is missing"):
        fill("{region}", {"api_url": "secret-looking"}, where="t/s")
