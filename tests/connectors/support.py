"""What the keyset-paged connector tests (Salesforce, ServiceNow) share: sandbox instances made for a test,
reading a window to its records, calling one connector method, a window split at its middle stamp, a read
resumed from a mid-window cursor, a run whose token is revoked midway, and reading through rate limits.

The tests of each service had their own copy of these; only the connector class and the instance's
default knobs differed, so they are kept here once and each test module names its service and knobs.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NamedTuple

from avesa.connectors.base import SourceConnector
from avesa.domain.pages import Page
from avesa_sandbox import SandboxAdmin

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)

_names: defaultdict[str, Iterator[int]] = defaultdict(lambda: itertools.count(1))
"""One counter per service, so each service's test instances keep their names (``sf-1``, ``sn-2``...)."""


class Record(NamedTuple):
    record_id: str
    updated_at: datetime
    deleted: bool


class Halves(NamedTuple):
    everything: list[Record]
    stamps: list[datetime]  # the distinct change stamps, in order
    middle: datetime
    below: list[Record]  # [EPOCH, middle)
    above: list[Record]  # [middle, FAR)


def instances(admin: SandboxAdmin, service: str, default_prefix: str,
              base_knobs: dict[str, Any]) -> Iterator[Callable[..., str]]:
    """The body of an instance fixture: yields ``create(prefix, *, scale, seed, knobs, counts)``, which makes
    an instance of ``service`` named ``prefix-N`` with ``base_knobs`` under the test's ``knobs``; all the
    instances made are deleted after the test."""
    created: list[str] = []

    def create(prefix: str = default_prefix, *, scale: str = "tiny", seed: int = 1, knobs: dict | None = None,
               counts: dict | None = None) -> str:
        name = f"{prefix}-{next(_names[service])}"
        admin.create_instance(name, service=service, scale=scale, seed=seed, counts=counts,
                              knobs={**base_knobs, **(knobs or {})})
        created.append(name)
        return name

    yield create
    for name in created:
        admin.delete_instance(name)


def records_of(pages: list[Page]) -> list[Record]:
    return [Record(i, u, n in set(p.deleted)) for p in pages
            for n, (i, u) in enumerate(zip(p.record_ids, p.updated_at, strict=True))]


async def read_pages(conn: SourceConnector, table: str, start: datetime = EPOCH, end: datetime = FAR,
                     after: str | None = None) -> list[Page]:
    """Every page of the window ``[start, end)`` after the cursor; the connector is closed after."""
    try:
        return [p async for p in conn.pages(table, start, end, after)]
    finally:
        await conn.aclose()


def collect(conn: SourceConnector, table: str, start: datetime = EPOCH, end: datetime = FAR,
            after: str | None = None) -> list[Record]:
    return records_of(asyncio.run(read_pages(conn, table, start, end, after)))


def call(conn: SourceConnector, method: str, *args: Any) -> Any:
    """One connector method, awaited (an async iterator's items collected); the connector is closed after."""
    async def run() -> Any:
        try:
            result = getattr(conn, method)(*args)
            if hasattr(result, "__aiter__"):
                return [item async for item in result]
            return await result
        finally:
            await conn.aclose()

    return asyncio.run(run())


def pages_with_token_revoked(admin: SandboxAdmin, instance: str, conn: SourceConnector, table: str) -> list[Page]:
    """Reads ``table`` whole; the token the run holds is revoked (a ``token-expired`` fault) before the third page."""
    pages: list[Page] = []

    async def run() -> None:
        try:
            async for page in conn.pages(table, EPOCH, FAR, None):
                pages.append(page)
                if len(pages) == 2:  # the token this run holds is revoked before the third page
                    admin.add_fault(instance, "token-expired", table=table)
        finally:
            await conn.aclose()

    asyncio.run(run())
    return pages


def assert_halves_are_half_open(connector: Callable[[], SourceConnector], table: str) -> Halves:
    """Reads ``table`` whole, then as ``[EPOCH, middle)`` and ``[middle, FAR)`` (each with a fresh connector):
    every record lies in its half, and the halves add up to the whole."""
    everything = collect(connector(), table)
    stamps = sorted({r.updated_at for r in everything})
    middle = stamps[len(stamps) // 2]
    below = collect(connector(), table, EPOCH, middle)
    above = collect(connector(), table, middle, FAR)
    assert all(r.updated_at < middle for r in below) and all(r.updated_at >= middle for r in above)
    assert len(below) + len(above) == len(everything)
    return Halves(everything, stamps, middle, below, above)


def assert_resuming_after_the_third_page_reads_the_rest(connector: Callable[..., SourceConnector],
                                                        table: str) -> list[Page]:
    """Reads ``table`` whole in pages of 7, then again after the third page's cursor (the 21st record's
    id): exactly the records after it come back. Returns the first read's pages."""
    pages = asyncio.run(read_pages(connector(page_size=7), table))
    everything = records_of(pages)
    cursor = pages[2].last_id
    assert cursor == everything[20].record_id
    rest = collect(connector(page_size=7), table, after=cursor)
    assert [r.record_id for r in rest] == [r.record_id for r in everything[21:]]
    return pages


def assert_rate_limits_are_retried(admin: SandboxAdmin, instance: str, connector: Callable[[], Any], table: str,
                                   kind: str) -> None:
    """Two rate-limit faults of ``kind`` on ``table``: a connector made after them still reads every record,
    counts both, and only a Retry-After pauses the tenant's whole budget."""
    truth = set(admin.record_ids(instance, table))
    admin.add_fault(instance, kind, count=2, table=table, retry_after=1)
    conn = connector()
    assert {r.record_id for r in collect(conn, table)} == truth
    assert conn.http.options.stats.rate_limited == 2
    assert (conn.http.budget.pauses >= 1) is (kind == "429")  # Retry-After pauses the tenant's whole budget
