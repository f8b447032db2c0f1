"""Run one chunk: page through its range by keyset, land raw files, checkpoint after each file.

A file is written only from whole pages and the cursor is saved only after the file is on disk,
so a crash, a deadline or a failed page loses nothing and duplicates nothing: the chunk resumes
after its cursor and rewrites the same deterministic file names.

The checkpoint is also how a worker learns it should stop: the ledger refuses it when the run was
cancelled (`avesa jobs cancel`) or another worker took the chunk over, and the chunk stops, leaving
the ledger to whoever holds it now. Each file is written only after a renewal of the lease the
ledger accepted: a worker that lost its chunk while reading pages never replaces the file the new
holder wrote under the same name from the same cursor — with its pages cut elsewhere, that would
lose the records in between. Between checkpoints a heartbeat
renews the lease (`pipeline/heartbeat.py`), so slow pages never let it expire under a live worker;
a refused renewal stops the chunk at its next page the same way.

A chunk stopped from outside — its task cancelled because a sibling failed, or the process
shutting down — or by an error nothing expected says so in the ledger (incomplete or failed, its
lease freed, its last checkpoint kept) instead of staying "running" under a lease nobody renews.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from avesa.connectors.paginators import END
from avesa.domain.errors import AvesaError
from avesa.domain.pages import Page
from avesa.domain.storage_errors import storage_problem
from avesa.domain.timeutil import compact_stamp, utc_now
from avesa.domain.work import ChunkAttempt, ChunkAttemptResult, ChunkOutcome, ChunkStatus, ChunkTask, TableRef
from avesa.observability import events
from avesa.observability.stage_cpu import stage
from avesa.pipeline.cancel import run_cancelled
from avesa.pipeline.chunking import chunk_target, should_halve, split_points
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.failures import failure_message, log_unexpected
from avesa.pipeline.heartbeat import keep_chunk_lease
from avesa.pipeline.raw_sink import LeaseLost, RawFileSink
from avesa.pipeline.request_tally import RequestTally, attribute_requests, tally_requests
from avesa.state.ledger_records import ChunkRecord

ProgressCallback = Callable[[int], None]
SpareCallback = Callable[[], int]
StopCallback = Callable[[], bool]

MAX_STALLS = 3
"""Attempts in a row that stopped at their deadline having landed nothing new, before a chunk is
reported stuck instead of being run again."""
MAX_STALL_WAIT_SECONDS = 5.0
"""The longest pause between two attempts of a stalling chunk (0.5 s more per stall)."""


def raw_file_prefix(chunk: ChunkTask) -> str:
    return f"{compact_stamp(chunk.table.run_started_at)}_{chunk.chunk_id}_"


def raw_file_prefixes(ref: TableRef, chunks: list[ChunkRecord]) -> list[str]:
    """How the names of this run's raw files of the table start, chunk by chunk."""
    return [
        raw_file_prefix(ChunkTask(table=ref, chunk_id=c.chunk_id, index=c.idx, start=c.range_start, end=c.range_end))
        for c in chunks
    ]


