"""The Salesforce connector against the sandbox org over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta

import httpx
import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.catalog.models import ServiceSpec
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.paginators import END
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.salesforce import SalesforceConnector
from avesa.connectors.salesforce_limits import DailyLimitError
from avesa.domain.errors import AuthenticationError, BadDataError, SourceError
from avesa.domain.timeutil import parse_utc
from avesa_sandbox import SandboxAdmin
from tests.connectors.support import (
    EPOCH,
    FAR,
    assert_halves_are_half_open,
    assert_rate_limits_are_retried,
    assert_resuming_after_the_third_page_reads_the_rest,
    call,
    collect,
    instances,
    pages_with_token_revoked,
    read_pages,
    records_of,
)

SPEC = load_catalog().service("salesforce")
ROOMY = {"rate_limit_per_minute": None, "daily_request_limit": 10**9}
"""No per-minute throttle, and a daily allowance so large the budget never slows to spread it."""


@pytest.fixture
def sf_instance(sandbox_admin: SandboxAdmin) -> Iterator[Callable[..., str]]:
    """Create a Salesforce sandbox org with a unique name (deleted after the test)."""
    yield from instances(sandbox_admin, "salesforce", "sf", ROOMY)


def sf_credentials(admin: SandboxAdmin, instance: str) -> dict[str, str]:
    """What a tenant configures: login URL, consumer key and secret."""
    return {k: v for k, v in admin.connection(instance).items() if k in ("login_url", "client_id", "client_secret")}


def connector(admin: SandboxAdmin, instance: str, *, page_size: int = 1000, attempts: int = 4,
              credentials: dict[str, str] | None = None, spec: ServiceSpec = SPEC) -> SalesforceConnector:
    return SalesforceConnector(
        spec=spec,
        credentials=credentials or sf_credentials(admin, instance),
        tenant_id=instance,
        budget=RateBudget(requests_per_minute=60_000, burst=1000),
        options=HttpOptions(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.05),
        page_size=page_size,
    )


def record_requests(conn: SalesforceConnector) -> list[httpx.URL]:
    """The URLs the connector sends, token requests included, as they leave (after the auth moved them)."""
    sent: list[httpx.URL] = []

    async def hook(request: httpx.Request) -> None:
        sent.append(request.url)

    conn.http._client.event_hooks["request"].append(hook)
    return sent


def requests(admin: SandboxAdmin, instance: str) -> int:
    """Data requests the org answered (token requests aside)."""
    stats = admin.stats(instance)
    return sum(stats["by_table"].values())


def test_a_window_returns_each_record_exactly_once_in_id_order(sandbox_admin: SandboxAdmin,
                                                               sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    truth = set(sandbox_admin.record_ids(name, "Contact"))
    pages = asyncio.run(read_pages(connector(sandbox_admin, name, page_size=7), "Contact"))
    ids = [r.record_id for r in records_of(pages)]
    assert len(ids) == len(set(ids)) and set(ids) == truth
    assert ids == sorted(ids) and not any(p.deleted for p in pages)
    assert [len(p) for p in pages[:-1]] == [7] * (len(pages) - 1) and pages[-1].last_id == END
    record = orjson.loads(pages[0].raws[0])
    assert record["attributes"]["type"] == "Contact"  # landed exactly as served
    assert [k for k in record if k != "attributes"] == SPEC.table("Contact").fields  # SOQL selected exactly these


def test_bounds_are_half_open_to_the_millisecond_and_span_costs_at_most_two_requests(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    everything, stamps, middle, below, above = assert_halves_are_half_open(lambda: connector(sandbox_admin, name),
                                                                          "Case")
    # a bound between two milliseconds: records stamped at `middle` lie before middle + 1 µs
    just_after = middle + timedelta(microseconds=1)
    assert len(collect(connector(sandbox_admin, name), "Case", EPOCH, just_after)) == len(below) + sum(
        1 for r in everything if r.updated_at == middle)
    assert all(r.updated_at > middle for r in collect(connector(sandbox_admin, name), "Case", just_after, FAR))

    sandbox_admin.reset_stats(name)
    assert call(connector(sandbox_admin, name), "span", "Case", None, middle) == (stamps[0], len(below))
    assert requests(sandbox_admin, name) == 2  # the earliest change, then COUNT()
    assert call(connector(sandbox_admin, name), "span", "Case", middle, FAR) == (middle, len(above))
    assert call(connector(sandbox_admin, name), "count", "Case", EPOCH, middle) == len(below)
    sandbox_admin.reset_stats(name)
    assert call(connector(sandbox_admin, name), "span", "Case", FAR, FAR + timedelta(days=1)) == (None, 0)
    assert requests(sandbox_admin, name) == 1  # an empty window needs no count


def test_resuming_after_a_mid_window_cursor_skips_what_was_landed(sandbox_admin: SandboxAdmin,
                                                                  sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    assert_resuming_after_the_third_page_reads_the_rest(
        lambda **options: connector(sandbox_admin, name, **options), "Task")
    assert asyncio.run(read_pages(connector(sandbox_admin, name), "Task", after=END)) == []
    with pytest.raises(BadDataError, match="not a Salesforce id"):
        collect(connector(sandbox_admin, name), "Task", after="x' OR Name != 'y")


def test_an_incremental_window_reads_what_changed_and_flags_what_was_deleted(sandbox_admin: SandboxAdmin,
                                                                             sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    tables = ["Case", "Contact", "Task"]
    since = {t: max(r.updated_at for r in collect(connector(sandbox_admin, name), t)) + timedelta(seconds=1)
             for t in tables}
    seq = max(e["seq"] for e in sandbox_admin.changes(name))
    sandbox_admin.mutate(name, updates=20, inserts=6, deletes=6, seed=7, tables=tables)
    checked_deletes = 0
    for table in tables:
        latest = {e["id"]: e for e in sandbox_admin.changes(name, table=table, after_seq=seq)}
        changed = {rid for rid, e in latest.items() if e["op"] != "delete"}
        deleted = {rid: parse_utc(e["last_updated"]) for rid, e in latest.items() if e["op"] == "delete"}
        records = collect(connector(sandbox_admin, name, page_size=5), table, since[table], FAR)
        assert {r.record_id for r in records if not r.deleted} == changed, table
        # soft-deleted rows come through queryAll, flagged, stamped with their deletion time
        assert {r.record_id: r.updated_at for r in records if r.deleted} == deleted, table
        live = {i for batch in call(connector(sandbox_admin, name), "list_ids", table) for i in batch}
        assert live == set(sandbox_admin.record_ids(name, table)) and not live & deleted.keys()
        checked_deletes += len(deleted)
    assert checked_deletes


def test_users_have_no_deleted_flag_and_are_read_with_query(sandbox_admin: SandboxAdmin,
                                                            sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    conn = connector(sandbox_admin, name)
    sent = record_requests(conn)
    records = collect(conn, "User")
    assert {r.record_id for r in records} == set(sandbox_admin.record_ids(name, "User"))
    assert [u.path.rsplit("/", 1)[-1] for u in sent if "/v59.0/query" in u.path] == ["query"]


def test_wrong_credentials_fail_with_an_authentication_error_naming_the_tenant(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    for field in ("client_secret", "client_id"):
        creds = {**sf_credentials(sandbox_admin, name), field: "wrong-secret"}
        with pytest.raises(AuthenticationError) as info:
            collect(connector(sandbox_admin, name, credentials=creds), "Account")
        message = str(info.value)
        assert name in message and "salesforce" in message and "credentials" in message
        assert "wrong-secret" not in message
        with pytest.raises(AuthenticationError):
            call(connector(sandbox_admin, name, credentials=creds), "check")
    call(connector(sandbox_admin, name), "check")


def test_data_requests_follow_the_instance_url_of_the_token(sandbox_admin: SandboxAdmin,
                                                            sf_instance: Callable[..., str]) -> None:
    """The login URL a tenant configures is not where the org's data lives: the token says where."""
    name = sf_instance()
    creds = sf_credentials(sandbox_admin, name)
    instance_url = httpx.URL(creds["login_url"])
    login = creds["login_url"].replace("127.0.0.1", "localhost") + "/"
    conn = connector(sandbox_admin, name, credentials={**creds, "login_url": login})
    sent = record_requests(conn)
    assert len(collect(conn, "Account")) == len(sandbox_admin.record_ids(name, "Account"))
    token, *data = [(url.host, url.path) for url in sent]
    assert token == ("localhost", f"{instance_url.path}/services/oauth2/token")
    assert data and all(host == instance_url.host and path.startswith(f"{instance_url.path}/services/data/v59.0/")
                        for host, path in data)


