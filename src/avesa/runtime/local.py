"""The embedded executor: runs the pipeline units with asyncio, in parallel across tenants,
tables and chunks — under a per-tenant cap on tables, a per-table cap on chunks, and (in the HTTP
layer) a global cap on requests in flight and a rate budget per (tenant, service).

A table's failure is recorded and reported; it never stops the other tables or tenants.
A backfill's chunks (its windows) also share a process-wide cap, `max_backfill_windows`. A run
cancelled from elsewhere (`avesa jobs cancel`) stops at its chunks' next checkpoint or claim.

Several executors in one process (`avesa serve` runs many tenants' runs at once) share one
`LoopLimits`, so the caps and the rate budgets hold for the process, not per run. `request_stop`
(SIGTERM) makes every chunk land the pages it has read and stop; the run is left as a crash leaves
it — running in the ledger, its tables unfinished — and the next `avesa run` or `avesa serve`
resumes it from the chunks' cursors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from avesa.connectors.rate_budget import RateBudgets
from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    BackfillRequest,
    ChunkAttempt,
    ChunkOutcome,
    ChunkStatus,
    ChunkTask,
    FinalizeRequest,
    FinishRunRequest,
    PlanRunRequest,
    ResumeRequest,
    RunRequest,
    RunWork,
    SyncMode,
    TablePlan,
    TableRef,
    TableResult,
    TableStatus,
    TableWork,
)
from avesa.observability import events
from avesa.pipeline.build_runner import ProcessBuilds, canonical_builder
from avesa.pipeline.cancel import cancelled_result, run_cancelled
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import run_chunk
from avesa.pipeline.failures import table_failed_by
from avesa.pipeline.finalize import finalize_table, table_finished
from avesa.pipeline.finish import finish_run, report_rate_budgets
from avesa.pipeline.heartbeat import keep_run_lease
from avesa.pipeline.plan import plan_table
from avesa.pipeline.units import plan_work
from avesa.runtime.observer import NullObserver, RunObserver
from avesa.runtime.occupancy import Occupancy
from avesa.runtime.priority_slots import PrioritySlots
from avesa.settings import Settings
from avesa.state.ledger_records import RunRecord

_UNFINISHED = (TableStatus.PENDING, TableStatus.EXTRACTING)
"""Statuses of a table result the executor stopped (SIGTERM) before the table ended."""

MAX_REPORTED_FAILURES = 20  # failed chunk outcomes handed to the finalize unit: enough to pick the one to report


@dataclass
class RunSummary:
    run_id: str
    results: list[TableResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    held_by: dict[str, str] = field(default_factory=dict)
    """Tenants left out because another live run holds them: tenant -> that run's id."""
    seconds: float = 0.0
    status: str = "running"  # the run's status in the ledger once it ended: complete, failed, cancelled
    rate_limits: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per `tenant/service` that was rate limited: requests, 429s, time waited, rates (RateBudget.figures)."""

    @property
    def failed(self) -> list[TableResult]:
        return [r for r in self.results if r.status is TableStatus.FAILED]

    @property
    def interrupted(self) -> bool:
        """The run was stopped (SIGTERM) before its tables ended: the next start resumes it."""
        return self.status == "interrupted"

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def records(self) -> int:
        return sum(r.records for r in self.results)


@dataclass
class LoopLimits:
    """The caps and rate budgets of one event loop, for every executor that runs in it."""

    in_flight: asyncio.Semaphore
    per_tenant: dict[str, asyncio.Semaphore]
    chunks_in_flight: PrioritySlots
    backfill_windows: asyncio.Semaphore
    budgets: RateBudgets

    @classmethod
    def from_settings(cls, settings: Settings) -> LoopLimits:
        """Made inside the loop that uses them (loop-bound primitives)."""
        return cls(in_flight=asyncio.Semaphore(settings.max_requests_in_flight), per_tenant={},
                   chunks_in_flight=PrioritySlots(settings.max_chunks_in_flight),
                   backfill_windows=asyncio.Semaphore(settings.max_backfill_windows), budgets=RateBudgets())


class LocalExecutor:
    def __init__(self, ctx: PipelineContext, observer: RunObserver | None = None, *,
                 extract_only: bool = False, limits: LoopLimits | None = None) -> None:
        """`extract_only` lands raw files and stops before the canonical tables and the watermark:
        what the extraction benchmark measures, and a way to re-land raw data without touching history.
        `limits` shares the caps of other executors in this loop (default: this executor's own)."""
        self.ctx = ctx
        self.observer = observer or NullObserver()
        self.extract_only = extract_only
        self.limits = limits
        self._stopping = False
        self.build = canonical_builder(ctx.settings.build_processes, local_lake=ctx.lake.is_local)
        """Where tables' canonical builds run: a worker process beside the extraction, or a thread."""

    def request_stop(self) -> None:
        """Stop soon, losing nothing: chunks land what they read and checkpoint, no new chunk or
        table starts, nothing is finalized; the run stays resumable (see the module)."""
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self, request: RunRequest) -> RunSummary:
        """Plan a new run for `request` and execute it."""
        return await self._plan_and_execute(PlanRunRequest(sync=request))  # type: ignore[return-value]

    async def backfill(self, request: BackfillRequest) -> RunSummary:
        """Plan a new backfill run for `request` and execute it (pipeline/backfill.py)."""
        return await self._plan_and_execute(PlanRunRequest(backfill=request))  # type: ignore[return-value]

    async def resume(self, run: RunRecord, tenant_id: str | None = None) -> RunSummary | None:
        """Finish a run a crash interrupted, from the ledger (None if another process claimed it).

        With `tenant_id`, only that tenant's unfinished tables: when other tenants' tables are left,
        the run goes back to its previous (dead) owner, still interrupted, for whoever resumes it
        next — `avesa run --tenant X` never syncs another tenant."""
        resume = ResumeRequest(run_id=run.run_id, expected_owner=run.owner, tenant_id=tenant_id)
        return await self._plan_and_execute(PlanRunRequest(resume=resume))

    async def retry(self, run: RunRecord) -> RunSummary | None:
        """Run the failed tables of a finished run again, each chunk from its cursor, under the same
        run id (None if the run is not a failed one). Safe after later runs: SCD2 places older
        versions where they belong and watermarks only move forward."""
        return await self._plan_and_execute(PlanRunRequest(resume=ResumeRequest(run_id=run.run_id)))

    async def _plan_and_execute(self, request: PlanRunRequest) -> RunSummary | None:
        self._open_loop_resources()
        work = plan_work(self.ctx, request)
        return None if work is None else await self._execute(work)

    def _open_loop_resources(self) -> None:
        # Loop-bound primitives are made inside the loop that uses them.
        limits = self.limits or LoopLimits.from_settings(self.ctx.settings)
        self.ctx.http.in_flight = limits.in_flight
        self.ctx.http.per_tenant_limit = self.ctx.settings.max_requests_per_tenant
        self.ctx.http.per_tenant = limits.per_tenant
        self._chunks_in_flight = limits.chunks_in_flight
        self._occupancy = Occupancy(self.ctx.settings.max_requests_in_flight, self.ctx.settings.max_requests_per_tenant,
                                    self.ctx.settings.max_chunks_per_table)
        self._backfill_windows = limits.backfill_windows
        self.ctx.budgets = limits.budgets

    async def _execute(self, work: RunWork) -> RunSummary:
        """Run every table of `work`, then the finish-run unit (which closes the run, or hands it
        back to its dead owner when tables of other tenants remain)."""
        started = time.monotonic()
        if isinstance(self.build, ProcessBuilds) and not self.extract_only and work.tables:
            self.build.start()  # the workers import while the first tables extract
        summary = RunSummary(run_id=work.run_id, skipped=work.skipped, held_by=dict(work.held_by))
        by_tenant: dict[str, list[TableWork]] = defaultdict(list)
        for item in work.tables:
            by_tenant[item.table.tenant_id].append(item)
        try:
            async with keep_run_lease(self.ctx, work.run_id):  # the run's owner is alive, whatever it is doing
                per_tenant = await asyncio.gather(*(self._tenant(items) for items in by_tenant.values()))
        except BaseException:
            self.ctx.state.unlock_tenants(work.run_id)
            raise
        finally:
            await self.ctx.aclose()
        summary.results = [r for results in per_tenant for r in results]
        summary.seconds = time.monotonic() - started
        summary.rate_limits = report_rate_budgets(self.ctx, work.run_id)
        if self._stopping and any(r.status in _UNFINISHED for r in summary.results):
            # left as a crash leaves it: the next start resumes it (its locks go stale with this process)
            left = sum(r.status in _UNFINISHED for r in summary.results)
            events.emit("run_stopped", level=logging.WARNING, run_id=work.run_id, tables_left=left,
                        seconds=round(summary.seconds, 3))
            summary.status = "interrupted"
            return summary
        stats = self.ctx.http.stats
        end = finish_run(self.ctx, FinishRunRequest(
            run_id=work.run_id, hand_back_to=work.hand_back_to, seconds=summary.seconds,
            http={"requests": stats.requests, "retries": stats.retries, "429": stats.rate_limited,
                  "bytes": stats.bytes}))
        summary.status = end.status
        return summary

    async def _tenant(self, items: list[TableWork]) -> list[TableResult]:
        tables = asyncio.Semaphore(self.ctx.settings.max_tables_per_tenant)
        started = time.monotonic()
        results = list(await asyncio.gather(*(self._table(item, tables) for item in items)))
        ended = [r for r in results if r.status not in _UNFINISHED]
        ref = items[0].table
        events.emit("tenant_finished", run_id=ref.run_id, tenant_id=ref.tenant_id, tables=len(ended),
                    failed=sum(r.status is TableStatus.FAILED for r in ended), stopped=len(results) - len(ended),
                    seconds=round(time.monotonic() - started, 3))
        return results

    async def _table(self, item: TableWork, tables: asyncio.Semaphore) -> TableResult:
        ref = item.table
        async with tables:
            started = time.monotonic()
            self.observer.table_started(ref)
            try:
                if self._stopping:
                    result = TableResult(table=ref, status=TableStatus.PENDING)
                elif run_cancelled(self.ctx, ref.run_id):
                    result = cancelled_result(self.ctx, ref)
                else:
                    result = await self._extract_and_finalize(ref, item.chunks)
            except Exception as exc:  # one table's trouble is its own failure: the other tables go on
                result = table_failed_by(self.ctx, ref, exc, "table")
            result.seconds = time.monotonic() - started
            if result.status not in _UNFINISHED:
                table_finished(result)
            self.observer.table_finished(result)
            return result

    async def _extract_and_finalize(self, ref: TableRef, chunks: list[ChunkTask] | None = None) -> TableResult:
        """Plan the table unless the ledger already holds its chunks (a resumed run), run every
        chunk not yet complete, then the finalize unit."""
        if chunks is None:
            plan = await plan_table(self.ctx, ref)
            chunks = plan.chunks
            self.observer.table_planned(plan)
        else:
            start = min((c.start for c in chunks), default=ref.run_started_at)
            self.observer.table_planned(TablePlan(table=ref, range_start=start, range_end=ref.run_started_at,
                                                  estimate=None, chunks=chunks))
        backfill = ref.mode is SyncMode.BACKFILL
        settings = self.ctx.settings
        chunk_slots = asyncio.Semaphore(settings.max_backfill_windows if backfill else settings.max_chunks_per_table)
        outcomes = await self._chunks(ref, chunks, chunk_slots)
        if self._stopping and any(o.status is ChunkStatus.INCOMPLETE for o in outcomes):
            return TableResult(table=ref, status=TableStatus.EXTRACTING, records=sum(o.records for o in outcomes))
        failed = [o for o in outcomes if o.status is not ChunkStatus.COMPLETE]
        if not failed and not self.extract_only:
            self.observer.table_merging(ref)
        return await finalize_table(self.ctx, FinalizeRequest(table=ref, failed_chunks=failed[:MAX_REPORTED_FAILURES],
                                                              merge=not self.extract_only), self.build)

    async def _chunks(self, ref: TableRef, chunks: list[ChunkTask], slots: asyncio.Semaphore) -> list[ChunkOutcome]:
        """Run the table's chunks, and the chunks they split off while running, to the end."""
        tasks: list[asyncio.Task[ChunkOutcome]] = []

        def start(chunk: ChunkTask) -> asyncio.Task[ChunkOutcome]:
            self._occupancy.chunk_started(ref)  # counted now: a sibling asking for spare room sees it at once
            return asyncio.create_task(self._chunk(chunk, slots, schedule))

        def schedule(children: list[ChunkTask]) -> None:
            self.observer.chunks_added(ref, len(children))
            tasks.extend(start(child) for child in children)

        tasks.extend(start(chunk) for chunk in chunks)
        outcomes: list[ChunkOutcome] = []
        try:
            while len(outcomes) < len(tasks):
                outcomes.append(await tasks[len(outcomes)])
        finally:
            for task in tasks:
                task.cancel()
        return outcomes

    async def _chunk(self, chunk: ChunkTask, slots: asyncio.Semaphore,
                     schedule: Callable[[list[ChunkTask]], None]) -> ChunkOutcome:
        """Run a chunk under the caps, counted in the occupancy its siblings split by."""
        ref = chunk.table
        backfill = ref.mode is SyncMode.BACKFILL
        windows = self._backfill_windows if backfill else contextlib.nullcontext()
        # A backfill stays within its windows: it never splits to fill idle slots.
        spare = None if backfill else lambda: self._occupancy.spare_for(ref, self._chunks_in_flight.waiting)
        try:
            async with slots, windows, self._chunks_in_flight.hold(chunk.estimate or 0):
                self._occupancy.chunk_reading(ref, +1)
                try:
                    return await self._run_to_end(chunk, schedule, spare)
                finally:
                    self._occupancy.chunk_reading(ref, -1)
        finally:
            self._occupancy.chunk_finished(ref)

    async def _run_to_end(self, chunk: ChunkTask, schedule: Callable[[list[ChunkTask]], None],
                          spare: Callable[[], int] | None) -> ChunkOutcome:
        """Attempt a chunk until it completes or fails: the run-chunk unit says when to stop (its
        stall rule), and the chunks an attempt split off start beside it at once."""
        attempt = ChunkAttempt(chunk=chunk, deadline=self._deadline())

        def landed(count: int) -> None:
            self.observer.records_landed(chunk.table, count)

        if self._stopping:  # never started: it stays as the ledger has it
            return ChunkOutcome(chunk_id=chunk.chunk_id, status=ChunkStatus.INCOMPLETE, cursor=chunk.cursor,
                                seq=chunk.seq, error="stopped before it started")
        while True:
            result = await run_chunk(self.ctx, attempt, on_records=landed, spare=spare, stop=self._stop_asked)
            if result.split_off:
                schedule(result.split_off)
            if result.finished or self._stopping:
                break
            if result.wait_seconds:
                await asyncio.sleep(result.wait_seconds)
            attempt = result.next_attempt(attempt, self._deadline())
        self.observer.chunk_finished(chunk.table)
        return result.outcome

    def _stop_asked(self) -> bool:
        return self._stopping

    def _deadline(self) -> datetime:
        return utc_now() + timedelta(seconds=self.ctx.settings.chunk_deadline_seconds)


def run_sync(ctx: PipelineContext, request: RunRequest, observer: RunObserver | None = None) -> RunSummary:
    return asyncio.run(LocalExecutor(ctx, observer).run(request))


def backfill_sync(ctx: PipelineContext, request: BackfillRequest,
                  observer: RunObserver | None = None) -> RunSummary:
    return asyncio.run(LocalExecutor(ctx, observer).backfill(request))


def resume_sync(ctx: PipelineContext, run: RunRecord, observer: RunObserver | None = None,
                tenant_id: str | None = None) -> RunSummary | None:
    return asyncio.run(LocalExecutor(ctx, observer).resume(run, tenant_id))


def retry_sync(ctx: PipelineContext, run: RunRecord, observer: RunObserver | None = None) -> RunSummary | None:
    return asyncio.run(LocalExecutor(ctx, observer).retry(run))
