"""Finalize a table once every chunk is complete: canonical transform + SCD2 merge, delete
reconciliation on a full sync, then the watermark advances — in that order, so a crash before the
end leaves the watermark where it was and the next run simply covers the range again.

A backfill merges like any run — the SCD2 merge places old versions where they belong and absorbs
the ones it already holds, so re-landing history changes nothing that was right — but neither
looks for deletes (it read a past range, not the table) nor moves the watermark: the scheduled
incremental runs keep their own position. A cancelled run's tables are not finalized."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from avesa.connectors.paginators import END
from avesa.domain.errors import AvesaError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    ChunkOutcome,
    ChunkStatus,
    ChunkTask,
    FinalizeRequest,
    SyncMode,
    TableRef,
    TableResult,
    TableStatus,
)
from avesa.lake.delta_tables import merge_scd2
from avesa.lake.raw_files import iter_raw_batches, list_raw_files, remove_temporary_files
from avesa.observability import events
from avesa.observability.stage_cpu import stage
from avesa.pipeline.cancel import cancelled_result, run_cancelled
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import raw_file_prefix
from avesa.pipeline.failures import chunks_failed_message, fail_table, table_failed_by
from avesa.pipeline.quality import count_check
from avesa.pipeline.reconcile import announced_deletions, reconcile
from avesa.state.ledger_records import ChunkRecord, TableRunUpdate
from avesa.transform.mapping import CompiledMapping, NulledValues

MERGE_BATCH_ROWS = 200_000
T = TypeVar("T")


def compiled_mapping(ctx: PipelineContext, service: str, table: str) -> CompiledMapping | None:
    mapping = ctx.catalog.mapping(service, table)
    if mapping is None:
        return None
    return CompiledMapping(mapping, ctx.catalog.canonical_table(mapping.canonical_table))


def _raw_prefixes(ref: TableRef, chunks: list[ChunkRecord]) -> list[str]:
    """How the names of this run's raw files of the table start, chunk by chunk."""
    return [
        raw_file_prefix(ChunkTask(table=ref, chunk_id=c.chunk_id, index=c.idx, start=c.range_start, end=c.range_end))
        for c in chunks
    ]


