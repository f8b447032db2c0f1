"""The ConnectWise connector against the sandbox over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.connectwise import ConnectWiseConnector
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.domain.errors import AuthenticationError, BadDataError, TransientError
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials


class Record(NamedTuple):
    record_id: str
    updated_at: datetime


EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _connector(admin: SandboxAdmin, instance: str, *, page_size: int = 1000, attempts: int = 4,
               credentials: dict | None = None) -> ConnectWiseConnector:
    return ConnectWiseConnector(
        spec=load_catalog().service("connectwise"),
        credentials=credentials or sandbox_credentials(admin, instance),
        tenant_id=instance,
        budget=RateBudget(requests_per_minute=60_000, burst=1000),
        options=HttpOptions(max_attempts=attempts, backoff_initial=0.01, backoff_max=0.05),
        page_size=page_size,
    )


async def _collect(connector: ConnectWiseConnector, table: str, start: datetime, end: datetime,
                   after: str | None = None) -> list:
    try:
        pages = [p async for p in connector.pages(table, start, end, after)]
        return [Record(i, u) for page in pages for i, u in zip(page.record_ids, page.updated_at, strict=True)]
    finally:
        await connector.aclose()


def test_keyset_paging_returns_each_record_in_range_exactly_once(sandbox_admin: SandboxAdmin,
                                                                 new_instance: Callable[..., str]) -> None:
    name = new_instance()
    truth = set(map(str, sandbox_admin.record_ids(name, "time/entries")))
    records = asyncio.run(_collect(_connector(sandbox_admin, name, page_size=37), "time_entries", EPOCH, FAR))
    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids)) and set(ids) == truth
    assert [int(i) for i in ids] == sorted(int(i) for i in ids)


def test_range_bounds_are_half_open_and_count_agrees(sandbox_admin: SandboxAdmin,
                                                     new_instance: Callable[..., str]) -> None:
    name = new_instance()
    everything = asyncio.run(_collect(_connector(sandbox_admin, name), "service_tickets", EPOCH, FAR))
    stamps = sorted({r.updated_at for r in everything})
    middle = stamps[len(stamps) // 2]
    below = asyncio.run(_collect(_connector(sandbox_admin, name), "service_tickets", EPOCH, middle))
    above = asyncio.run(_collect(_connector(sandbox_admin, name), "service_tickets", middle, FAR))
    assert all(r.updated_at < middle for r in below) and all(r.updated_at >= middle for r in above)
    assert len(below) + len(above) == len(everything)

    async def counts() -> tuple[int, tuple, tuple]:
        connector = _connector(sandbox_admin, name)
        try:
            return (await connector.count("service_tickets", EPOCH, middle),
                    await connector.span("service_tickets", None, middle),
                    await connector.span("service_tickets", middle, FAR))
        finally:
            await connector.aclose()

    count, below_span, above_span = asyncio.run(counts())
    assert count == len(below)
    assert below_span == (stamps[0], len(below))  # one request: first record + Link's last page
    assert above_span == (middle, len(above))


def test_resuming_after_a_cursor_skips_what_was_landed(sandbox_admin: SandboxAdmin,
                                                       new_instance: Callable[..., str]) -> None:
    name = new_instance()
    everything = asyncio.run(_collect(_connector(sandbox_admin, name), "company_contacts", EPOCH, FAR))
    cursor = everything[9].record_id
    rest = asyncio.run(_collect(_connector(sandbox_admin, name), "company_contacts", EPOCH, FAR, after=cursor))
    assert [r.record_id for r in rest] == [r.record_id for r in everything[10:]]


def test_wrong_credentials_fail_with_an_authentication_error_naming_the_tenant(
        sandbox_admin: SandboxAdmin, new_instance: Callable[..., str]) -> None:
    name = new_instance()
    creds = {**sandbox_credentials(sandbox_admin, name), "private_key": "wrong"}
    with pytest.raises(AuthenticationError) as info:
        asyncio.run(_collect(_connector(sandbox_admin, name, credentials=creds), "service_tickets", EPOCH, FAR))
    message = str(info.value)
    assert name in message and "connectwise" in message and "credentials" in message
    assert "wrong" not in message  # never echo a secret


def test_rate_limits_and_server_errors_are_retried(sandbox_admin: SandboxAdmin,
                                                   new_instance: Callable[..., str]) -> None:
    name = new_instance()
    truth = set(map(str, sandbox_admin.record_ids(name, "company/companies")))
    sandbox_admin.add_fault(name, "429", count=2, table="company/companies", retry_after=1)
    sandbox_admin.add_fault(name, "503", count=1, table="company/companies")
    connector = _connector(sandbox_admin, name)
    records = asyncio.run(_collect(connector, "company_companies", EPOCH, FAR))
    assert {r.record_id for r in records} == truth
    assert connector.http.budget.pauses >= 1  # Retry-After paused the tenant's whole budget
    assert connector.http.options.stats.rate_limited == 2


def test_persistent_server_errors_give_up_with_a_transient_error(sandbox_admin: SandboxAdmin,
                                                                 new_instance: Callable[..., str]) -> None:
    name = new_instance()
    sandbox_admin.add_fault(name, "500", count=10, table="service/tickets")
    with pytest.raises(TransientError, match="HTTP 500"):
        asyncio.run(_collect(_connector(sandbox_admin, name, attempts=3), "service_tickets", EPOCH, FAR))


def test_a_malformed_page_is_bad_data_naming_the_page(sandbox_admin: SandboxAdmin,
                                                      new_instance: Callable[..., str]) -> None:
    name = new_instance()
    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    with pytest.raises(BadDataError, match="page 1: response is not valid JSON") as info:
        asyncio.run(_collect(_connector(sandbox_admin, name), "service_tickets", EPOCH, FAR))
    assert info.value.table == "service_tickets" and info.value.tenant_id == name


def test_an_id_listing_out_of_order_fails_instead_of_skipping_ids(sandbox_admin: SandboxAdmin,
                                                                   new_instance: Callable[..., str]) -> None:
    """A listing that skipped ids would have a reconciliation close their records as deleted."""
    name = new_instance()

    async def listed() -> list[str]:
        connector = _connector(sandbox_admin, name)
        try:
            return [rid async for page in connector.list_ids("company_companies") for rid in page]
        finally:
            await connector.aclose()

    everything = asyncio.run(listed())
    sandbox_admin.add_fault(name, "ids-descending", table="company/companies", count=100)
    with pytest.raises(BadDataError, match=r"listing ids, page 1: id \d+ is not above \d+: the API ignored"):
        asyncio.run(listed())
    sandbox_admin.clear_faults(name)
    assert asyncio.run(listed()) == everything
