"""Finalize a table once every chunk is complete: canonical transform + SCD2 merge, delete
reconciliation on a full sync, then the watermark advances — in that order, so a crash before the
end leaves the watermark where it was and the next run simply covers the range again.

A backfill merges like any run — the SCD2 merge places old versions where they belong and absorbs
the ones it already holds, so re-landing history changes nothing that was right — but neither
looks for deletes (it read a past range, not the table) nor moves the watermark: the scheduled
incremental runs keep their own position. A cancelled run's tables are not finalized."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from avesa.connectors.paginators import END
from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    ChunkOutcome,
    ChunkStatus,
    FinalizeRequest,
    SyncMode,
    TableRef,
    TableResult,
    TableStatus,
)
from avesa.lake.delta_tables import merge_scd2
from avesa.lake.raw_files import remove_temporary_files
from avesa.observability import events
from avesa.observability.stage_cpu import stage
from avesa.pipeline.build_runner import CanonicalBuilder, build_in_thread
from avesa.pipeline.cancel import cancelled_result, run_cancelled
from avesa.pipeline.canonical_build import CanonicalBuild, ChunkFiles
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import raw_file_prefixes
from avesa.pipeline.failures import chunks_failed_message, fail_table, table_failed_by
from avesa.pipeline.id_listing import list_live_ids
from avesa.pipeline.quality import count_check
from avesa.pipeline.reconcile import reconcile
from avesa.state.ledger_records import ChunkRecord, TableRunUpdate
from avesa.transform.mapping import CompiledMapping, NulledValues, compiled

T = TypeVar("T")


def compiled_mapping(ctx: PipelineContext, service: str, table: str) -> CompiledMapping | None:
    mapping = ctx.catalog.mapping(service, table)
    if mapping is None:
        return None
    return compiled(mapping, ctx.catalog.canonical_table(mapping.canonical_table))


def build_job(ctx: PipelineContext, ref: TableRef, mapping: CompiledMapping, uri: str) -> CanonicalBuild:
    """What the table's build needs, read from the ledger here: the build itself never touches it."""
    chunks = ctx.state.list_chunks(ref)
    files = [ChunkFiles(chunk_id=c.chunk_id, prefix=prefix, records=c.records)
             for c, prefix in zip(chunks, raw_file_prefixes(ref, chunks), strict=True)]
    return CanonicalBuild(table=ref, mapping=mapping.mapping, canonical=mapping.canonical, uri=uri,
                          raw_directory=ctx.lake.raw_dir(ref.tenant_id, ref.service, ref.table), chunks=files)


def record_table_estimate(ctx: PipelineContext, ref: TableRef) -> None:
    """A table planned without counting learns its size from its chunks' first pages: their
    estimates, summed, are the table's (what `avesa jobs show` sets beside the actual count)."""
    run = ctx.state.get_table_run(ref)
    if run is None or run.estimate is not None:
        return
    estimates = [c.estimate for c in ctx.state.list_chunks(ref) if c.estimate is not None]
    if estimates:
        ctx.state.update_table_run(ref, TableRunUpdate(estimate=sum(estimates)))


def _keep_delta_link(ctx: PipelineContext, ref: TableRef, chunks: list) -> None:
    """A delta table's next run starts from the link this run's chunk ended on (its cursor once the
    last page landed). Moved only here, after the merge, for the same reason as the watermark."""
    if ref.mode is SyncMode.BACKFILL or ctx.catalog.service(ref.service).table(ref.table).sync != "delta":
        return
    links = [c.cursor for c in chunks if c.cursor and c.cursor != END]
    if links:
        ctx.state.set_sync_token(ref.tenant_id, ref.service, ref.table, links[-1], ref.run_id)