def _halve(ctx: PipelineContext, chunk: ChunkTask, start: datetime, end: datetime,
           page: Page) -> tuple[datetime, ChunkTask] | None:
    """Hand the upper half of the rest of a running chunk's range to a new chunk. The chunk has landed
    every id up to the page's cursor over its whole range; it keeps `[start, cut)` and the new chunk
    takes `[cut, end)`, starting after that same cursor — so together they read exactly what the
    chunk had left.

    Nothing the page read changed before its oldest stamp, so the cut halves the range above that
    (on a first sync the range starts in 1970: halving from there would hand everything to the new
    chunk) and the chunk keeps the range below it with its half. Either half that is still dense
    halves again when a page of its own says so. Recorded in one transaction; returns the chunk's new
    end and the new chunk, or None."""
    left = max(0, (page.remaining or 0) - len(page))
    floor = min(page.updated_at).replace(microsecond=0) + timedelta(seconds=1) if len(page) else start
    cuts = split_points(floor if start < floor < end else start, end, 2)
    if not cuts:
        return None
    ref, cut = chunk.table, cuts[0]
    index = ctx.state.next_chunk_index(ref)
    half = ChunkTask(table=ref, chunk_id=f"{chunk.chunk_id}.{index}", index=index, start=cut, end=end,
                     cursor=page.last_id, estimate=left // 2)
    if not ctx.state.split_chunk(chunk.chunk_id, ctx.owner, cut, [half]):
        return None
    return cut, half


def _error_kind(exc: BaseException) -> str:
    return type(exc).__name__


def _stopped(ctx: PipelineContext, chunk: ChunkTask, outcome: ChunkOutcome) -> ChunkOutcome:
    """What a chunk that may no longer write reports; the ledger is left to whoever holds it now."""
    if run_cancelled(ctx, chunk.table.run_id):
        return outcome.model_copy(update={"status": ChunkStatus.CANCELLED,
                                          "error": f"run {chunk.table.run_id} was cancelled"})
    return outcome.model_copy(update={"status": ChunkStatus.INCOMPLETE, "error": "lease taken over by another worker"})


def _release(ctx: PipelineContext, chunk: ChunkTask, exc: BaseException) -> None:
    """Record a chunk stopped by `exc`, which no handler of the chunk expected (see the module)."""
    if isinstance(exc, Exception):
        status, error = ChunkStatus.FAILED, f"{chunk.table.label}: unexpected {type(exc).__name__}: {exc}"
    else:  # cancelled (its table or run stopped it) or the process is shutting down
        status, error = ChunkStatus.INCOMPLETE, "stopped before it finished; it continues from its cursor"
    ctx.state.release_chunk(chunk.chunk_id, ctx.owner, status, error)


async def run_chunk(ctx: PipelineContext, attempt: ChunkAttempt, *, on_records: ProgressCallback | None = None,
                    spare: SpareCallback | None = None, stop: StopCallback | None = None) -> ChunkAttemptResult:
    """The run-chunk unit: one attempt of `attempt.chunk`, from its ledger cursor until it is done,
    fails, splits or reaches `attempt.deadline` (wall clock).

    With `may_split`, a chunk whose page says far more is left than one chunk's worth splits itself:
    it lands what it has read, keeps the lower half of the rest of its range, hands the upper half to
    a new chunk that starts after its cursor (see `_halve`), and returns at once, incomplete, with the
    new chunk in `split_off` for the executor to run beside it; its next attempt pages on inside the
    narrower range and halves again while its pages say it is still dense. A table therefore needs no
    counting before it starts, and a dense window is cut wherever it turns out to be — whichever
    executor runs it. `spare` is an executor's hint (how many more chunks could read right now
    without anyone waiting): with it a chunk with more than a page left also halves when slots would
    otherwise idle, so a run's last chunks do not read alone. `on_records` reports progress.

    An attempt that stopped at its deadline having landed nothing new since the previous one counts
    as a stall (its lease is held by a live worker elsewhere, or the source returns nothing); after
    MAX_STALLS in a row the chunk is reported failed rather than spun on (`stall_verdict`).

    `stop` is the executor's word that its process is shutting down (SIGTERM): when it says so the
    chunk lands the pages it has read, checkpoints and returns incomplete, as at its deadline, for
    whoever resumes the run. Each attempt is logged (`chunk_attempt`, at DEBUG) with what it read and
    the requests it made, which the chunk metrics count."""
    attribute_requests(ctx.http)
    before = ctx.state.get_chunk(attempt.chunk.chunk_id)
    started = time.monotonic()
    with tally_requests() as tally:
        outcome, split_off = await _attempt(ctx, attempt.chunk, attempt.deadline, attempt.may_split, on_records,
                                            spare, stop)
    result = stall_verdict(attempt, outcome, split_off)
    _log_attempt(attempt.chunk, result, before, tally, time.monotonic() - started)
    return result


def _log_attempt(chunk: ChunkTask, result: ChunkAttemptResult, before: ChunkRecord | None, tally: RequestTally,
                 seconds: float) -> None:
    outcome, ref = result.outcome, chunk.table
    events.emit("chunk_attempt", level=logging.DEBUG, run_id=ref.run_id, tenant_id=ref.tenant_id,
                service=ref.service, table=ref.table, chunk_id=chunk.chunk_id, status=outcome.status.value,
                finished=result.finished, records=max(0, outcome.records - (before.records if before else 0)),
                pages=max(0, outcome.pages - (before.pages if before else 0)), requests=tally.requests,
                retries=tally.retries, rate_limited=tally.rate_limited, seconds=round(seconds, 3),
                chunk_seconds=round(outcome.seconds, 3), split_off=len(result.split_off))


def stall_verdict(attempt: ChunkAttempt, outcome: ChunkOutcome, split_off: list[ChunkTask]) -> ChunkAttemptResult:
    """Apply the stall rule to an attempt's outcome (see `run_chunk`); a failed chunk is logged."""
    chunk = attempt.chunk
    stalls = 0
    if outcome.status is ChunkStatus.INCOMPLETE and not split_off:
        stalls = attempt.stalls + 1 if outcome.records == attempt.landed else 0
        if stalls >= MAX_STALLS:
            outcome = outcome.model_copy(update={
                "status": ChunkStatus.FAILED,
                "error": f"{chunk.table.label}: chunk {chunk.chunk_id} made no progress "
                         f"({outcome.error or 'stopped at its deadline'}); `avesa jobs show "
                         f"{chunk.table.run_id}` shows its lease"})
    if outcome.status is ChunkStatus.FAILED:
        events.emit("chunk_failed", level=logging.WARNING, run_id=chunk.table.run_id, tenant_id=chunk.table.tenant_id,
                    service=chunk.table.service, table=chunk.table.table, chunk_id=chunk.chunk_id,
                    cursor=outcome.cursor, error=outcome.error, error_kind=outcome.error_kind)
    wait = min(MAX_STALL_WAIT_SECONDS, 0.5 * stalls) if outcome.status is ChunkStatus.INCOMPLETE else 0.0
    return ChunkAttemptResult(outcome=outcome, split_off=split_off, stalls=stalls, wait_seconds=wait)


async def _attempt(ctx: PipelineContext, chunk: ChunkTask, deadline: datetime, may_split: bool,
                   on_records: ProgressCallback | None, spare: SpareCallback | None,
                   stop: StopCallback | None = None) -> tuple[ChunkOutcome, list[ChunkTask]]:
    claimed = _claim(ctx, chunk)
    if isinstance(claimed, ChunkOutcome):
        return claimed, []
    sink = RawFileSink(ctx, chunk, claimed)
    split_off: list[ChunkTask] = []
    try:
        await _read_pages(ctx, chunk, claimed, sink, split_off, deadline, may_split, on_records, spare, stop)
    except LeaseLost:
        return _stopped(ctx, chunk, sink.outcome), split_off
    except Exception as exc:  # a source error, a full disk, bad data no check foresaw: this chunk's failure
        _failed(chunk, sink.outcome, exc)  # pages not landed were never written; the cursor is before them
    except BaseException as exc:
        _release(ctx, chunk, exc)
        raise
    sink.clock()
    with stage("ledger"):
        finished = ctx.state.finish_chunk(chunk.chunk_id, sink.outcome, utc_now(), owner=ctx.owner)
    if not finished:
        return _stopped(ctx, chunk, sink.outcome), split_off
    return sink.outcome, split_off


def _claim(ctx: PipelineContext, chunk: ChunkTask) -> ChunkRecord | ChunkOutcome:
    """The chunk's ledger record with its lease now ours — or, when there is nothing to run (it is
    complete or cancelled, or another worker holds it), what the attempt reports instead."""
    record = ctx.state.get_chunk(chunk.chunk_id)
    if record is None:
        ctx.state.save_chunks([chunk])
        record = ctx.state.get_chunk(chunk.chunk_id)
        if record is None:  # a ledger that keeps what it is given never gets here
            raise AvesaError(f"chunk {chunk.chunk_id}: the state store did not keep it when saved")
    if record.status in (ChunkStatus.COMPLETE, ChunkStatus.CANCELLED):
        return ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus(record.status), cursor=record.cursor,
                            seq=record.seq, records=record.records, pages=record.pages, files=record.files,
                            max_updated_at=record.max_updated_at)
    if not ctx.state.acquire_chunk(chunk.chunk_id, ctx.owner, ctx.settings.lease_seconds, utc_now()):
        held = ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.INCOMPLETE, cursor=record.cursor,
                            seq=record.seq, error="held by another worker's lease")
        return _stopped(ctx, chunk, held) if run_cancelled(ctx, chunk.table.run_id) else held
    return record


