"""The ServiceNow connector against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.paginators import END
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.servicenow import ServiceNowConnector
from avesa.connectors.servicenow_audit import AUDIT_CURSOR_PREFIX, AUDIT_TABLE
from avesa.domain.errors import AuthenticationError, BadDataError, TransientError
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

BASIC = ("instance_url", "username", "password")
UNTHROTTLED = {"rate_limit_per_minute": None}


@pytest.fixture
def sn_instance(sandbox_admin: SandboxAdmin) -> Iterator[Callable[..., str]]:
    """Create a ServiceNow sandbox instance with a unique name (deleted after the test)."""
    yield from instances(sandbox_admin, "servicenow", "sn", UNTHROTTLED)


def sn_credentials(admin: SandboxAdmin, instance: str, *, oauth: bool = False) -> dict[str, str]:
    """What a tenant configures: Basic (instance URL, user, password), or those plus an OAuth client."""
    creds = admin.credentials(instance)
    return dict(creds) if oauth else {k: creds[k] for k in BASIC}


def connector(admin: SandboxAdmin, instance: str, *, page_size: int = 1000, attempts: int = 4, oauth: bool = False,
              credentials: dict[str, str] | None = None, rpm: float = 60_000) -> ServiceNowConnector:
    return ServiceNowConnector(
        spec=load_catalog().service("servicenow"),
        credentials=credentials or sn_credentials(admin, instance, oauth=oauth),
        tenant_id=instance,
        budget=RateBudget(requests_per_minute=rpm, burst=1000),
        options=HttpOptions(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.05),
        page_size=page_size,
    )


def delete_incidents(admin: SandboxAdmin, instance: str, count: int) -> None:
    """Deletes exactly ``count`` incidents. A seeded ``mutate`` may delete fewer (it spares records others
    reference), and which ones it spares depends on the instance's name, so tests that count deletes use this."""
    for record_id in sorted(admin.record_ids(instance, "incident"))[:count]:
        admin.delete_record(instance, "incident", record_id)


