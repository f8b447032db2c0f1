"""The runs an operator starts by hand — `avesa backfill`, `avesa jobs resume`, `avesa jobs retry`
— checked, run on the local engine, and each recorded once in the audit trail (pipeline/audit.py)
with how it ended: "ok"; "refused" for bad input or a run in no state for it (nothing was done);
"failed" when a table failed, the run was cancelled, or an error stopped it.

The engine's own resumes are not an operator's action and are not recorded here: `avesa run`
finishing the interrupted syncs it finds, `avesa serve` running queued backfills."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import BackfillRange, BackfillRequest, RunStatus
from avesa.pipeline.audit import Audited, audited
from avesa.pipeline.backfill import find_unfinished_backfill, lock_for_backfill, resolve_backfill
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interrupted_runs
from avesa.runtime.local import RunSummary, backfill_sync, resume_sync, retry_sync
from avesa.runtime.observer import RunObserver
from avesa.state.ledger_records import RunRecord


def _ended(entry: Audited, summary: RunSummary) -> None:
    entry.target = summary.run_id
    entry.details.update(records=summary.records, tables=len(summary.results), tables_failed=len(summary.failed))
    if summary.cancelled:
        entry.failed(f"run {summary.run_id} was cancelled")
    elif summary.failed:
        entry.failed(f"{len(summary.failed)} table(s) failed: {', '.join(r.table.label for r in summary.failed[:5])}"
                     + (" …" if len(summary.failed) > 5 else ""))


def _scope(entry: Audited, run: RunRecord) -> None:
    entry.tenant_id = entry.tenant_id or run.request.get("tenant_id")
    entry.service = entry.service or run.request.get("service")
    entry.details["kind"] = run.kind


def _asked(request: BackfillRequest) -> dict[str, object]:
    """What the backfill was asked for, as typed (no credentials: a backfill takes none)."""
    return {"since": request.since and request.since.isoformat(), "until": request.until and request.until.isoformat(),
            "window_days": request.window_days}


def queue_backfill(ctx: PipelineContext, request: BackfillRequest, who: str) -> int:
    """`avesa backfill --queue`: check the request, queue it for `avesa serve`; its place in the queue."""
    with audited(ctx.state, "backfill.queue", tenant_id=request.tenant_id, service=request.service,
                 target=request.table, **_asked(request)) as entry:
        resolve_backfill(ctx, request, utc_now())  # every input error, before anything is written
        place = ctx.state.queue_backfill(request.model_dump(mode="json"), utc_now(), who)
        entry.details["place"] = place
        return place


def run_backfill(ctx: PipelineContext, request: BackfillRequest, observer: RunObserver,
                 announce: Callable[[str, RunRecord], None] | None = None) -> tuple[RunSummary, BackfillRange]:
    """`avesa backfill`: run it, or continue an unfinished backfill of the same request (an
    interrupted one from where it stopped, a failed one's failed windows from their cursors);
    `announce("interrupted"|"failed", run)` is told which before it continues. Returns the summary
    and the range it covered."""
    with audited(ctx.state, "backfill.run", tenant_id=request.tenant_id, service=request.service,
                 target=request.table, **_asked(request)) as entry:
        window, _, _ = resolve_backfill(ctx, request, utc_now())  # every input error, before anything is written
        unfinished = find_unfinished_backfill(ctx, request)
        if unfinished is None:
            summary = backfill_sync(ctx, request, observer)
        else:
            entry.details["continued"] = unfinished.status
            summary = _continue(ctx, unfinished, observer, announce)
        _ended(entry, summary)
        run = ctx.state.get_run(summary.run_id)
        if run is not None and "range" in run.request:
            window = BackfillRange.model_validate(run.request["range"])
        entry.details.update(start=window.start.isoformat(), end=window.end.isoformat())
        return summary, window


def _continue(ctx: PipelineContext, run: RunRecord, observer: RunObserver,
              announce: Callable[[str, RunRecord], None] | None) -> RunSummary:
    if run.status == "running" and run.run_id not in {r.run_id for r in interrupted_runs(ctx, utc_now())}:
        raise UsageError(f"this backfill is already running as run {run.run_id} ({run.owner}); follow it with "
                         f"`avesa jobs show {run.run_id}` or stop it with `avesa jobs cancel {run.run_id}`")
    lock_for_backfill(ctx, str(run.request["tenant_id"]), run.run_id, utc_now())
    how = "interrupted" if run.status == "running" else "failed"
    if announce is not None:
        announce(how, run)
    summary = resume_sync(ctx, run, observer) if how == "interrupted" else retry_sync(ctx, run, observer)
    if summary is None:
        raise UsageError(f"run {run.run_id} changed state meanwhile; look at `avesa jobs show {run.run_id}`")
    return summary


def retry(ctx: PipelineContext, run_id: str, observer: RunObserver) -> RunSummary:
    """`avesa jobs retry`: run a failed run's failed tables again, each chunk from its cursor."""
    with audited(ctx.state, "jobs.retry", target=run_id) as entry:
        run = ctx.state.get_run(run_id)
        if run is None:
            recent = [r.run_id for r in ctx.state.list_runs(limit=10, status=RunStatus.FAILED)]
            raise NotFoundError("run", run_id, recent, "(recent failed runs)")
        _scope(entry, run)
        if run.status != "failed":
            hint = "; an interrupted one is resumed with `avesa jobs resume`" if run.status == "running" else ""
            raise UsageError(f"run {run_id} is {run.status}: only a failed run can be retried{hint}")
        summary = retry_sync(ctx, run, observer)
        if summary is None:
            raise UsageError(f"run {run_id} changed state meanwhile; look at `avesa jobs show {run_id}`")
        _ended(entry, summary)
        return summary


def runs_to_resume(ctx: PipelineContext, run_id: str | None, now: datetime) -> list[RunRecord]:
    """The interrupted runs `avesa jobs resume` finishes: every one, or `run_id` — refused (and
    recorded as a refused `jobs.resume`) when it is not interrupted."""
    runs = interrupted_runs(ctx, now)
    if run_id is None or any(r.run_id == run_id for r in runs):
        return [r for r in runs if run_id in (None, r.run_id)]
    with audited(ctx.state, "jobs.resume", target=run_id) as entry:
        run = ctx.state.get_run(run_id)
        if run is None:
            raise NotFoundError("run", run_id, [r.run_id for r in runs], "(interrupted runs)")
        _scope(entry, run)
        raise UsageError(f"run {run_id} is {run.status} and its owner {run.owner} is "
                         f"{'still working on it' if run.status == 'running' else 'done with it'}: nothing to resume")


def resume(ctx: PipelineContext, run: RunRecord, observer: RunObserver) -> RunSummary | None:
    """`avesa jobs resume` of one interrupted run, from where it stopped; None when another
    process took it over first (recorded as refused: this one did nothing)."""
    with audited(ctx.state, "jobs.resume", target=run.run_id) as entry:
        _scope(entry, run)
        summary = resume_sync(ctx, run, observer)
        if summary is None:
            entry.refused(f"run {run.run_id} was taken over by another process")
            return None
        _ended(entry, summary)
        return summary
