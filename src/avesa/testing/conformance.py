"""The checks every source connector must pass, against its API (or a sandbox of it) — reusable by
anyone who writes one, as meltano's SDK ships its built-in tap tests.

Subclass `ConnectorConformance` in a test module and give it a `conformance_case` fixture saying
how to build the connector, which table to read, and which ids the API holds there (the ground
truth)::

    from avesa.testing.conformance import ConformanceCase, ConnectorConformance

    class TestHelpdeskConnector(ConnectorConformance):
        @pytest.fixture
        def conformance_case(self, ...) -> ConformanceCase:
            return ConformanceCase(connect=lambda: build_connector(spec, credentials, ...),
                                   table="tickets", ids=ids_the_api_holds,
                                   refused=lambda: build_connector(spec, wrong_credentials, ...))

Each check is a test of the subclass: working credentials pass `check()` and refused ones raise
AuthenticationError; a window reads every record exactly once, each stamped inside the window; a
read resumed from the cursor after any page loses and repeats nothing (what a chunk that stopped
at its deadline relies on); `list_ids` names every record (what delete reconciliation relies on),
and where it can list id ranges (`RestConnector.lists_id_ranges`) each range lists exactly its
own ids (what a large table's listing read by ranges at once relies on); `count`, where the API
can count, agrees with what was read. Needs pytest (the `dev` extra).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from avesa.connectors.base import SourceConnector
from avesa.connectors.id_ranges import in_id_order, split
from avesa.connectors.rest import RestConnector
from avesa.domain.errors import AuthenticationError
from avesa.domain.pages import Page

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
T = TypeVar("T")


@dataclass
class ConformanceCase:
    """One connector + API pair under test."""

    connect: Callable[[], SourceConnector]
    """A new connector with working credentials (each check builds its own and closes it)."""
    table: str
    ids: set[str]
    """Every id the API holds in `table`: the ground truth the reads are held to."""
    refused: Callable[[], SourceConnector] | None = None
    """A connector with credentials the API refuses; None leaves that check out."""
    window: tuple[datetime, datetime] = (EPOCH, FAR)
    windowed: bool = True
    """Records carry their change stamps, inside the window read (False: a table read whole or by
    delta link, stamped with the time it was read)."""


def _run(connect: Callable[[], SourceConnector], body: Callable[[SourceConnector], Awaitable[T]]) -> T:
    async def main() -> T:
        connector = connect()
        try:
            return await body(connector)
        finally:
            await connector.aclose()

    return asyncio.run(main())


async def _pages(connector: SourceConnector, case: ConformanceCase, after: str | None = None) -> list[Page]:
    return [page async for page in connector.pages(case.table, *case.window, after)]


def _ids(pages: list[Page]) -> list[str]:
    return [record_id for page in pages for record_id in page.record_ids]


class ConnectorConformance:
    """The conformance checks; a subclass provides the `conformance_case` fixture."""

    def test_check_accepts_working_credentials(self, conformance_case: ConformanceCase) -> None:
        _run(conformance_case.connect, lambda connector: connector.check())

    def test_check_refuses_credentials_the_api_refuses(self, conformance_case: ConformanceCase) -> None:
        if conformance_case.refused is None:
            pytest.skip("the case gives no refused credentials")
        with pytest.raises(AuthenticationError):
            _run(conformance_case.refused, lambda connector: connector.check())

    def test_a_window_reads_every_record_exactly_once(self, conformance_case: ConformanceCase) -> None:
        ids = _ids(_run(conformance_case.connect, lambda c: _pages(c, conformance_case)))
        assert len(ids) == len(set(ids)), "a record was read twice"
        assert set(ids) == conformance_case.ids

    def test_records_are_stamped_inside_the_window(self, conformance_case: ConformanceCase) -> None:
        pages = _run(conformance_case.connect, lambda c: _pages(c, conformance_case))
        start, end = conformance_case.window
        stamps = [stamp for page in pages for stamp in page.updated_at]
        assert len(stamps) == len(_ids(pages)), "a record without its change stamp"
        if conformance_case.windowed:
            outside = [s for s in stamps if not start <= s < end]
            assert not outside, f"{len(outside)} records stamped outside [{start}, {end})"

    def test_a_read_resumed_after_any_page_loses_and_repeats_nothing(self, conformance_case: ConformanceCase) -> None:
        case = conformance_case
        pages = _run(case.connect, lambda c: _pages(c, case))
        assert len(pages) >= 2, "the case's table fits one page: give it more records or a smaller page size"
        def resumed_after(cursor: str | None) -> Callable[[SourceConnector], Awaitable[list[Page]]]:
            return lambda connector: _pages(connector, case, cursor)

        for cut in sorted({0, len(pages) // 2, len(pages) - 2}):
            before = _ids(pages[: cut + 1])
            after = _ids(_run(case.connect, resumed_after(pages[cut].last_id)))
            assert not set(before) & set(after), f"resumed after page {cut + 1}: records read again"
            assert set(before) | set(after) == case.ids, f"resumed after page {cut + 1}: records lost"

    def test_list_ids_names_every_record(self, conformance_case: ConformanceCase) -> None:
        case = conformance_case

        async def listed(connector: SourceConnector) -> list[str]:
            return [record_id async for batch in connector.list_ids(case.table) for record_id in batch]

        ids = _run(case.connect, listed)
        assert len(ids) == len(set(ids)) and set(ids) == case.ids

    def test_id_ranges_list_each_record_once(self, conformance_case: ConformanceCase) -> None:
        case = conformance_case
        ranges = split(in_id_order(case.ids), 3)

        async def by_range(connector: SourceConnector) -> list[list[str]] | None:
            if not (isinstance(connector, RestConnector) and connector.lists_id_ranges):
                return None
            return [[record_id async for batch in connector.list_ids(case.table, r.after, r.through)
                     for record_id in batch] for r in ranges]

        listed = _run(case.connect, by_range)
        if listed is None:
            pytest.skip("the connector lists ids in one walk")
        for r, ids in zip(ranges, listed, strict=True):
            assert all(r.holds(record_id) for record_id in ids), f"{r}: ids outside the range"
        every = [record_id for ids in listed for record_id in ids]
        assert len(every) == len(set(every)) and set(every) == case.ids

    def test_count_agrees_with_the_records_read(self, conformance_case: ConformanceCase) -> None:
        case = conformance_case
        counted = _run(case.connect, lambda c: c.count(case.table, case.window[0], case.window[1]))
        if counted is None:
            pytest.skip("the API cannot count")
        assert counted == len(case.ids)
