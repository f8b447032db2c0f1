"""`avesa backfill`: re-read a past range of a tenant's service in windows (pipeline/backfill.py)."""

from __future__ import annotations

import getpass

import typer
from rich.text import Text

from avesa.cli.common import EXIT_FAILED, console, friendly_errors, load_context, tenant_option
from avesa.cli.progress import RichRunObserver, rate_limit_notes, summary_table
from avesa.domain.errors import UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import BackfillRange, BackfillRequest
from avesa.pipeline.backfill import (
    DATE_HINT,
    find_unfinished_backfill,
    lock_for_backfill,
    parse_when,
    resolve_backfill,
)
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interrupted_runs
from avesa.runtime.local import RunSummary, backfill_sync, resume_sync, retry_sync
from avesa.state.ledger_records import RunRecord


def _continue(ctx: PipelineContext, run: RunRecord, observer: RichRunObserver) -> RunSummary:
    """Finish an unfinished backfill of the same request instead of starting it over."""
    if run.status == "running" and run.run_id not in {r.run_id for r in interrupted_runs(ctx, utc_now())}:
        raise UsageError(f"this backfill is already running as run {run.run_id} ({run.owner}); follow it with "
                         f"`avesa jobs show {run.run_id}` or stop it with `avesa jobs cancel {run.run_id}`")
    lock_for_backfill(ctx, str(run.request["tenant_id"]), run.run_id, utc_now())
    if run.status == "running":
        console.print(f"[yellow]continuing interrupted backfill run {run.run_id}[/] from where it stopped")
        summary = resume_sync(ctx, run, observer)
    else:
        console.print(f"[yellow]continuing failed backfill run {run.run_id}[/]: its failed windows run again "
                      "from their cursors")
        summary = retry_sync(ctx, run, observer)
    if summary is None:
        raise UsageError(f"run {run.run_id} changed state meanwhile; look at `avesa jobs show {run.run_id}`")
    return summary


def _who() -> str:
    """Who asked: the OS user (never a credential)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@friendly_errors
def backfill(
    tenant: str = tenant_option("the tenant to backfill", required=True),
    service: str = typer.Option(..., "--service", help="the service to backfill (e.g. connectwise)"),
    table: str = typer.Option(None, "--table", help="only this table (default: every enabled table)"),
    since: str = typer.Option(None, "--since", help=f"start of the range, inclusive; {DATE_HINT}. "
                              "Default: now less the service's look-back (ConnectWise: 730 days)"),
    until: str = typer.Option(None, "--until", help="end of the range, exclusive (default: now)"),
    window_days: int = typer.Option(None, "--window-days",
                                    help="days per window (default: the service's; ConnectWise: 30)"),
    queue: bool = typer.Option(False, "--queue", help="leave it to `avesa serve`, which runs queued backfills "
                               "beside the scheduled syncs, and return at once"),
) -> None:
    """Re-read a past range of a tenant's data in windows and merge it into the canonical tables.

    Runs beside the scheduled `avesa run`, never moves its watermarks, and is harmless to SCD2
    history. Running the same command again continues an unfinished backfill. Exit 3 when another
    backfill holds the tenant.

    Example: avesa backfill --tenant acme --service connectwise --since 2024-01-01 --window-days 30"""
    ctx = load_context()
    request = BackfillRequest(tenant_id=tenant, service=service, table=table, since=parse_when(since, "--since"),
                              until=parse_when(until, "--until"), window_days=window_days)
    window, _, _ = resolve_backfill(ctx, request, utc_now())  # every input error, before anything is written
    if queue:
        place = ctx.state.queue_backfill(request.model_dump(mode="json"), utc_now(), _who())
        console.print(f"queued as #{place}: `avesa serve` runs it within AVESA_SERVE_POLL_SECONDS "
                      f"({ctx.settings.serve_poll_seconds:g}s); `avesa schedule show` lists the queue")
        return
    unfinished = find_unfinished_backfill(ctx, request)
    with RichRunObserver(console) as observer:
        summary = _continue(ctx, unfinished, observer) if unfinished else backfill_sync(ctx, request, observer)
    run = ctx.state.get_run(summary.run_id)
    if run is not None and "range" in run.request:
        window = BackfillRange.model_validate(run.request["range"])
    console.print(summary_table(summary, title=f"backfill run {summary.run_id}"))
    for note in rate_limit_notes(summary):
        console.print(note)
    for reason in summary.skipped:
        console.print(Text.assemble(("skipped", "yellow"), " ", reason))
    console.print(f"{summary.records:,} records from {window.start:%Y-%m-%d %H:%M:%S} to {window.end:%Y-%m-%d %H:%M:%S}"
                  f" UTC in {window.window_days}-day windows, {summary.seconds:.1f}s; watermarks unchanged")
    if summary.cancelled:
        console.print(f"[red]backfill run {summary.run_id} was cancelled[/]")
        raise typer.Exit(EXIT_FAILED)
    if summary.failed:
        console.print(f"[red]{len(summary.failed)} table(s) failed[/]: running the same command again continues "
                      f"the backfill from where it stopped (or `avesa jobs retry {summary.run_id}`)")
        raise typer.Exit(EXIT_FAILED)