async def _read_pages(ctx: PipelineContext, chunk: ChunkTask, record: ChunkRecord, sink: RawFileSink,
                      split_off: list[ChunkTask], deadline: datetime, may_split: bool,
                      on_records: ProgressCallback | None, spare: SpareCallback | None,
                      stop: StopCallback | None) -> None:
    """Page through the chunk's range after its cursor into `sink` until the range ends (complete),
    the chunk halves itself (the new chunk appended to `split_off`), or the deadline or a stop comes
    (incomplete); the outcome's status says which."""
    ref, outcome = chunk.table, sink.outcome
    connector = ctx.connector(ref.tenant_id, ref.service)
    start, end = record.range_start, record.range_end  # the ledger's: an earlier split may have narrowed it
    target = chunk_target(ctx, ref) if may_split else 0
    page_size = min(ctx.settings.page_size, ctx.catalog.service(ref.service).page_size_max)
    estimate = record.estimate
    async with keep_chunk_lease(ctx, chunk.chunk_id) as lease:
        async for page in connector.pages(ref.table, start, end, outcome.cursor):
            if lease.lost:  # the ledger refused a renewal: cancelled, or another worker's now
                raise LeaseLost(chunk.chunk_id)
            sink.take(page)
            if on_records is not None:
                on_records(len(page))
            seen = sink.seen  # this page included
            if page.remaining is not None and estimate is None:
                # the first page says how big the chunk is: the estimate `avesa jobs show` compares
                estimate = seen - len(page) + page.remaining
                ctx.state.set_chunk_estimate(chunk.chunk_id, estimate)
            if (may_split and page.remaining is not None and page.last_id not in (None, END)
                    and should_halve(page.remaining - len(page), target, page_size, spare)):
                await asyncio.to_thread(sink.land)  # the new chunk starts after this cursor: land it first
                split = await asyncio.to_thread(_halve, ctx, chunk, start, end, page)
                if split is not None:
                    end, half = split
                    estimate = seen + max(0, page.remaining - len(page)) - (half.estimate or 0)
                    ctx.state.set_chunk_estimate(chunk.chunk_id, estimate)
                    split_off.append(half)
                    outcome.status = ChunkStatus.INCOMPLETE  # the next attempt pages on inside [start, cut)
                    return
            if sink.buffered >= ctx.settings.records_per_file:
                await asyncio.to_thread(sink.land)
            if utc_now() >= deadline or (stop is not None and stop()):
                await asyncio.to_thread(sink.land)
                outcome.status = ChunkStatus.INCOMPLETE
                return
        await asyncio.to_thread(sink.land)  # the range is read: land the rest while the lease is kept
        outcome.status = ChunkStatus.COMPLETE


def _failed(chunk: ChunkTask, outcome: ChunkOutcome, exc: Exception) -> None:
    """Mark the outcome failed with what a user reads, and log an error no check foresaw."""
    ref = chunk.table
    log_unexpected(ref, exc, "extract")
    outcome.status = ChunkStatus.FAILED
    plain = isinstance(exc, OSError) and storage_problem(exc) is None  # a dropped connection says enough
    outcome.error = f"{ref.label}: {exc}" if plain else failure_message(ref, exc)
    outcome.error_kind = _error_kind(exc)
