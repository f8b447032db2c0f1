"""`avesa serve`: the embedded stand-in for the AWS deployment's EventBridge schedule.

One long-running process, one asyncio loop: APScheduler's AsyncIOScheduler fires each tenant's
service on its schedules (runtime/schedules.py) — incremental syncs and the full reconciliation —
and every `AVESA_SERVE_POLL_SECONDS` the process looks at the registry (new tenants, changed
schedules) and at the backfill queue (`avesa backfill --queue`). Runs are the local executor's, up
to `AVESA_SERVE_MAX_RUNS` at once, all under one set of caps and rate budgets (`LoopLimits`).

- Never two runs of one tenant at once: runs of one tenant wait for each other here, and the
  ledger's tenant locks keep out any other process's run (`pipeline/plan.py: lock_tenants`).
- A missed slot runs once: jobs coalesce, with no grace limit, so a machine that slept through six
  slots runs the job once on waking; at start, a slot that passed since a tenant's last run (by
  the ledger) is made up once, and a tenant never synced is synced at once.
- SIGTERM (`stop`): no new run starts; running chunks land the pages they have read and
  checkpoint; the runs stay resumable and the process exits 0. The next start resumes every
  interrupted run first — its own, too: in a container the next start has the same host name and
  process id, so a run whose owner is this very process id cannot be running and is resumed.
- Alerts (alerts/): the rules are evaluated from the ledger after every run this process ends and
  every `AVESA_ALERT_INTERVAL_SECONDS` (so staleness is found without a run), in a worker thread,
  one evaluation at a time; a run ending while one waits is seen by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from avesa.alerts.incidents import AlertEngine
from avesa.domain.errors import AvesaError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import BackfillRequest, RunRequest, RunStatus
from avesa.observability import events
from avesa.pipeline.backfill import find_unfinished_backfill
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interrupted_runs, unfinished_tenants
from avesa.runtime import schedules
from avesa.runtime.local import LocalExecutor, LoopLimits, RunSummary
from avesa.runtime.observer import RunObserver
from avesa.settings import Settings
from avesa.state.ledger_records import QueuedBackfill, RunRecord

ContextFactory = Callable[[], PipelineContext]
ObserverFactory = Callable[[str], RunObserver]
"""An observer for a run about to start, given what it is ("acme/connectwise incremental")."""

RECENT_RUNS = 2000
"""Runs read from the ledger at start to find each tenant's last run (older ones never matter:
their tenants have run since)."""


@dataclass
class ScheduledJob:
    tenant_id: str
    service: str
    mode: str
    schedule: schedules.Schedule


@dataclass
class _Running:
    executor: LocalExecutor
    what: str


@dataclass
class ServeState:
    """What the process is doing, for /healthz and the tests."""

    runs_started: int = 0
    runs_ended: int = 0
    running: list[str] = field(default_factory=list)
    alerts_open: int | None = None
    """Open alert incidents at the last evaluation (None before one)."""


class Serve:
    """The scheduler and the runs it starts (see the module)."""

    def __init__(self, settings: Settings, ctx_factory: ContextFactory, *,
                 observer_factory: ObserverFactory | None = None, clock: Callable[[], datetime] = utc_now,
                 alerts: AlertEngine | None = None) -> None:
        self.settings = settings
        self.ctx_factory = ctx_factory
        self.observer_factory = observer_factory
        self.clock = clock
        self.tz = self.check(settings)
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        self.jobs: dict[str, ScheduledJob] = {}
        self.state = ServeState()
        self._running: dict[int, _Running] = {}
        self._tasks: set[asyncio.Task] = set()
        self._tenant_locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._backfills: set[int] = set()
        self._stopping = False
        self._ctx: PipelineContext | None = None
        self.alerts = alerts
        self._alerts_lock = asyncio.Lock()
        self._alerts_waiting = False

    @staticmethod
    def check(settings: Settings) -> tzinfo:
        """ConfigError for a schedule setting that is wrong; the schedules' time zone."""
        schedules.parse_setting(settings.schedule, "AVESA_SCHEDULE")
        schedules.parse_setting(settings.full_schedule, "AVESA_FULL_SCHEDULE")
        return schedules.timezone_of(settings)

    # ---- start and stop -------------------------------------------------------------------
    async def start(self) -> None:
        """Resume what a previous process left, schedule every tenant's services, watch the queue."""
        self._limits = LoopLimits.from_settings(self.settings)
        self._slots = asyncio.Semaphore(self.settings.serve_max_runs)
        self._ctx = self.ctx_factory()
        leftovers = self._leftovers()
        self.scheduler.add_listener(self._coalesced, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.start()
        for run in leftovers:
            self._spawn(self._resume(run))
        self.refresh()
        poll = self.settings.serve_poll_seconds
        self.scheduler.add_job(self._poll, "interval", seconds=poll, id="poll", next_run_time=self.clock())
        if self.alerts is not None:
            self.scheduler.add_job(self.evaluate_alerts, "interval", seconds=self.settings.alert_interval_seconds,
                                   id="alerts", next_run_time=self.clock())
        events.emit("serve_started", owner=self.ctx.owner, schedules=len(self.jobs), resuming=len(leftovers),
                    max_runs=self.settings.serve_max_runs)

    @property
    def ctx(self) -> PipelineContext:
        assert self._ctx is not None, "Serve.start() first"
        return self._ctx

    async def stop(self, timeout: float | None = None) -> None:
        """SIGTERM: start nothing more, let running chunks land their files, wait for the runs (at most
        `timeout` seconds, AVESA_STOP_TIMEOUT_SECONDS by default), then cancel what is left — a
        cancelled chunk keeps its last checkpoint. Every run stays resumable."""
        if self._stopping:
            return
        self._stopping = True
        timeout = self.settings.stop_timeout_seconds if timeout is None else timeout
        events.emit("serve_stopping", running=len(self._running), timeout_seconds=timeout)
        # paused, not shut down: shutting down cancels the job tasks at once, before chunks land files
        with contextlib.suppress(Exception):
            self.scheduler.pause()
        for running in list(self._running.values()):
            running.executor.request_stop()
        tasks = [t for t in self._tasks if not t.done()]
        pending: set[asyncio.Task] = set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()  # a cancelled chunk keeps its last checkpoint (pipeline/extract.py)
            if pending:
                await asyncio.wait(pending, timeout=10)
        with contextlib.suppress(Exception):
            self.scheduler.shutdown(wait=False)
        events.emit("serve_stopped", runs=self.state.runs_ended, cancelled=len(pending))

    def close(self) -> None:
        """Close the ledger connection `start` opened (after `stop`, once nothing reads it)."""
        if self._ctx is not None:
            self._ctx.state.close()
            self._ctx = None

    def _coalesced(self, event: JobSubmissionEvent) -> None:
        events.emit("run_coalesced", job=event.job_id,
                    reason="the previous run of this schedule is still going; this slot is folded into it")

    # ---- the schedule ---------------------------------------------------------------------
    def wanted(self) -> dict[str, ScheduledJob]:
        """Every schedule the registry asks for now: enabled tenants' enabled services, both modes."""
        wanted: dict[str, ScheduledJob] = {}
        enabled = {t.tenant_id for t in self.ctx.state.list_tenants() if t.enabled}
        for config in self.ctx.state.list_services():
            if config.tenant_id not in enabled or not config.enabled:
                continue
            for mode in schedules.MODES:
                schedule = schedules.effective(self.settings, config, mode)
                if not schedule.off:
                    key = schedules.job_key(config.tenant_id, config.service, mode)
                    wanted[key] = ScheduledJob(config.tenant_id, config.service, mode, schedule)
        return wanted

    def refresh(self) -> None:
        """Bring the scheduler's jobs in line with the registry. A job new to this process whose slot
        passed since its tenant's last run (or that never ran) runs once now."""
        if self._stopping:
            return
        wanted = self.wanted()
        for key in [k for k in self.jobs if k not in wanted]:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(key)
            del self.jobs[key]
            events.emit("schedule_removed", job=key)
        added = [key for key, job in wanted.items()
                 if key not in self.jobs or self.jobs[key].schedule.text != job.schedule.text]
        last = self._last_runs() if added else {}
        now = self.clock()
        for key in added:
            job = wanted[key]
            trigger = schedules.trigger(job.schedule, key, self.tz)
            self.scheduler.add_job(self._scheduled, trigger, args=[job.tenant_id, job.service, job.mode], id=key,
                                   replace_existing=True, name=key)
            new = key not in self.jobs
            self.jobs[key] = job
            events.emit("schedule_set", job=key, schedule=job.schedule.text, source=job.schedule.source)
            if new and self._missed(job, last, now):
                self.scheduler.add_job(self._scheduled, DateTrigger(run_date=now, timezone=UTC),
                                       args=[job.tenant_id, job.service, job.mode], id=f"catch-up:{key}",
                                       replace_existing=True, name=f"catch-up:{key}")

    def _missed(self, job: ScheduledJob, last: dict[tuple[str, str, str], datetime], now: datetime) -> bool:
        ran = last.get((job.tenant_id, job.service, job.mode))
        if job.mode == "full" and ran is None:
            # a tenant's first sync reads everything already: its full slot counts from that
            ran = last.get((job.tenant_id, job.service, "incremental"))
            if ran is None:
                return False
        return schedules.slot_passed_since(job.schedule, job.tenant_id, job.service, job.mode, self.tz, ran, now)

    def _last_runs(self) -> dict[tuple[str, str, str], datetime]:
        """When each (tenant, service) last started a sync run, of any mode ("incremental") and full."""
        last: dict[tuple[str, str, str], datetime] = {}
        services = [(s.tenant_id, s.service) for s in self.ctx.state.list_services()]
        for run in self.ctx.state.list_runs(limit=RECENT_RUNS):
            if run.kind != "sync":
                continue
            tenant, service = run.request.get("tenant_id"), run.request.get("service")
            for key in services:
                if tenant not in (None, key[0]) or service not in (None, key[1]):
                    continue
                modes = ("incremental", "full") if run.request.get("full") else ("incremental",)
                for mode in modes:
                    if (*key, mode) not in last or last[(*key, mode)] < run.started_at:
                        last[(*key, mode)] = run.started_at
        return last

    def next_runs(self) -> Iterator[tuple[str, str, str, datetime]]:
        """(tenant, service, mode, when) of every scheduled job, as the scheduler will fire them."""
        for key, job in list(self.jobs.items()):
            found = self.scheduler.get_job(key)
            if found is not None and found.next_run_time is not None:
                yield job.tenant_id, job.service, job.mode, found.next_run_time.astimezone(UTC)

    def next_run_by_service(self) -> dict[tuple[str, str], datetime]:
        """(tenant, service) → the sooner of its next sync and full run (what the dashboard shows)."""
        soonest: dict[tuple[str, str], datetime] = {}
        for tenant_id, service, _, when in self.next_runs():
            key = (tenant_id, service)
            soonest[key] = min(when, soonest.get(key, when))
        return soonest

    # ---- what the jobs do -----------------------------------------------------------------
    async def _poll(self) -> None:
        try:
            self.refresh()
            self._take_queued_backfills()
        except Exception as exc:  # a bad registry row must not stop the scheduler
            events.emit("serve_error", level=logging.ERROR, during="poll", error=f"{type(exc).__name__}: {exc}")

    async def _scheduled(self, tenant_id: str, service: str, mode: str) -> None:
        """A slot came: sync the tenant's service (in full for the full schedule), after any run of
        the tenant this process is running ends."""
        request = RunRequest(tenant_id=tenant_id, service=service, full=mode == "full")
        what = f"{tenant_id}/{service} {mode}"
        await self._guarded(what, [tenant_id], "sync", lambda executor: executor.run(request))

    async def _resume(self, run: RunRecord) -> None:
        scope = "backfill" if run.kind == "backfill" else "sync"
        tenants = unfinished_tenants(self.ctx, run)
        await self._guarded(f"resume {run.run_id}", tenants, scope, lambda executor: executor.resume(run))

    def _leftovers(self) -> list[RunRecord]:
        """Runs to finish before anything else: interrupted ones, and ones that name this process as
        owner though it has started nothing yet (a previous process with the same host and pid)."""
        now = self.clock()
        found = {r.run_id: r for r in interrupted_runs(self.ctx, now)}
        for run in self.ctx.state.list_runs(limit=100, status=RunStatus.RUNNING):
            if run.owner == self.ctx.owner:
                found.setdefault(run.run_id, run)
        return sorted(found.values(), key=lambda r: r.started_at)

    def _take_queued_backfills(self) -> None:
        for queued in self.ctx.state.list_queued_backfills():
            if queued.queue_id in self._backfills:
                continue
            if self._ran_since_queued(queued):
                self.ctx.state.dequeue_backfill(queued.queue_id)
                continue
            self._backfills.add(queued.queue_id)
            self._spawn(self._backfill(queued))

    def _ran_since_queued(self, queued: QueuedBackfill) -> bool:
        """A run of this very request started after it was queued (a previous process ran it)."""
        return any(run.kind == "backfill" and run.request.get("asked") == queued.request
                   and run.started_at >= queued.queued_at.replace(microsecond=0)
                   for run in self.ctx.state.list_runs(limit=200))

    async def _backfill(self, queued: QueuedBackfill) -> None:
        request = BackfillRequest.model_validate(queued.request)

        async def run(executor: LocalExecutor) -> RunSummary | None:
            unfinished = find_unfinished_backfill(executor.ctx, request)
            if unfinished is None:
                return await executor.backfill(request)
            if unfinished.status == "running":
                if unfinished.run_id not in {r.run_id for r in interrupted_runs(executor.ctx, utc_now())}:
                    return None  # another live process is at it
                return await executor.resume(unfinished)
            return await executor.retry(unfinished)

        try:
            summary = await self._guarded(f"backfill {request.tenant_id}/{request.service}", [request.tenant_id],
                                          "backfill", run)
            if summary is not None and not summary.interrupted:
                self.ctx.state.dequeue_backfill(queued.queue_id)
        finally:
            self._backfills.discard(queued.queue_id)

    async def _guarded(self, what: str, tenants: list[str], scope: str,
                       body: Callable[[LocalExecutor], Awaitable[RunSummary | None]]) -> RunSummary | None:
        """Run `body` on a fresh context and executor, once this process runs nothing else for
        `tenants` in `scope` and a run slot is free. Errors are logged, never raised: the scheduler
        goes on."""
        task = asyncio.current_task()
        if task is not None:  # a scheduler's job task: `stop` waits for it like for its own
            self._tasks.add(task)
        try:
            return await self._run_locked(what, tenants, scope, body)
        finally:
            if task is not None:
                self._tasks.discard(task)

    async def _run_locked(self, what: str, tenants: list[str], scope: str,
                          body: Callable[[LocalExecutor], Awaitable[RunSummary | None]]) -> RunSummary | None:
        async with self._locked(tenants, scope), self._slots:
            if self._stopping:
                return None
            ctx = self.ctx_factory()
            observer = self.observer_factory(what) if self.observer_factory else None
            executor = LocalExecutor(ctx, observer, limits=self._limits)
            token = id(executor)
            self._running[token] = _Running(executor, what)
            self.state.runs_started += 1
            self.state.running.append(what)
            try:
                summary = await body(executor)
                if summary is not None and summary.skipped:
                    events.emit("run_skipped", run_id=summary.run_id, what=what, reasons=summary.skipped)
                return summary
            except AvesaError as exc:
                events.emit("serve_error", level=logging.ERROR, during=what, error=str(exc))
            except Exception as exc:
                events.emit("serve_error", level=logging.ERROR, during=what, error=f"{type(exc).__name__}: {exc}")
            finally:
                del self._running[token]
                self.state.running.remove(what)
                self.state.runs_ended += 1
                ctx.state.close()
                if self.alerts is not None and not self._stopping:
                    self._spawn(self.evaluate_alerts())
            return None

    async def evaluate_alerts(self) -> None:
        """Evaluate the alert rules now (after a run, on the timer), off the loop. One evaluation at a
        time; a call while one waits its turn is folded into it (it reads the ledger after this)."""
        if self.alerts is None or self._alerts_waiting:
            return
        self._alerts_waiting = True
        async with self._alerts_lock:
            self._alerts_waiting = False
            try:
                report = await asyncio.to_thread(self.alerts.evaluate, self.clock())
                self.state.alerts_open = len(report.open)
            except Exception as exc:  # alerts must never stop the scheduler
                events.emit("serve_error", level=logging.ERROR, during="alerts", error=f"{type(exc).__name__}: {exc}")

    @contextlib.asynccontextmanager
    async def _locked(self, tenants: list[str], scope: str) -> AsyncIterator[None]:
        """This process's locks of `tenants` in `scope`, taken in order (no two waiters deadlock)."""
        async with contextlib.AsyncExitStack() as stack:
            for tenant in sorted(set(tenants)):
                lock = self._tenant_locks.setdefault((scope, tenant), asyncio.Lock())
                await stack.enter_async_context(lock)
            yield

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