def test_tokens_are_renewed_transparently_when_one_expires_mid_run(sandbox_admin: SandboxAdmin,
                                                                   sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    truth = set(sandbox_admin.record_ids(name, "Contact"))
    conn = connector(sandbox_admin, name, page_size=7)
    pages = pages_with_token_revoked(sandbox_admin, name, conn, "Contact")
    assert {r.record_id for r in records_of(pages)} == truth
    assert conn.auth.tokens_issued == 2
    assert sandbox_admin.stats(name)["by_status"].get("401") == 1


def test_tokens_that_outlive_their_session_timeout_are_renewed(sandbox_admin: SandboxAdmin,
                                                               sf_instance: Callable[..., str]) -> None:
    """Salesforce tokens carry no lifetime; the org's session timeout ends them with INVALID_SESSION_ID."""
    name = sf_instance(knobs={"token_ttl_seconds": 1})
    conn = connector(sandbox_admin, name, page_size=20)

    async def run() -> int:
        try:
            await conn.check()
            await asyncio.sleep(1.2)
            return sum([len(p) async for p in conn.pages("Contact", EPOCH, FAR, None)])
        finally:
            await conn.aclose()

    assert asyncio.run(run()) == len(sandbox_admin.record_ids(name, "Contact"))
    assert conn.auth.tokens_issued >= 2


@pytest.mark.parametrize("kind", ["429", "429-no-retry-after"])
def test_rate_limits_are_retried_with_and_without_retry_after(sandbox_admin: SandboxAdmin,
                                                              sf_instance: Callable[..., str], kind: str) -> None:
    name = sf_instance()
    assert_rate_limits_are_retried(sandbox_admin, name, lambda: connector(sandbox_admin, name), "Account", kind)


def test_a_used_up_daily_allowance_stops_the_connector_with_a_clear_error(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    conn = connector(sandbox_admin, name, page_size=5)

    async def run() -> None:
        try:
            pages = conn.pages("Case", EPOCH, FAR, None)
            await anext(pages)  # the org's other integrations use up the allowance meanwhile
            sandbox_admin.set_knobs(name, daily_request_limit=1)
            with pytest.raises(DailyLimitError) as info:
                await anext(pages)
            message = str(info.value)
            assert message.startswith(f"{name}/salesforce/Case: ")
            assert "REQUEST_LIMIT_EXCEEDED" in message and "avesa service limit" in message
            assert not info.value.retryable
            before = requests(sandbox_admin, name)
            with pytest.raises(DailyLimitError, match=f"{name}/salesforce/Contact"):  # at once, without asking
                await conn.count("Contact", None, FAR)
            assert requests(sandbox_admin, name) == before
        finally:
            await conn.aclose()

    asyncio.run(run())
    assert sandbox_admin.stats(name)["by_status"].get("403") == 1


def test_the_last_request_of_the_allowance_ends_the_run_instead_of_a_day_long_pause(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str]) -> None:
    name = sf_instance()
    conn = connector(sandbox_admin, name)

    async def run() -> None:
        try:
            await conn.check()
            used = int(conn.allowance.usage.split("=")[1].split("/")[0])
            sandbox_admin.set_knobs(name, daily_request_limit=used + 1)
            assert await conn.count("Case", None, FAR) == len(sandbox_admin.record_ids(name, "Case"))
            assert conn.allowance.usage == f"api-usage={used + 1}/{used + 1}"
            with pytest.raises(DailyLimitError, match=f"used up \\(Sforce-Limit-Info: api-usage={used + 1}/"):
                await conn.count("Case", None, FAR)
        finally:
            await conn.aclose()

    asyncio.run(run())
    assert "403" not in sandbox_admin.stats(name)["by_status"]
    assert conn.http.budget.pauses == 0  # the shared budget was not paused for 24 hours


def test_a_batch_cut_short_by_salesforce_continues_after_its_last_id(sandbox_admin: SandboxAdmin,
                                                                     sf_instance: Callable[..., str]) -> None:
    """Salesforce may answer with a smaller batch than the LIMIT (``done: false``): the page is not
    the end; the next query starts after its last Id (the query cursor is never followed)."""
    name = sf_instance(counts={"User": 3, "Account": 5, "Contact": 450})
    conn = connector(sandbox_admin, name, page_size=300)
    conn.http._client.headers["Sforce-Query-Options"] = "batchSize=200"
    pages = asyncio.run(read_pages(conn, "Contact"))
    assert [len(p) for p in pages] == [200, 200, 50]
    assert {r.record_id for r in records_of(pages)} == set(sandbox_admin.record_ids(name, "Contact"))


def test_fields_the_org_does_not_have_are_left_out_not_fatal(sandbox_admin: SandboxAdmin,
                                                             sf_instance: Callable[..., str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    """A real org lacks the reference org's custom fields or hides some by field-level security: the
    query would fail whole with INVALID_FIELD, so describe decides what is selected."""
    name = sf_instance()
    contact = SPEC.table("Contact")
    spec = SPEC.model_copy(update={"tables": {**SPEC.tables, "Contact": contact.model_copy(
        update={"fields": [*contact.fields, "Nickname__c"]})}})
    records = collect(connector(sandbox_admin, name, spec=spec), "Contact")
    assert len(records) == len(sandbox_admin.record_ids(name, "Contact"))
    assert "Nickname__c" in caplog.text

    unreadable = SPEC.model_copy(update={"tables": {**SPEC.tables, "Contact": contact.model_copy(
        update={"change_field": "Modstamp__c", "fields": [*contact.fields, "Modstamp__c"]})}})
    with pytest.raises(SourceError, match="cannot read Contact field"):
        collect(connector(sandbox_admin, name, spec=unreadable), "Contact")

    absent = SPEC.model_copy(update={"tables": {**SPEC.tables, "Contact": contact.model_copy(
        update={"path": "Widget__c"})}})
    with pytest.raises(SourceError, match="object Widget__c is not available to the integration user"):
        collect(connector(sandbox_admin, name, spec=absent), "Contact")


def test_sensitive_fields_are_never_selected(sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str]) -> None:
    """No standard field of these objects is a secret, but a tenant's deny-list (personal data, say)
    keeps fields out of the query itself: they never leave Salesforce."""
    name = sf_instance()
    spec = SPEC.model_copy(update={"sensitive_fields": ["Email", "Birthdate"]})
    pages = asyncio.run(read_pages(connector(sandbox_admin, name, spec=spec), "Contact"))
    records = [orjson.loads(raw) for p in pages for raw in p.raws]
    assert records and not any({"Email", "Birthdate"} & r.keys() for r in records)
    assert all("FirstName" in r for r in records)
    body = b'{"totalSize": 1, "done": true, "records": [{"Id": "0035g000000q1ogAAA", "Email": "x@y"}]}'
    conn = connector(sandbox_admin, name, spec=spec)
    assert conn.read("Contact", body, 1).sensitive == [0]  # and one served anyway is stripped before landing
    asyncio.run(conn.aclose())


def test_a_window_the_org_ignored_is_caught_not_landed(sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    name = sf_instance()
    everything = collect(connector(sandbox_admin, name), "Case")
    middle = sorted(r.updated_at for r in everything)[len(everything) // 2]
    conn = connector(sandbox_admin, name)
    real = type(conn.queries("Case"))

    class NoWindow(real):  # type: ignore[misc, valid-type]
        def page(self, fields, start, end, after, limit):  # type: ignore[no-untyped-def]
            return super().page(fields, None, None, after, limit)

    monkeypatch.setattr(conn, "queries", lambda table: NoWindow.for_table(conn.table_spec(table)))
    with pytest.raises(BadDataError, match="outside the requested range"):
        collect(conn, "Case", middle, FAR)

    class NoKeyset(real):  # type: ignore[misc, valid-type]
        def page(self, fields, start, end, after, limit):  # type: ignore[no-untyped-def]
            return super().page(fields, start, end, None, limit)

    conn = connector(sandbox_admin, name, page_size=10)
    monkeypatch.setattr(conn, "queries", lambda table: NoKeyset.for_table(conn.table_spec(table)))
    with pytest.raises(BadDataError, match="ignored the keyset condition"):
        collect(conn, "Case")