def _latest_reading(versions: pa.Table) -> pa.Table:
    """Of versions one extraction read twice — same key, source stamp and `extracted_at` (the same
    raw file: a Graph delta may return an item more than once) — the one read last: files are read
    in order and rows in file order. The merge tells apart versions read at different times."""
    keys = ["source_id", "last_updated", "extracted_at"]
    n = versions.num_rows
    if n < 2:
        return versions
    groups = versions.select(keys).append_column("__row", pa.array(range(n), pa.int64()))
    last = groups.group_by(keys, use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == n:
        return versions
    kept = last.column("__row_max")
    return versions.take(pc.take(kept, pc.sort_indices(kept)))


def _transform_and_merge(ctx: PipelineContext, ref: TableRef, mapping: CompiledMapping,
                         uri: str, nulled: NulledValues) -> tuple[int, int]:
    """Map this run's raw files to versions and merge them, a bounded batch at a time; then close the
    keys whose records announced their deletion. Returns (versions created, keys deleted); values that
    could not be converted are counted in `nulled`.

    A table's versions up to MERGE_BATCH_ROWS are one Delta commit, so a record that cannot be read
    fails the table before anything of it is merged. A bigger table commits batch by batch — whole
    raw files at a time, so that the records one file holds twice meet in one batch; a failure after
    the first leaves true versions merged and the watermark unmoved, and the next run merges the rest
    again (SCD2 absorbs what it already holds).

    Every version carries its raw file's `extracted_at`: of two versions of a key with the same
    source stamp (two edits within one tick of the source's clock), the one read later wins."""
    chunks = ctx.state.list_chunks(ref)
    prefixes = _raw_prefixes(ref, chunks)
    directory = ctx.lake.raw_dir(ref.tenant_id, ref.service, ref.table)
    paths = list_raw_files(directory, prefixes)
    landed = dict.fromkeys(prefixes, 0)  # rows found in each chunk's files
    created = 0
    pending: list[pa.Table] = []
    pending_rows = 0
    loaded_at = utc_now()

    def merge_pending() -> None:
        nonlocal created, pending, pending_rows
        if pending:
            with stage("merge"):
                result = merge_scd2(uri, _latest_reading(pa.concat_tables(pending)), mapping.business_columns)
            created += result.stats.new_versions
            pending, pending_rows = [], 0

    announced: dict[str, tuple[datetime, datetime | None]] = {}
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        prefix = next(p for p in prefixes if name.startswith(p))
        for batch in iter_raw_batches([path], directory):
            landed[prefix] += batch.num_rows
            ids = batch.column("record_id").to_pylist()
            updated = batch.column("source_updated_at").to_pylist()
            records = batch.column("record").to_pylist()
            extracted = batch.column("extracted_at").to_pylist()
            index = batch.schema.get_field_index("source_deleted")
            flags = batch.column(index).to_pylist() if index >= 0 else [False] * len(ids)
            live, read = [], []
            for record_id, stamp, record, at, gone in zip(ids, updated, records, extracted, flags, strict=True):
                if gone:
                    seen = announced.get(record_id)
                    if seen is None or (stamp, at) >= seen:  # the latest announcement: raw rows carry extracted_at
                        announced[record_id] = (stamp, at)
                else:
                    live.append((record_id, stamp, record))
                    read.append(at)
            with stage("mapping"):
                versions = mapping.to_versions(live, tenant_id=ref.tenant_id, run_id=ref.run_id,
                                               loaded_at=loaded_at, nulled=nulled, extracted_at=read)
            pending.append(versions)
            pending_rows += versions.num_rows
        if pending_rows >= MERGE_BATCH_ROWS:
            merge_pending()
    _check_landed(ref, chunks, prefixes, landed)
    merge_pending()
    tombstones = announced_deletions(uri, mapping, announced, run_id=ref.run_id, detected_at=loaded_at)
    if tombstones is None:
        return created, 0
    created += merge_scd2(uri, tombstones, mapping.business_columns).stats.new_versions
    return created, tombstones.num_rows


class RawFilesShort(AvesaError):
    """A chunk's raw files hold fewer records than its checkpoints counted."""


def _check_landed(ref: TableRef, chunks: list[ChunkRecord], prefixes: list[str], landed: dict[str, int]) -> None:
    """Every record a chunk checkpointed is in its raw files, or the table fails before its last
    merge and its watermark stays: a worker that lost its chunk while writing a file can still
    replace the file of that name its successor wrote (extract.py checks its lease just before a
    write, not during it), and a smaller file would lose the records in between without a word."""
    short = [(c, landed[p]) for c, p in zip(chunks, prefixes, strict=True) if landed[p] < c.records]
    if short:
        listed = ", ".join(f"{c.chunk_id} ({found} of {c.records})" for c, found in short[:3])
        raise RawFilesShort(f"{ref.label}: the raw files of {len(short)} chunk(s) hold fewer records than their "
                            f"checkpoints counted: {listed}. A file was replaced after it was checkpointed (a "
                            "worker that had lost its chunk wrote it); the watermark stays, so the next run reads "
                            "these records again")


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
                            uri: str, listed_at: datetime) -> tuple[int, int]:
    """List every id at the source (the listing began at `listed_at`); close the keys that vanished
    and re-open deleted ones it lists again. Returns (deletes, versions)."""
    connector = ctx.connector(ref.tenant_id, ref.service)
    live_ids: set[str] = set()
    async for batch in connector.list_ids(ref.table):
        live_ids.update(batch)
    found = await asyncio.to_thread(_timed, "reconcile", reconcile, uri, mapping, live_ids, run_id=ref.run_id,
                                    listed_at=listed_at, loaded_at=utc_now())
    versions = found.versions
    if versions is None:
        return 0, 0
    result = await asyncio.to_thread(_timed, "merge", merge_scd2, uri, versions, mapping.business_columns)
    return (found.deletes.num_rows if found.deletes is not None else 0), result.stats.new_versions


async def finalize_table(ctx: PipelineContext, request: FinalizeRequest) -> TableResult:
    """The finalize-table unit, run once every chunk of the table has ended: a table whose chunks
    did not all complete is reported failed (or cancelled) here; otherwise this run's raw files are
    merged into the canonical table, deletes looked for when due, and the watermark moved.
    Whatever goes wrong on the way — a record that cannot be read, a value pyarrow or Delta refuses
    — fails this table only, with the reason; the watermark stays where it was.

    Two source tables that feed one canonical table (ConnectWise and ServiceNow tickets of one
    tenant) may be finalized at the same time, by any workers: the merge's commit protocol
    serialises them (a commit that lost the race merges again on the new snapshot;
    lake/delta_merge.py)."""
    started = time.monotonic()
    try:
        result = await _finalize(ctx, request)
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


async def _finalize(ctx: PipelineContext, request: FinalizeRequest) -> TableResult:
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
                            _raw_prefixes(ref, chunks))
    mapping = compiled_mapping(ctx, ref.service, ref.table)
    created = deletes = 0
    canonical = None
    counts: tuple[int | None, int | None] = (None, None)
    nulled = NulledValues()
    try:
        if mapping is not None:
            canonical = mapping.mapping.canonical_table
            uri = ctx.lake.canonical_uri(ref.tenant_id, canonical)
            created, deletes = await asyncio.to_thread(_transform_and_merge, ctx, ref, mapping, uri, nulled)
            if reconciliation_due(ctx, ref):
                started_listing = utc_now()
                reconciled, versions = await reconcile_deletes(ctx, ref, mapping, uri, started_listing)
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
