"""The id listing a delete reconciliation compares the lake with: every id the source lists for the
table now, read once every chunk of the table was read (reconcile.py relies on that: `listed_at`).

A large table's listing is cut into contiguous id ranges read side by side (connectors/id_ranges.py):
read as one keyset walk it costs one round trip per page, one after another, at the very end of a
run. Where the API can bound the id from above (RestConnector.lists_id_ranges: ConnectWise
conditions, ServiceNow's query, SOQL) each range is its own keyset walk from its lower boundary,
checked page by page exactly like the whole listing (ids ascending, none above the range's end);
the ranges' requests go through the connector's HTTP client like any other, within its cap on
requests in flight and the tenant's rate budget. Graph, plain REST parameters and connectors of
other kinds list in one walk.

The boundaries come from ids the pipeline already holds: this run's raw files on a full sync (they
are the table), those plus the canonical table's current keys otherwise. They only share the work
out; the ranges cover every id whatever they are. A range that fails fails the whole listing — the
others are cancelled and its error is raised — so no partial listing ever closes a key.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from avesa.connectors.id_ranges import WHOLE, IdRange, in_id_order, range_count, split
from avesa.connectors.rest import RestConnector
from avesa.domain.work import SyncMode, TableRef
from avesa.lake.canonical_reader import current_ids
from avesa.lake.raw_files import list_raw_files, read_record_ids
from avesa.observability import events
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import raw_file_prefixes
from avesa.transform.mapping import CompiledMapping

SAMPLE = 100_000
"""Known ids the boundaries are picked from, at most: a larger table's are sampled first (sorting
every id of a million-record table in Python would cost more than the boundaries are worth)."""


class KnownIds(NamedTuple):
    """How many distinct ids the pipeline knows of a table, and (a sample of) them."""

    distinct: int
    sample: list[str]


def known_ids(ids: pa.ChunkedArray) -> KnownIds:
    """Distinct ``ids`` counted in Arrow; every n-th of them kept past SAMPLE. Raw files and the
    canonical table hold ids in runs of ascending order, so a stride through them spreads over the
    whole id space like the ids do."""
    distinct = pc.unique(ids.drop_null())
    count = len(distinct)
    if count > SAMPLE:
        distinct = distinct.take(pa.array(range(0, count, count // SAMPLE), pa.int64()))
    return KnownIds(count, distinct.to_pylist())


def plan_ranges(known: KnownIds, page_size: int) -> list[IdRange]:
    """The ranges a table of ``known`` ids is listed by, ``page_size`` ids a page."""
    count = range_count(known.distinct, page_size)
    if count == 1:
        return [WHOLE]
    return split(in_id_order(known.sample), count)


def _read_known_ids(raw_directory: str, prefixes: list[str], canonical: tuple[str, str, str] | None) -> KnownIds:
    """This run's raw record ids, and the current keys of the canonical table (uri, service, table)."""
    parts = read_record_ids(list_raw_files(raw_directory, prefixes), raw_directory).chunks
    if canonical is not None:
        uri, service, table = canonical
        parts += current_ids(uri, source_service=service, source_table=table).chunks
    return known_ids(pa.chunked_array(parts, type=pa.string()))


async def _listed(batches: AsyncIterator[list[str]]) -> set[str]:
    ids: set[str] = set()
    async for batch in batches:
        ids.update(batch)
    return ids


async def list_ranges(connector: RestConnector, table: str, ranges: list[IdRange]) -> set[str]:
    """The union of the ranges' listings, read at once. The first range to fail cancels the others
    and its error is raised: a listing is whole or it is nothing."""
    tasks = [asyncio.create_task(_listed(connector.list_ids(table, r.after, r.through))) for r in ranges]
    try:
        parts = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return set().union(*parts)


async def list_live_ids(ctx: PipelineContext, ref: TableRef, mapping: CompiledMapping | None = None,
                        uri: str | None = None) -> set[str]:
    """Every id the source lists for the table now: by id ranges at once where the connector can
    and the table is large (see the module docstring), else in one walk. ``mapping`` and ``uri``
    name the canonical table whose keys help place the boundaries on an incremental run. A debug
    event ``ids_listed`` says how many ranges it took and how long."""
    started = time.monotonic()
    connector = ctx.connector(ref.tenant_id, ref.service)
    ranges = [WHOLE]
    if isinstance(connector, RestConnector) and connector.lists_id_ranges:
        ranges = await _ranges(ctx, ref, connector, mapping, uri)
    if len(ranges) > 1 and isinstance(connector, RestConnector):
        ids = await list_ranges(connector, ref.table, ranges)
    else:
        ids = await _listed(connector.list_ids(ref.table))
    events.emit("ids_listed", level=logging.DEBUG, run_id=ref.run_id, tenant_id=ref.tenant_id, service=ref.service,
                table=ref.table, ranges=len(ranges), ids=len(ids), seconds=round(time.monotonic() - started, 3))
    return ids


async def _ranges(ctx: PipelineContext, ref: TableRef, connector: RestConnector, mapping: CompiledMapping | None,
                  uri: str | None) -> list[IdRange]:
    """The ranges the table's listing is cut into, from the ids the pipeline holds (read in a thread).

    A full sync whose chunks read fewer records than a listing in ranges needs is listed in one
    walk without reading anything. The boundaries only share the work out, so when the ids cannot
    be read (a lake that refuses a read just then) the listing is one walk too, never a failure."""
    chunks = ctx.state.list_chunks(ref)
    page_size = connector.spec.page_size_max
    if ref.mode is SyncMode.FULL and range_count(sum(c.records for c in chunks), page_size) == 1:
        return [WHOLE]
    canonical = None
    if ref.mode is not SyncMode.FULL and mapping is not None and uri is not None:
        canonical = (uri, mapping.mapping.source_service, mapping.mapping.source_table)
    prefixes = raw_file_prefixes(ref, chunks)
    raw_directory = ctx.lake.raw_dir(ref.tenant_id, ref.service, ref.table)
    try:
        known = await asyncio.to_thread(_read_known_ids, raw_directory, prefixes, canonical)
    except Exception as exc:  # only how evenly the work is shared depends on it
        events.emit("id_ranges_unknown", level=logging.WARNING, run_id=ref.run_id, tenant_id=ref.tenant_id,
                    service=ref.service, table=ref.table, error=f"{type(exc).__name__}: {exc}")
        return [WHOLE]
    return plan_ranges(known, page_size)
