"""`avesa jobs …`: the run ledger for operators — runs, tables and chunks; resuming, retrying,
cancelling and cleaning up runs."""

from __future__ import annotations

from collections.abc import Callable
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
    tenant_option,
)
from avesa.cli.jobs_rows import (
    RUN_COLUMNS,
    RUN_HEADERS,
    RUN_TABLE_COLUMNS,
    TABLE_RUN_COLUMNS,
    add_tables,
    asked_for,
    by_run,
    run_rows,
    table_rows,
)
from avesa.cli.ledger_filters import (
    RUN_STATUSES,
    TABLE_STATUSES,
    check_scope,
    check_status,
    service_option,
    status_option,
)
from avesa.cli.listing import (
    FORMAT_HELP,
    FULL_ERRORS_HELP,
    LIMIT_HELP,
    TABLE_LIMIT,
    check_format,
    emit,
    print_more,
    shorten,
)
from avesa.cli.progress import RichRunObserver, summary_table
from avesa.cli.run_status import interruptions
from avesa.domain.errors import NotFoundError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import TableRef
from avesa.pipeline.cancel import cancel_run
from avesa.pipeline.resume import abandon_interrupted, interrupted_runs, interruption
from avesa.runtime.operator_runs import resume, retry, runs_to_resume

jobs_app = typer.Typer(help="Runs, tables and chunks in the ledger; resume, retry or cancel runs.",
                       no_args_is_help=True)


def _ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@jobs_app.command("list")
@friendly_errors
def jobs_list(
    tenant: str = tenant_option("only runs that synced this tenant (and their counts: its tables only)"),
    service: str = service_option("only runs that synced this service (and their counts: its tables only)"),
    state: str = status_option(RUN_STATUSES, "runs"),
    stale: bool = typer.Option(False, "--stale", help="only runs that need you: interrupted, or still running "
                               "after AVESA_ALERT_STUCK_RUN_HOURS"),
    limit: int = typer.Option(None, "--limit", min=1, max=MAX_LISTED, help=LIMIT_HELP),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
    full_errors: bool = typer.Option(False, "--full-errors", help=FULL_ERRORS_HELP),
) -> None:
    """Runs with their tables' outcome and first error: failed and interrupted first, then newest first.

    Examples: avesa jobs list --status failed · avesa jobs list --tenant acme --limit 100 ·
    avesa jobs list --stale · avesa jobs list --format csv > runs.csv"""
    check_format(fmt)
    wanted = check_status(state, RUN_STATUSES)
    ctx = load_context()
    check_scope(ctx, tenant, service)
    now = utc_now()
    runs = ctx.state.list_runs(limit=MAX_LISTED)
    scoped = None
    if tenant is not None or service is not None:
        scoped = by_run([tr for tr in ctx.state.list_table_runs(tenant_id=tenant) if service in (None, tr.service)])
        runs = [r for r in runs if r.run_id in scoped or asked_for(r, tenant, service)]
    interrupted = interruptions(ctx, [r for r in runs if r.status == "running"], now)
    rows = [row for row in run_rows(ctx, runs, interrupted, now)
            if (wanted is None or row["status"] == wanted) and (not stale or row["stale"])]
    add_tables(ctx, rows, scoped, fmt, limit)
    if fmt != "table":
        emit(rows, RUN_COLUMNS, fmt, limit=limit)
        return
    emit(rows, RUN_TABLE_COLUMNS, fmt, title="runs (failed and interrupted first, then newest first)", limit=limit,
         noun="runs", headers=RUN_HEADERS, cut=() if full_errors else ("error",), whole=("run_id",),
         more_hint="--status or --tenant narrows the list")
    for row in rows[:limit or TABLE_LIMIT]:
        if row["interrupted"]:
            console.print(literal(f"{row['run_id']} is interrupted: {row['interrupted']}. "
                                  f"{interrupted[str(row['run_id'])].advice}"))


