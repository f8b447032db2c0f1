"""The embedded executor: runs the pipeline units with asyncio, in parallel across tenants,
tables and chunks — under a per-tenant cap on tables, a per-table cap on chunks, and (in the HTTP
layer) a global cap on requests in flight and a rate budget per (tenant, service).

A table's failure is recorded and reported; it never stops the other tables or tenants.
A backfill's chunks (its windows) also share a process-wide cap, `max_backfill_windows`. A run
cancelled from elsewhere (`avesa jobs cancel`) stops at its chunks' next checkpoint or claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from avesa.connectors.rate_budget import RateBudgets
from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    BackfillRequest,
    ChunkOutcome,
    ChunkStatus,
    ChunkTask,
    RunRequest,
    SyncMode,
    TablePlan,
    TableRef,
    TableResult,
    TableStatus,
)
from avesa.observability import events
from avesa.pipeline.backfill import plan_backfill
from avesa.pipeline.cancel import cancelled_result, run_cancelled
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import run_chunk
from avesa.pipeline.failures import chunks_failed_message, fail_table, table_failed_by
from avesa.pipeline.finalize import finalize_table, record_table_estimate
from avesa.pipeline.heartbeat import keep_run_lease
from avesa.pipeline.plan import lock_tenants, plan_run, plan_table
from avesa.pipeline.resume import remaining_work, unfinished_tenants
from avesa.runtime.observer import NullObserver, RunObserver
from avesa.runtime.occupancy import Occupancy
from avesa.runtime.priority_slots import PrioritySlots
from avesa.state.ledger_records import RunRecord

MAX_STALLS = 3  # deadline stops that landed nothing new, in a row, before a chunk is reported stuck


@dataclass
class RunSummary:
    run_id: str
    results: list[TableResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    status: str = "running"  # the run's status in the ledger once it ended: complete, failed, cancelled
    rate_limits: dict[str, dict[str, object]] = field(default_factory=dict)
    """Per `tenant/service` that was rate limited: requests, 429s, time waited, rates (RateBudget.figures)."""

    @property
    def failed(self) -> list[TableResult]:
        return [r for r in self.results if r.status not in (TableStatus.COMPLETE, TableStatus.CANCELLED)]

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def records(self) -> int:
        return sum(r.records for r in self.results)


class LocalExecutor:
    def __init__(self, ctx: PipelineContext, observer: RunObserver | None = None, *,
                 extract_only: bool = False) -> None:
        """`extract_only` lands raw files and stops before the canonical tables and the watermark:
        what the extraction benchmark measures, and a way to re-land raw data without touching history."""
        self.ctx = ctx
        self.observer = observer or NullObserver()
        self.extract_only = extract_only
        # Two source tables can feed one canonical table: their merges take turns.
        self._canonical_locks: dict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def run(self, request: RunRequest) -> RunSummary:
        """Plan a new run for `request` and execute it."""
        self._open_loop_resources()
        plan = plan_run(self.ctx, request)
        return await self._execute(plan.run_id, [(ref, None) for ref in plan.tables], plan.skipped)

    async def backfill(self, request: BackfillRequest) -> RunSummary:
        """Plan a new backfill run for `request` and execute it (pipeline/backfill.py)."""
        self._open_loop_resources()
        plan = plan_backfill(self.ctx, request)
        return await self._execute(plan.run_id, [(ref, None) for ref in plan.tables], plan.skipped)

    async def resume(self, run: RunRecord, tenant_id: str | None = None) -> RunSummary | None:
        """Finish a run a crash interrupted, from the ledger (None if another process claimed it).

        With `tenant_id`, only that tenant's unfinished tables: when other tenants' tables are left,
        the run goes back to its previous (dead) owner, still interrupted, for whoever resumes it
        next — `avesa run --tenant X` never syncs another tenant."""
        if not self.ctx.state.claim_run(run.run_id, run.owner, self.ctx.owner):
            return None
        return await self._continue(run, tenant_id)

    async def retry(self, run: RunRecord) -> RunSummary | None:
        """Run the failed tables of a finished run again, each chunk from its cursor, under the same
        run id (None if the run is not a failed one). Safe after later runs: SCD2 places older
        versions where they belong and watermarks only move forward."""
        if not self.ctx.state.reopen_run(run.run_id, self.ctx.owner):
            return None
        return await self._continue(run)

    async def _continue(self, run: RunRecord, tenant_id: str | None = None) -> RunSummary:
        self._open_loop_resources()
        work = remaining_work(self.ctx, run, tenant_id)
        events.emit("run_resumed", run_id=run.run_id, previous_owner=run.owner, tables=len(work), tenant_id=tenant_id)
        refs, skipped = lock_tenants(self.ctx, run.run_id, [w.table for w in work], [], utc_now(),
                                     scope="backfill" if run.kind == "backfill" else "sync")
        kept = {ref.key for ref in refs}
        others_left = tenant_id is not None and any(t != tenant_id for t in unfinished_tenants(self.ctx, run))
        return await self._execute(run.run_id, [(w.table, w.chunks) for w in work if w.table.key in kept], skipped,
                                   hand_back_to=run.owner if others_left else None)

    def _open_loop_resources(self) -> None:
        # Loop-bound primitives are made inside the loop that uses them.
        self.ctx.http.in_flight = asyncio.Semaphore(self.ctx.settings.max_requests_in_flight)
        self.ctx.http.per_tenant_limit = self.ctx.settings.max_requests_per_tenant
        self.ctx.http.per_tenant = {}
        self._chunks_in_flight = PrioritySlots(self.ctx.settings.max_chunks_in_flight)
        self._occupancy = Occupancy(self.ctx.settings.max_requests_in_flight, self.ctx.settings.max_requests_per_tenant,
                                    self.ctx.settings.max_chunks_per_table)
        self._backfill_windows = asyncio.Semaphore(self.ctx.settings.max_backfill_windows)
        self.ctx.budgets = RateBudgets()

    async def _execute(self, run_id: str, work: list[tuple[TableRef, list[ChunkTask] | None]],
                       skipped: list[str], hand_back_to: str | None = None) -> RunSummary:
        """Run `work` and close the run — or, with `hand_back_to`, leave it interrupted under that
        (dead) owner because tables of other tenants remain."""
        started = time.monotonic()
        summary = RunSummary(run_id=run_id, skipped=skipped)
        by_tenant: dict[str, list[tuple[TableRef, list[ChunkTask] | None]]] = defaultdict(list)
        for ref, chunks in work:
            by_tenant[ref.tenant_id].append((ref, chunks))
        try:
            async with keep_run_lease(self.ctx, run_id):  # the run's owner is alive, whatever it is doing
                per_tenant = await asyncio.gather(*(self._tenant(items) for items in by_tenant.values()))
        finally:
            await self.ctx.aclose()
            self.ctx.state.unlock_tenants(run_id)
        summary.results = [r for results in per_tenant for r in results]
        summary.seconds = time.monotonic() - started
        summary.rate_limits = self._report_budgets(run_id)
        status = "failed" if summary.failed else "complete"
        if hand_back_to is not None and self.ctx.state.claim_run(run_id, self.ctx.owner, hand_back_to):
            summary.status = "interrupted"
            events.emit("run_handed_back", run_id=run_id, owner=hand_back_to, tables=len(summary.results),
                        failed_tables=len(summary.failed), records=summary.records)
            return summary
        if not self.ctx.state.finish_run(run_id, status, utc_now()):
            run = self.ctx.state.get_run(run_id)  # cancelled meanwhile: it stays so
            status = run.status if run else status
        summary.status = status
        stats = self.ctx.http.stats
        events.emit("run_finished", run_id=run_id, status=status, tables=len(summary.results),
                    failed_tables=len(summary.failed), records=summary.records, seconds=round(summary.seconds, 3),
                    http_requests=stats.requests, http_retries=stats.retries, http_429=stats.rate_limited,
                    http_bytes=stats.bytes)
        return summary

    def _report_budgets(self, run_id: str) -> dict[str, dict[str, object]]:
        """Log every (tenant, service) budget's figures; return those of the ones that met rate limits."""
        limited: dict[str, dict[str, object]] = {}
        for (tenant_id, service), budget in self.ctx.budgets.items():
            figures = budget.figures()
            events.emit("rate_budget", run_id=run_id, tenant_id=tenant_id, service=service, **figures)
            if figures["http_429"]:
                limited[f"{tenant_id}/{service}"] = figures
        return limited

    async def _tenant(self, items: list[tuple[TableRef, list[ChunkTask] | None]]) -> list[TableResult]:
        tables = asyncio.Semaphore(self.ctx.settings.max_tables_per_tenant)
        return list(await asyncio.gather(*(self._table(ref, chunks, tables) for ref, chunks in items)))

    async def _table(self, ref: TableRef, chunks: list[ChunkTask] | None, tables: asyncio.Semaphore) -> TableResult:
        async with tables:
            started = time.monotonic()
            self.observer.table_started(ref)
            try:
                if run_cancelled(self.ctx, ref.run_id):
                    result = cancelled_result(self.ctx, ref)
                else:
                    result = await self._extract_and_finalize(ref, chunks)
            except Exception as exc:  # one table's trouble is its own failure: the other tables go on
                result = table_failed_by(self.ctx, ref, exc, "table")
            result.seconds = time.monotonic() - started
            events.emit("table_finished", run_id=ref.run_id, tenant_id=ref.tenant_id, service=ref.service,
                        table=ref.table, mode=ref.mode.value, status=result.status.value, records=result.records,
                        versions_created=result.versions_created, deletes=result.deletes,
                        seconds=round(result.seconds, 3), error=result.error, nulled_values=result.nulled_values)
            self.observer.table_finished(result)
            return result

    async def _extract_and_finalize(self, ref: TableRef, chunks: list[ChunkTask] | None = None) -> TableResult:
        """Plan the table unless the ledger already holds its chunks (a resumed run), extract every
        chunk not yet complete, then finalize."""
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
        record_table_estimate(self.ctx, ref)
        if any(o.status is ChunkStatus.CANCELLED for o in outcomes):
            return cancelled_result(self.ctx, ref, sum(o.records for o in outcomes))
        failed = [o for o in outcomes if o.status is not ChunkStatus.COMPLETE]
        if failed:
            return fail_table(self.ctx, ref, chunks_failed_message(failed), records=sum(o.records for o in outcomes))
        if self.extract_only:
            records = sum(o.records for o in outcomes)
            self.ctx.state.update_table_run(ref, status=TableStatus.COMPLETE.value, records=records,
                                            finished_at=utc_now())
            return TableResult(table=ref, status=TableStatus.COMPLETE, records=records)
        mapping = self.ctx.catalog.mapping(ref.service, ref.table)
        lock = self._canonical_locks[(ref.tenant_id, mapping.canonical_table if mapping else ref.table)]
        async with lock:
            return await finalize_table(self.ctx, ref)

    async def _chunks(self, ref: TableRef, chunks: list[ChunkTask], slots: asyncio.Semaphore) -> list[ChunkOutcome]:
        """Run the table's chunks, and the chunks they split off while running, to the end."""
        tasks: list[asyncio.Task[ChunkOutcome]] = []

        def start(chunk: ChunkTask) -> asyncio.Task[ChunkOutcome]:
            self._occupancy.chunk_started(ref)  # counted now: a sibling asking for spare room sees it at once
            return asyncio.create_task(self._chunk(chunk, slots, spawn))

        def spawn(children: list[ChunkTask]) -> None:
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
                     spawn: Callable[[list[ChunkTask]], None] | None = None) -> ChunkOutcome:
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
                    return await self._run_to_end(chunk, spawn, spare)
                finally:
                    self._occupancy.chunk_reading(ref, -1)
        finally:
            self._occupancy.chunk_finished(ref)

    async def _run_to_end(self, chunk: ChunkTask, spawn: Callable[[list[ChunkTask]], None] | None,
                          spare: Callable[[], int] | None) -> ChunkOutcome:
        """Run a chunk until it completes or fails. A chunk that stops at its deadline is run again
        from its cursor for as long as it makes progress; one that stalls (its lease is held by a
        live worker elsewhere) is reported after a few tries rather than spun on."""
        deadline_seconds = self.ctx.settings.chunk_deadline_seconds
        stalls, landed = 0, -1
        while True:
            outcome = await run_chunk(
                self.ctx, chunk, deadline=time.monotonic() + deadline_seconds,
                on_records=lambda n: self.observer.records_landed(chunk.table, n), spawn=spawn,
                spare=spare,
            )
            if outcome.status is not ChunkStatus.INCOMPLETE:
                break
            stalls = stalls + 1 if outcome.records == landed else 0
            landed = outcome.records
            if stalls >= MAX_STALLS:
                outcome = outcome.model_copy(update={
                    "status": ChunkStatus.FAILED,
                    "error": f"{chunk.table.label}: chunk {chunk.chunk_id} made no progress "
                             f"({outcome.error or 'stopped at its deadline'}); `avesa jobs show "
                             f"{chunk.table.run_id}` shows its lease"})
                break
            if stalls:
                await asyncio.sleep(min(5.0, 0.5 * stalls))
        if outcome.status is ChunkStatus.FAILED:
            events.emit("chunk_failed", run_id=chunk.table.run_id, tenant_id=chunk.table.tenant_id,
                        service=chunk.table.service, table=chunk.table.table, chunk_id=chunk.chunk_id,
                        cursor=outcome.cursor, error=outcome.error, error_kind=outcome.error_kind)
        self.observer.chunk_finished(chunk.table)
        return outcome


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