def _timed(name: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)`, its CPU charged to stage `name` (run in a worker thread)."""
    with stage(name):
        return function(*args, **kwargs)


def reconciliation_due(ctx: PipelineContext, ref: TableRef) -> bool:
    """Deletes are looked for on every full sync, and on incremental ones once the table's last
    reconciliation is older than AVESA_RECONCILE_INTERVAL_HOURS (0: every run; negative: never)."""
    if ref.mode is SyncMode.FULL:
        return True
    if ref.mode is SyncMode.BACKFILL:
        return False
    interval = ctx.settings.reconcile_interval_hours
    if interval < 0:
        return False
    last = ctx.state.get_last_reconciliation(ref.tenant_id, ref.service, ref.table)
    return last is None or utc_now() - last >= timedelta(hours=interval)


async def reconcile_deletes(ctx: PipelineContext, ref: TableRef, mapping: CompiledMapping,
                            uri: str, listed_at: datetime, live_ids: set[str]) -> tuple[int, int]:
    """Close the keys the listing (begun at `listed_at`) no longer holds and re-open deleted ones it
    lists again. Returns (deletes, versions)."""
    found = await asyncio.to_thread(_timed, "reconcile", reconcile, uri, mapping, live_ids, run_id=ref.run_id,
                                    listed_at=listed_at, loaded_at=utc_now())
    versions = found.versions
    if versions is None:
        return 0, 0
    result = await asyncio.to_thread(_timed, "merge", merge_scd2, uri, versions, mapping.business_columns)
    return (found.deletes.num_rows if found.deletes is not None else 0), result.stats.new_versions


async def finalize_table(ctx: PipelineContext, request: FinalizeRequest,
                         build: CanonicalBuilder = build_in_thread) -> TableResult:
    """The finalize-table unit, run once every chunk of the table has ended: a table whose chunks
    did not all complete is reported failed (or cancelled) here; otherwise this run's raw files are
    merged into the canonical table, deletes looked for when due, and the watermark moved.
    Whatever goes wrong on the way — a record that cannot be read, a value pyarrow or Delta refuses
    — fails this table only, with the reason; the watermark stays where it was.

    Two source tables that feed one canonical table (ConnectWise and ServiceNow tickets of one
    tenant) may be finalized at the same time, by any workers: the merge's commit protocol
    serialises them (a commit that lost the race merges again on the new snapshot;
    lake/delta_merge.py). `build` runs the mapping and merge: in a thread, or in a worker process
    (pipeline/build_runner.py)."""
    started = time.monotonic()
    try:
        result = await _finalize(ctx, request, build)
    except Exception as exc:  # nothing about one table may stop the others
        result = table_failed_by(ctx, request.table, exc, "finalize")
    result.seconds = time.monotonic() - started
    return result


def _unfinished_message(ref: TableRef, chunks: list[ChunkRecord], unfinished: list[ChunkRecord],
                        failed: list[ChunkOutcome]) -> str:
    """The executor's failed outcomes say which failure matters most (chunks_failed_message); a
    finalize that has only the ledger names the first few unfinished chunks."""
    if failed:
        return chunks_failed_message(failed)
    errors = "; ".join(f"{c.chunk_id}: {c.last_error or c.status}" for c in unfinished[:3])
    return f"{ref.label}: {len(unfinished)} of {len(chunks)} chunks did not complete ({errors})"


async def _finalize(ctx: PipelineContext, request: FinalizeRequest, build: CanonicalBuilder) -> TableResult:
    ref = request.table
    record_table_estimate(ctx, ref)
    chunks = ctx.state.list_chunks(ref)
    unfinished = [c for c in chunks if c.status != ChunkStatus.COMPLETE.value]
    records = sum(c.records for c in chunks)
    if run_cancelled(ctx, ref.run_id) or any(o.status is ChunkStatus.CANCELLED for o in request.failed_chunks):
        return cancelled_result(ctx, ref, records)
    if unfinished or request.failed_chunks:
        return fail_table(ctx, ref, _unfinished_message(ref, chunks, unfinished, request.failed_chunks),
                          records=records)
    if not request.merge:
        ctx.state.update_table_run(ref, TableRunUpdate(status=TableStatus.COMPLETE, records=records,
                                                       finished_at=utc_now()))
        return TableResult(table=ref, status=TableStatus.COMPLETE, records=records)
    ctx.state.update_table_run(ref, TableRunUpdate(status=TableStatus.FINALIZING, records=records))
    # Every chunk is complete: a temporary raw file of one is a leftover of a killed write (so is
    # any other run's an hour old — an abandoned or cancelled run's). They never reach a reader.
    await asyncio.to_thread(remove_temporary_files, ctx.lake.raw_dir(ref.tenant_id, ref.service, ref.table),
                            raw_file_prefixes(ref, chunks))
    mapping = compiled_mapping(ctx, ref.service, ref.table)
    created = deletes = 0
    canonical = None
    counts: tuple[int | None, int | None] = (None, None)
    nulled = NulledValues()
    try:
        if mapping is not None:
            canonical = mapping.mapping.canonical_table
            uri = ctx.lake.canonical_uri(ref.tenant_id, canonical)
            listing: asyncio.Task[set[str]] | None = None
            if reconciliation_due(ctx, ref):
                # The listing reads the source and the build writes the lake: they run side by side,
                # the listing still begun after every chunk of the table was read (a large table's
                # listing by id ranges at once: pipeline/id_listing.py).
                started_listing = utc_now()
                listing = asyncio.create_task(list_live_ids(ctx, ref, mapping, uri))
            try:
                built = await build(build_job(ctx, ref, mapping, uri))
            except BaseException:
                if listing is not None:
                    listing.cancel()
                    with contextlib.suppress(BaseException):
                        await listing
                raise
            created, deletes = built.created, built.deletes
            nulled.update(built.nulled)
            if listing is not None:
                reconciled, versions = await reconcile_deletes(ctx, ref, mapping, uri, started_listing, await listing)
                deletes += reconciled
                created += versions
                ctx.state.set_last_reconciliation(ref.tenant_id, ref.service, ref.table, started_listing)
            if ref.mode is SyncMode.FULL:
                counts = await count_check(ctx, ref, mapping, uri)
    except Exception as exc:  # bad data no earlier check caught is this table's failure, never the run's
        return table_failed_by(ctx, ref, exc, "finalize", records=records, canonical_table=canonical)
    newest = [c.max_updated_at for c in chunks if c.max_updated_at is not None]
    watermark = max(newest) if newest and ref.mode is not SyncMode.BACKFILL else None
    if watermark is not None:
        with stage("ledger"):
            ctx.state.set_watermark(ref.tenant_id, ref.service, ref.table, watermark, ref.run_id)
    _keep_delta_link(ctx, ref, chunks)
    source_count, canonical_count = counts
    ctx.state.update_table_run(ref, TableRunUpdate(
        status=TableStatus.COMPLETE, versions_created=created, deletes=deletes, finished_at=utc_now(), error=None,
        nulled_values=dict(nulled), source_count=source_count, canonical_count=canonical_count))
    return TableResult(table=ref, status=TableStatus.COMPLETE, records=records, versions_created=created,
                       deletes=deletes, watermark=watermark, canonical_table=canonical,
                       nulled_values=dict(nulled), source_count=source_count, canonical_count=canonical_count)


def table_finished(result: TableResult) -> None:
    """Log how a table of a run ended (every executor, once per table); a failed one as a warning."""
    ref = result.table
    level = logging.WARNING if result.status is TableStatus.FAILED else logging.INFO
    events.emit("table_finished", level=level, run_id=ref.run_id, tenant_id=ref.tenant_id, service=ref.service,
                table=ref.table, mode=ref.mode.value, status=result.status.value, records=result.records,
                versions_created=result.versions_created, deletes=result.deletes,
                seconds=round(result.seconds, 3), error=result.error, nulled_values=result.nulled_values,
                source_count=result.source_count, canonical_count=result.canonical_count)
