"""`avesa backfill`: re-read a past range of a tenant's service in windows (pipeline/backfill.py)."""

from __future__ import annotations

import typer
from rich.text import Text

from avesa.cli.common import EXIT_FAILED, console, friendly_errors, load_context, tenant_option
from avesa.cli.progress import RichRunObserver, rate_limit_notes, summary_table
from avesa.domain.work import BackfillRequest
from avesa.pipeline.audit import actor
from avesa.pipeline.backfill import DATE_HINT, parse_when
from avesa.runtime.operator_runs import queue_backfill, run_backfill
from avesa.state.ledger_records import RunRecord


def _announce(how: str, run: RunRecord) -> None:
    if how == "interrupted":
        console.print(f"[yellow]continuing interrupted backfill run {run.run_id}[/] from where it stopped")
    else:
        console.print(f"[yellow]continuing failed backfill run {run.run_id}[/]: its failed windows run again "
                      "from their cursors")


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
    if queue:
        place = queue_backfill(ctx, request, actor())
        console.print(f"queued as #{place}: `avesa serve` runs it within AVESA_SERVE_POLL_SECONDS "
                      f"({ctx.settings.serve_poll_seconds:g}s); `avesa schedule show` lists the queue")
        return
    with RichRunObserver(console) as observer:
        summary, window = run_backfill(ctx, request, observer, _announce)
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
