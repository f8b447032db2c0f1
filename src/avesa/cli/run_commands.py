"""`avesa run`, `avesa query` (`avesa status`: status_command.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import typer
from rich.table import Table
from rich.text import Text

from avesa.cli.common import (
    EXIT_BUSY,
    EXIT_FAILED,
    console,
    friendly_errors,
    literal,
    load_context,
    nulled_summary,
    tenant_option,
)
from avesa.cli.metrics_output import FILE_HELP as METRICS_FILE_HELP
from avesa.cli.metrics_output import PUSH_HELP as METRICS_PUSH_HELP
from avesa.cli.metrics_output import writes_metrics
from avesa.cli.progress import RichRunObserver, rate_limit_notes, summary_table
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunRequest, TableResult
from avesa.lake.query import run_query
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interrupted_runs, unfinished_tenants
from avesa.runtime.local import resume_sync, run_sync


@friendly_errors
@writes_metrics
def run(
    tenant: str = tenant_option(),
    service: str = typer.Option(None, "--service", help="only this service"),
    table: str = typer.Option(None, "--table", help="only this table"),
    full: bool = typer.Option(False, "--full", help="re-read everything and reconcile deletes"),
    metrics_file: Path = typer.Option(None, "--metrics-file", help=METRICS_FILE_HELP),
    metrics_push: str = typer.Option(None, "--metrics-push", help=METRICS_PUSH_HELP),
) -> None:
    """Sync tenants' data: extract to raw Parquet, then build canonical SCD2 tables.

    A run a crash interrupted (or Ctrl-C stopped) is finished first, from where it stopped. Exit 0:
    done; 1: a table failed or the run was cancelled; 2: bad input or configuration; 3: other runs
    hold every tenant, nothing synced; 130: interrupted (Ctrl-C), resumed by the next run.

    Examples: avesa run · avesa run --tenant acme --service connectwise · avesa run --full"""
    ctx = load_context()
    resumed_failures = _resume_interrupted(ctx, tenant)
    request = RunRequest(tenant_id=tenant, service=service, table=table, full=full)
    with RichRunObserver(console) as observer:
        summary = run_sync(ctx, request, observer)
    console.print(summary_table(summary))
    _print_nulled(summary.results)
    for note in rate_limit_notes(summary):
        console.print(note)
    for reason in summary.skipped:
        console.print(Text.assemble(("skipped", "yellow"), " ", reason))
    if not summary.results and not summary.skipped:
        console.print("nothing to run: register tenants with `avesa service add`")
    console.print(literal(f"{summary.records:,} records in {summary.seconds:.1f}s; lake: {ctx.lake.root}"))
    if summary.cancelled:
        console.print(Text.assemble((f"run {summary.run_id} was cancelled", "red"),
                                    " (`avesa jobs cancel`); the next run starts from the watermarks"))
        raise typer.Exit(EXIT_FAILED)
    if summary.failed or resumed_failures:
        console.print(f"[red]{len(summary.failed) + resumed_failures} table(s) failed[/]")
        raise typer.Exit(EXIT_FAILED)
    if not summary.results and summary.held_by:
        _all_held(summary.held_by)


EXIT_ALL_HELD = EXIT_BUSY
"""`avesa run` synced nothing because other live runs hold every tenant it would have synced."""


def _all_held(held_by: dict[str, str]) -> None:
    """Nothing was synced because other runs hold every tenant this one would have synced: not
    "nothing to run", and not a success a scheduler should take as one."""
    holders = sorted(set(held_by.values()))
    tenants = ", ".join(f"{tenant} (run {run})" for tenant, run in sorted(held_by.items()))
    console.print(Text.assemble(
        ("nothing synced", "red"), f": other runs hold every tenant this run would sync — {tenants}. They sync "
        "them now (see `avesa jobs list`); run again when they finish, or stop one with "
        f"`avesa jobs cancel {holders[0]}`"), soft_wrap=True)
    raise typer.Exit(EXIT_ALL_HELD)


def _print_nulled(results: list[TableResult]) -> None:
    for result in results:
        if result.nulled_values:
            console.print(Text.assemble((result.table.label, "yellow"), f": {nulled_summary(result.nulled_values)} — "
                                        "not convertible to the canonical type; the raw files keep them as sent"))


def _resume_interrupted(ctx: PipelineContext, tenant: str | None = None) -> int:
    """Finish every interrupted sync run (with `tenant`, only that tenant's part of them); returns how
    many of their tables failed.

    An interrupted backfill is left for the operator: it may re-read years of data, which must not
    hold up the scheduled sync. A resume that fails in any way is reported, never stops this run."""
    failures = 0
    for interrupted in interrupted_runs(ctx, utc_now()):
        if interrupted.kind == "backfill":
            console.print(Text.assemble(
                (f"interrupted backfill run {interrupted.run_id}", "yellow"),
                f" left as it is: continue it with `avesa jobs resume {interrupted.run_id}` or the same "
                f"`avesa backfill` command, or `avesa jobs cancel {interrupted.run_id}`"))
            continue
        tenants = unfinished_tenants(ctx, interrupted)
        if tenant is not None and tenant not in tenants:
            console.print(Text.assemble(
                (f"interrupted run {interrupted.run_id}", "yellow"),
                f" of {', '.join(tenants) or 'no tenant'} left for `avesa run` or `avesa jobs resume "
                f"{interrupted.run_id}`: --tenant {tenant} syncs that tenant only"))
            continue
        console.print(Text.assemble((f"resuming interrupted run {interrupted.run_id}", "yellow"),
                                    f" (started {interrupted.started_at:%Y-%m-%d %H:%M:%S} UTC by "
                                    f"{interrupted.owner})" + (f", tenant {tenant} only" if tenant else "")))
        try:
            with RichRunObserver(console) as observer:
                summary = resume_sync(ctx, interrupted, observer, tenant_id=tenant)
        except Exception as exc:  # a resume must never keep every later run from starting
            console.print(Text.assemble((f"resuming run {interrupted.run_id} failed", "red"),
                                        f": {type(exc).__name__}: {exc}; `avesa jobs show {interrupted.run_id}` "
                                        "shows where it stands"))
            failures += 1
            continue
        if summary is None:
            console.print(literal(f"run {interrupted.run_id} was taken over by another process"))
            continue
        console.print(summary_table(summary, title=f"resumed run {summary.run_id}"))
        _print_nulled(summary.results)
        failures += len(summary.failed)
    return failures


def _render(result: pa.Table, fmt: str) -> None:
    """Print a query's result. Cells are data, never markup: a ticket summary such as
    `Printer jam [/resolved]` prints exactly as stored."""
    if fmt == "csv":
        import pyarrow.csv as pacsv

        sink = pa.BufferOutputStream()
        pacsv.write_csv(_csv_writable(result), sink)
        sys.stdout.write(sink.getvalue().to_pybytes().decode())
    elif fmt == "json":
        sys.stdout.write(json.dumps(result.to_pylist(), default=str, indent=2) + "\n")
    else:
        table = Table()
        for name in result.column_names:
            table.add_column(Text(name))
        for row in result.to_pylist():
            table.add_row(*(Text("" if v is None else str(v)) for v in row.values()))
        console.print(table)


def _csv_writable(result: pa.Table) -> pa.Table:
    """The result with list, struct and map columns as JSON text, which pyarrow's CSV writer
    cannot write as they are (and intervals, which it cannot write either, as their text)."""
    columns = []
    for column in result.columns:
        if pa.types.is_nested(column.type):
            column = _as_text(column, lambda v: json.dumps(v, default=str, ensure_ascii=False))
        elif pa.types.is_interval(column.type):
            column = _as_text(column, str)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=result.column_names)


def _as_text(column: pa.ChunkedArray, render: Callable[[Any], str]) -> pa.Array:
    return pa.array([None if v is None else render(v) for v in column.to_pylist()], pa.string())


@friendly_errors
def query(
    sql: str = typer.Argument(..., help="one SELECT over companies, contacts, tickets, time_entries"),
    tenant: str = tenant_option("only this tenant's rows"),
    fmt: str = typer.Option("table", "--format", help="table | csv | json"),
) -> None:
    """Run one read-only SELECT (DuckDB) over the canonical tables of every tenant, or of --tenant's.

    It sees those views and nothing else: no files, network, extensions, ATTACH, COPY or settings.

    Example: avesa query "SELECT tenant_id, count(*) FROM tickets WHERE is_current GROUP BY 1" --format csv"""
    if fmt not in ("table", "csv", "json"):
        raise UsageError(f"unknown --format {fmt!r}: use table, csv or json")
    ctx = load_context()
    tenants = [t.tenant_id for t in ctx.state.list_tenants()]
    if tenant is not None:
        if tenant not in tenants:
            raise NotFoundError("tenant", tenant, tenants)
        tenants = [tenant]
    _render(run_query(ctx.lake, sql, tenants, sorted(ctx.catalog.canonical)), fmt)