def test_a_window_returns_each_record_exactly_once_in_sys_id_order(sandbox_admin: SandboxAdmin,
                                                                   sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    truth = set(sandbox_admin.record_ids(name, "time_card"))
    records = collect(connector(sandbox_admin, name, page_size=17), "time_card")
    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == truth
    assert ids == sorted(ids) and not any(r.deleted for r in records)


def test_bounds_are_half_open_and_span_answers_with_one_request(sandbox_admin: SandboxAdmin,
                                                                sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    _, stamps, middle, below, above = assert_halves_are_half_open(lambda: connector(sandbox_admin, name),
                                                                          "incident")

    sandbox_admin.reset_stats(name)
    assert call(connector(sandbox_admin, name), "span", "incident", None, middle) == (stamps[0], len(below))
    assert sandbox_admin.stats(name)["requests"] == 1  # earliest change and count from one request
    assert call(connector(sandbox_admin, name), "span", "incident", middle, FAR) == (middle, len(above))
    assert call(connector(sandbox_admin, name), "count", "incident", EPOCH, middle) == len(below)
    assert call(connector(sandbox_admin, name), "span", "incident", FAR, FAR + timedelta(days=1)) == (None, 0)


def test_resuming_after_a_mid_window_cursor_skips_what_was_landed(sandbox_admin: SandboxAdmin,
                                                                  sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    pages = assert_resuming_after_the_third_page_reads_the_rest(
        lambda **options: connector(sandbox_admin, name, **options), "sys_user")
    assert pages[-1].last_id in (END, AUDIT_CURSOR_PREFIX)


def test_an_incremental_window_after_changes_reads_exactly_what_changed(sandbox_admin: SandboxAdmin,
                                                                         sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    before = collect(connector(sandbox_admin, name), "incident")
    since = max(r.updated_at for r in before) + timedelta(seconds=1)
    seq = max(e["seq"] for e in sandbox_admin.changes(name))
    sandbox_admin.mutate(name, updates=12, inserts=4, deletes=3, seed=7, tables=["incident"])
    latest: dict[str, dict] = {}
    for entry in sandbox_admin.changes(name, table="incident", after_seq=seq):
        latest[entry["id"]] = entry
    changed = {rid for rid, e in latest.items() if e["op"] != "delete"}
    deleted = {rid: parse_utc(e["last_updated"]) for rid, e in latest.items() if e["op"] == "delete"}
    assert changed and deleted

    records = collect(connector(sandbox_admin, name, page_size=5), "incident", since, FAR)
    assert {r.record_id for r in records if not r.deleted} == changed
    # deletes come from sys_audit_delete, stamped with their deletion time
    assert {r.record_id: r.updated_at for r in records if r.deleted} == deleted
    live = {i for batch in call(connector(sandbox_admin, name), "list_ids", "incident") for i in batch}
    assert live == set(sandbox_admin.record_ids(name, "incident")) and not live & deleted.keys()


def test_a_chunk_resumed_in_its_audit_phase_reads_only_the_deletes_left(sandbox_admin: SandboxAdmin,
                                                                        sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    delete_incidents(sandbox_admin, name, 4)
    pages = asyncio.run(read_pages(connector(sandbox_admin, name, page_size=2), "incident"))
    audit = [p for p in pages if p.deleted]
    assert len(audit) == 2 and all(p.deleted == [0, 1] for p in audit)
    assert audit[0].last_id.startswith(AUDIT_CURSOR_PREFIX) and audit[-1].last_id == END
    table_pages = [p for p in pages if not p.deleted]
    assert table_pages[-1].last_id == AUDIT_CURSOR_PREFIX
    resumed = asyncio.run(read_pages(connector(sandbox_admin, name, page_size=2), "incident", after=audit[0].last_id))
    assert [p.record_ids for p in resumed] == [audit[1].record_ids]
    assert asyncio.run(read_pages(connector(sandbox_admin, name), "incident", after=END)) == []
    assert b"payload" not in b"".join(raw for p in audit for raw in p.raws)  # the deleted record's XML never lands


def test_without_read_access_to_the_audit_table_deletes_are_left_to_reconciliation(
        sandbox_admin: SandboxAdmin, sn_instance: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
    name = sn_instance()
    delete_incidents(sandbox_admin, name, 2)
    conn = connector(sandbox_admin, name)
    real = conn.http.get_bytes

    async def refusing(path: str, params: Any = None, **kwargs: Any) -> Any:
        if path == AUDIT_TABLE:
            raise AuthenticationError("HTTP 403", tenant_id=name, service="servicenow")
        return await real(path, params, **kwargs)

    monkeypatch.setattr(conn.http, "get_bytes", refusing)
    records = collect(conn, "incident")
    assert not any(r.deleted for r in records) and conn.audit_readable is False
    assert {r.record_id for r in records} == set(sandbox_admin.record_ids(name, "incident"))


def test_wrong_credentials_fail_with_an_authentication_error_naming_the_tenant(
        sandbox_admin: SandboxAdmin, sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    for oauth, field in ((False, "password"), (True, "client_secret")):
        creds = {**sn_credentials(sandbox_admin, name, oauth=oauth), field: "wrong-secret"}
        with pytest.raises(AuthenticationError) as info:
            collect(connector(sandbox_admin, name, credentials=creds), "incident")
        message = str(info.value)
        assert name in message and "servicenow" in message and "credentials" in message
        assert "wrong-secret" not in message
        with pytest.raises(AuthenticationError):
            call(connector(sandbox_admin, name, credentials=creds), "check")


def test_oauth_tokens_are_renewed_transparently_when_one_expires_mid_run(sandbox_admin: SandboxAdmin,
                                                                         sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    truth = set(sandbox_admin.record_ids(name, "incident"))
    conn = connector(sandbox_admin, name, oauth=True, page_size=10)
    assert conn.uses_oauth
    pages = pages_with_token_revoked(sandbox_admin, name, conn, "incident")
    assert {r.record_id for r in records_of(pages)} == truth
    assert conn.auth.tokens_issued == 2
    assert sandbox_admin.stats(name)["by_status"].get("401") == 1
    assert not connector(sandbox_admin, name).uses_oauth  # Basic without an OAuth client


@pytest.mark.parametrize("kind", ["429", "429-no-retry-after"])
def test_rate_limits_are_retried_with_and_without_retry_after(sandbox_admin: SandboxAdmin,
                                                              sn_instance: Callable[..., str], kind: str) -> None:
    name = sn_instance()
    assert_rate_limits_are_retried(sandbox_admin, name, lambda: connector(sandbox_admin, name), "core_company", kind)


def test_the_budget_slows_to_the_instance_rate_limit_rule(sandbox_admin: SandboxAdmin,
                                                          sn_instance: Callable[..., str]) -> None:
    name = sn_instance(knobs={"rate_limit_per_minute": 30, "rate_limit_burst": 50})
    conn = connector(sandbox_admin, name, rpm=100)
    call(conn, "check")
    assert conn.http.budget.requests_per_minute == pytest.approx(30)  # X-RateLimit-Limit is per hour


def test_server_errors_are_retried_then_given_up_as_transient(sandbox_admin: SandboxAdmin,
                                                              sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    sandbox_admin.add_fault(name, "502", count=1, table="incident")
    assert len(collect(connector(sandbox_admin, name), "incident")) == len(sandbox_admin.record_ids(name, "incident"))
    sandbox_admin.add_fault(name, "500", count=10, table="incident")
    with pytest.raises(TransientError, match="HTTP 500"):
        collect(connector(sandbox_admin, name, attempts=3), "incident")


def test_a_malformed_page_is_bad_data_naming_the_page(sandbox_admin: SandboxAdmin,
                                                      sn_instance: Callable[..., str]) -> None:
    name = sn_instance()
    sandbox_admin.add_fault(name, "malformed", table="incident")
    with pytest.raises(BadDataError, match="page 1") as info:
        collect(connector(sandbox_admin, name), "incident")
    assert info.value.table == "incident" and info.value.tenant_id == name


def test_a_window_the_instance_ignored_is_caught_not_landed(sandbox_admin: SandboxAdmin,
                                                            sn_instance: Callable[..., str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """ServiceNow answers a query part it cannot read by dropping it; here the window part goes missing
    on the way (as a mistyped field would), and the instance answers with the whole table."""
    name = sn_instance()
    everything = collect(connector(sandbox_admin, name), "incident")
    middle = sorted(r.updated_at for r in everything)[len(everything) // 2]
    conn = connector(sandbox_admin, name)
    real = conn.query.query
    monkeypatch.setattr(conn.query, "query", lambda table, start, end, after, order_by=None, through=None:
                        real(table, None, None, after, order_by, through))
    with pytest.raises(BadDataError, match="outside the requested range"):
        collect(conn, "incident", middle, FAR)

    conn = connector(sandbox_admin, name, page_size=10)
    monkeypatch.setattr(conn.query, "query", lambda table, start, end, after, order_by=None, through=None:
                        real(table, start, end, None, order_by, through))
    with pytest.raises(BadDataError, match="ignored the keyset condition"):
        collect(conn, "incident")
    with pytest.raises(BadDataError, match="not a sys_id"):
        collect(connector(sandbox_admin, name), "incident", after="x^ORDERBYnumber")


def test_sensitive_fields_are_flagged_for_stripping(sandbox_admin: SandboxAdmin,
                                                    sn_instance: Callable[..., str]) -> None:
    """The sandbox (like a real instance) does not serve password columns; should an instance ever
    return one, the record is flagged and the pipeline strips the field before landing."""
    conn = connector(sandbox_admin, sn_instance())
    body = (b'{"result": [{"sys_id": "a", "sys_updated_on": "2024-01-01 00:00:00"}, '
            b'{"sys_id": "b", "sys_updated_on": "2024-01-01 00:00:00", "user_password": "x"}]}')
    assert conn.read("sys_user", body, 1).sensitive == [1]
    asyncio.run(conn.aclose())


def test_a_window_with_deletes_only_still_gets_counted_and_read(sandbox_admin: SandboxAdmin,
                                                                sn_instance: Callable[..., str]) -> None:
    """A quiet table must still get a chunk for its deletes, or they would wait for reconciliation."""
    name = sn_instance()
    since = max(r.updated_at for r in collect(connector(sandbox_admin, name), "incident")) + timedelta(seconds=1)
    delete_incidents(sandbox_admin, name, 2)
    assert call(connector(sandbox_admin, name), "span", "incident", since, FAR) == (None, 2)
    records = collect(connector(sandbox_admin, name), "incident", since, FAR)
    assert len(records) == 2 and all(r.deleted for r in records)