@jobs_app.command("show")
@friendly_errors
def jobs_show(
    run_id: str = typer.Argument(..., help="the run (`avesa jobs list` lists them)"),
    tenant: str = tenant_option("only this tenant's tables"),
    service: str = service_option("only this service's tables"),
    state: str = status_option(TABLE_STATUSES, "tables"),
    limit: int = typer.Option(None, "--limit", min=1, max=MAX_LISTED, help=LIMIT_HELP.replace("rows", "tables", 1)),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP + "; json: each table with its chunks"),
    full_errors: bool = typer.Option(False, "--full-errors", help=FULL_ERRORS_HELP),
) -> None:
    """One run: each table and chunk (failures first), with estimate vs actual, attempts, cursor and last error.

    Examples: avesa jobs show run-20250101-120000-ab12cd · avesa jobs show RUN_ID --status failed
    --full-errors · avesa jobs show RUN_ID --format json"""
    check_format(fmt)
    wanted = check_status(state, TABLE_STATUSES)
    ctx = load_context()
    run = ctx.state.get_run(run_id)
    if run is None:
        raise NotFoundError("run", run_id, [r.run_id for r in ctx.state.list_runs(limit=10)],
                            "(the 10 most recent; see `avesa jobs list`)")
    check_scope(ctx, tenant, service)
    interrupted = interruption(ctx, run, utc_now())
    rows = [row for row in table_rows(ctx, run, interrupted, tenant, service) if wanted in (None, row["status"])]
    if fmt != "table":
        emit(rows, TABLE_RUN_COLUMNS if fmt == "json" else TABLE_RUN_COLUMNS[:-1], fmt, limit=limit)
        return
    status = f"interrupted ({interrupted.reason})" if interrupted else run.status
    console.print(Text.assemble(f"{run.kind} run ", (run.run_id, "bold"), f" {status}, started "
                                f"{_ts(run.started_at)} by {run.owner}, request {run.request}"))
    if interrupted:
        console.print(literal(interrupted.advice))
    cut = (lambda text: text) if full_errors else shorten
    cap = TABLE_LIMIT if limit is None else limit
    for row in rows[:cap]:
        _print_table_run(row, cut)
    print_more(len(rows), cap, "tables", "--status failed or --tenant narrows the list")


def _print_table_run(row: dict, cut: Callable[[str], str]) -> None:
    ref: TableRef = row["ref"]
    error = cut(row["error"].removeprefix(f"{ref.label}: ")) if row["error"] else ""  # the title names the table
    chunks = Table("chunk", "range (UTC)", "status", "estimate", "records", "files", "attempts", "cursor",
                   title=table_title(
                       f"{ref.label} ({row['mode']}, {row['status']}, estimate {row['estimate']} / actual "
                       f"{row['records']}, {row['versions_created']} versions){' — ' + error if error else ''}"),
                   title_justify="left")
    chunks.add_column("last error", overflow="fold")  # a long word (a JSON body) wraps, never cut
    for c in row["chunks"]:
        chunks.add_row(*literals(c["chunk_id"], f"{_ts(c['range_start'])} → {_ts(c['range_end'])}", c["status"],
                                 "-" if c["estimate"] is None else f"{c['estimate']:,}", f"{c['records']:,}",
                                 c["files"], c["attempts"], c["cursor"] or "-", cut(c["last_error"] or "")))
    console.print(chunks)
    if row["nulled_values"]:
        console.print(literal(f"  {nulled_summary(row['nulled_values'])}: not convertible to the canonical type; "
                              "the raw files keep them as sent"))


@jobs_app.command("resume")
@friendly_errors
def jobs_resume(run_id: str = typer.Argument(None, help="one run; default: every interrupted run")) -> None:
    """Finish runs a crash interrupted, from where they stopped (`avesa run` does this first, too)."""
    ctx = load_context()
    runs = runs_to_resume(ctx, run_id, utc_now())
    if not runs:
        console.print("no interrupted runs")
        return
    failed = 0
    for run in runs:
        with RichRunObserver(console) as observer:
            summary = resume(ctx, run, observer)
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
    with RichRunObserver(console) as observer:
        summary = retry(ctx, run_id, observer)
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
    if dry_run:
        stuck = interrupted_runs(ctx, utc_now())
        for run in stuck:
            console.print(literal(f"would abandon {run.run_id} (started {_ts(run.started_at)} by {run.owner})"))
    else:
        done = abandon_interrupted(ctx, utc_now())
        stuck = [run for run, _ in done]
        for run, abandoned in done:
            console.print(literal(f"abandoned {run.run_id} (started {_ts(run.started_at)} by {run.owner})" if abandoned
                                  else f"{run.run_id} changed state meanwhile (its owner renewed a lease, or it "
                                  "finished); left alone"))
    if not stuck:
        console.print("no stuck runs")


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
