"""`avesa jobs …`: the run ledger for operators — runs, tables and chunks; resuming, retrying,
cancelling and cleaning up runs."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from avesa.cli.common import (
    MAX_LISTED,
    console,
    friendly_errors,
    literal,
    literals,
    load_context,
    nulled_summary,
    table_title,
)
from avesa.cli.progress import RichRunObserver, summary_table
from avesa.cli.run_status import interruptions, shown_status
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunStatus, SyncMode, TableRef
from avesa.pipeline.cancel import cancel_run
from avesa.pipeline.resume import interrupted_runs, interruption, still_interrupted
from avesa.runtime.local import resume_sync, retry_sync

jobs_app = typer.Typer(help="Runs, tables and chunks in the ledger; resume, retry or cancel runs.",
                       no_args_is_help=True)


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@jobs_app.command("list")
@friendly_errors
def jobs_list(limit: int = typer.Option(20, "--limit", min=1, max=MAX_LISTED, help="runs to show")) -> None:
    """Recent runs with their tables' outcome."""
    ctx = load_context()
    runs = ctx.state.list_runs(limit=limit)
    interrupted = interruptions(ctx, runs, utc_now())
    table = Table("run", "kind", "started (UTC)", "finished (UTC)", "status", "tables ok / failed / other",
                  "records", title="runs", title_justify="left")
    for run in runs:
        tables = ctx.state.list_table_runs(run_id=run.run_id)
        ok = sum(t.status == "complete" for t in tables)
        failed = sum(t.status == "failed" for t in tables)
        status = shown_status(run.status, interrupted.get(run.run_id))
        table.add_row(*literals(run.run_id, run.kind, _ts(run.started_at), _ts(run.finished_at), status,
                                f"{ok} / {failed} / {len(tables) - ok - failed}",
                                f"{sum(t.records for t in tables):,}"))
    console.print(table)
    for found in interrupted.values():
        console.print(literal(f"{found.run.run_id} is interrupted: {found.reason}. {found.advice}"))


@jobs_app.command("show")
@friendly_errors
def jobs_show(run_id: str) -> None:
    """One run: every table and chunk, with estimate vs actual, attempts, cursor and last error."""
    ctx = load_context()
    run = ctx.state.get_run(run_id)
    if run is None:
        raise NotFoundError("run", run_id, [r.run_id for r in ctx.state.list_runs(limit=10)],
                            "(the 10 most recent; see `avesa jobs list`)")
    interrupted = interruption(ctx, run, utc_now())
    status = f"interrupted ({interrupted.reason})" if interrupted else run.status
    console.print(Text.assemble(f"{run.kind} run ", (run.run_id, "bold"), f" {status}, started "
                                f"{_ts(run.started_at)} by {run.owner}, request {run.request}"))
    if interrupted:
        console.print(literal(interrupted.advice))
    for tr in ctx.state.list_table_runs(run_id=run_id):
        ref = TableRef(run_id=run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        chunks = Table("chunk", "range (UTC)", "status", "estimate", "records", "files", "attempts", "cursor",
                       "last error", title=table_title(
                           f"{ref.label} ({tr.mode}, {shown_status(tr.status, interrupted)}, estimate {tr.estimate} "
                           f"/ actual {tr.records}, {tr.versions_created} versions)"
                           f"{' — ' + tr.error if tr.error else ''}"),
                       title_justify="left")
        for c in ctx.state.list_chunks(ref):
            chunks.add_row(*literals(c.chunk_id, f"{_ts(c.range_start)} → {_ts(c.range_end)}",
                                     shown_status(c.status, interrupted),
                                     "-" if c.estimate is None else f"{c.estimate:,}", f"{c.records:,}", c.files,
                                     c.attempts, c.cursor or "-", (c.last_error or "")[:60]))
        console.print(chunks)
        if tr.nulled_values:
            console.print(literal(f"  {nulled_summary(tr.nulled_values)}: not convertible to the canonical type; "
                                  "the raw files keep them as sent"))


@jobs_app.command("resume")
@friendly_errors
def jobs_resume(run_id: str = typer.Argument(None, help="one run; default: every interrupted run")) -> None:
    """Finish runs a crash interrupted, from where they stopped (`avesa run` does this first, too)."""
    ctx = load_context()
    runs = interrupted_runs(ctx, utc_now())
    if run_id is not None:
        chosen = [r for r in runs if r.run_id == run_id]
        if not chosen:
            run = ctx.state.get_run(run_id)
            if run is None:
                raise NotFoundError("run", run_id, [r.run_id for r in runs], "(interrupted runs)")
            raise UsageError(f"run {run_id} is {run.status} and its owner {run.owner} is "
                             f"{'still working on it' if run.status == 'running' else 'done with it'}: "
                             "nothing to resume")
        runs = chosen
    if not runs:
        console.print("no interrupted runs")
        return
    failed = 0
    for run in runs:
        with RichRunObserver(console) as observer:
            summary = resume_sync(ctx, run, observer)
        if summary is None:
            console.print(literal(f"run {run.run_id} was taken over by another process"))
            continue
        console.print(summary_table(summary, title=f"resumed run {summary.run_id}"))
        failed += len(summary.failed)
    if failed:
        raise typer.Exit(1)


@jobs_app.command("retry")
@friendly_errors
def jobs_retry(run_id: str) -> None:
    """Run a failed run's failed tables again, each chunk from its cursor, under the same run id."""
    ctx = load_context()
    run = ctx.state.get_run(run_id)
    if run is None:
        raise NotFoundError("run", run_id, [r.run_id for r in ctx.state.list_runs(limit=10, status=RunStatus.FAILED)],
                            "(recent failed runs)")
    if run.status != "failed":
        hint = "; an interrupted one is resumed with `avesa jobs resume`" if run.status == "running" else ""
        raise UsageError(f"run {run_id} is {run.status}: only a failed run can be retried{hint}")
    with RichRunObserver(console) as observer:
        summary = retry_sync(ctx, run, observer)
    if summary is None:
        raise UsageError(f"run {run_id} changed state meanwhile; look at `avesa jobs show {run_id}`")
    console.print(summary_table(summary, title=f"retried run {summary.run_id}"))
    if summary.failed:
        raise typer.Exit(1)


@jobs_app.command("cleanup-stuck")
@friendly_errors
def jobs_cleanup_stuck(dry_run: bool = typer.Option(False, "--dry-run", help="list, change nothing")) -> None:
    """Abandon runs a crash interrupted instead of resuming them: free their chunk leases and tenant
    locks. What they landed stays in the raw lake; the next run reads their range again. A run whose
    owner is alive — here, or on another host that keeps renewing its leases — is never touched."""
    ctx = load_context()
    stuck = interrupted_runs(ctx, utc_now())
    if not stuck:
        console.print("no stuck runs")
        return
    for run in stuck:
        if dry_run:
            console.print(literal(f"would abandon {run.run_id} (started {_ts(run.started_at)} by {run.owner})"))
        elif ctx.state.abandon_run(run.run_id, run.owner, utc_now(), still_interrupted(ctx, utc_now())):
            console.print(literal(f"abandoned {run.run_id} (started {_ts(run.started_at)} by {run.owner})"))
        else:
            console.print(literal(f"{run.run_id} changed state meanwhile (its owner renewed a lease, or it "
                                  "finished); left alone"))


@jobs_app.command("cancel")
@friendly_errors
def jobs_cancel(run_id: str) -> None:
    """Cancel a running, interrupted or failed run: it is never resumed or retried; its leases and
    tenant locks are freed and a worker still running it stops at its next checkpoint. Watermarks
    stay where they were, so the next `avesa run` reads the run's range again."""
    ctx = load_context()
    run = cancel_run(ctx, run_id)
    console.print(literal(f"cancelled {run.run_id} ({run.kind}, was {run.status}, started {_ts(run.started_at)} by "
                          f"{run.owner}); raw files it landed stay in the lake, unused"))
