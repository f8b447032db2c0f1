"""`avesa run`, `avesa status`, `avesa query`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import typer
from rich.table import Table
from rich.text import Text

from avesa.cli.common import console, friendly_errors, load_context
from avesa.cli.progress import RichRunObserver, summary_table
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunRequest
from avesa.lake.query import run_query
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import interrupted_runs
from avesa.runtime.local import resume_sync, run_sync


@friendly_errors
def run(
    tenant: str = typer.Option(None, "--tenant", help="only this tenant"),
    service: str = typer.Option(None, "--service", help="only this service"),
    table: str = typer.Option(None, "--table", help="only this table"),
    full: bool = typer.Option(False, "--full", help="re-read everything and reconcile deletes"),
) -> None:
    """Sync tenants' data: extract to raw Parquet, then build canonical SCD2 tables.

    A run a crash interrupted is finished first, from where it stopped."""
    ctx = load_context()
    resumed_failures = _resume_interrupted(ctx)
    request = RunRequest(tenant_id=tenant, service=service, table=table, full=full)
    with RichRunObserver(console) as observer:
        summary = run_sync(ctx, request, observer)
    console.print(summary_table(summary))
    for reason in summary.skipped:
        console.print(f"[yellow]skipped[/] {reason}")
    if not summary.results:
        console.print("nothing to run: register tenants with `avesa service add`")
    console.print(f"{summary.records:,} records in {summary.seconds:.1f}s; lake: {ctx.lake.root}")
    if summary.cancelled:
        console.print(f"[red]run {summary.run_id} was cancelled[/] (`avesa jobs cancel`); the next run starts "
                      "from the watermarks")
        raise typer.Exit(1)
    if summary.failed or resumed_failures:
        console.print(f"[red]{len(summary.failed) + resumed_failures} table(s) failed[/]")
        raise typer.Exit(1)


def _resume_interrupted(ctx: PipelineContext) -> int:
    """Finish every interrupted sync run; returns how many of their tables failed.

    An interrupted backfill is left for the operator: it may re-read years of data, which must not
    hold up the scheduled sync."""
    failures = 0
    for interrupted in interrupted_runs(ctx, utc_now()):
        if interrupted.kind == "backfill":
            console.print(f"[yellow]interrupted backfill run {interrupted.run_id}[/] left as it is: continue it with "
                          f"`avesa jobs resume {interrupted.run_id}` or the same `avesa backfill` command, or "
                          f"`avesa jobs cancel {interrupted.run_id}`")
            continue
        console.print(f"[yellow]resuming interrupted run {interrupted.run_id}[/] (started "
                      f"{interrupted.started_at:%Y-%m-%d %H:%M:%S} UTC by {interrupted.owner})")
        with RichRunObserver(console) as observer:
            summary = resume_sync(ctx, interrupted, observer)
        if summary is None:
            console.print(f"run {interrupted.run_id} was taken over by another process")
            continue
        console.print(summary_table(summary, title=f"resumed run {summary.run_id}"))
        failures += len(summary.failed)
    return failures


@friendly_errors
def status(tenant: str = typer.Option(None, "--tenant"), limit: int = typer.Option(40, "--limit")) -> None:
    """The last runs per tenant and table, with watermarks."""
    ctx = load_context()
    latest: dict[tuple[str, str, str], object] = {}
    for tr in ctx.state.list_table_runs(tenant_id=tenant):
        latest.setdefault((tr.tenant_id, tr.service, tr.table), tr)
    table = Table("tenant / service / table", "last run (UTC)", "mode", "status", "records", "versions",
                  "watermark (UTC)", "error", title="last run per table", title_justify="left")
    for key in sorted(latest)[:limit]:
        tr = latest[key]
        wm = ctx.state.get_watermark(*key)
        table.add_row(f"{tr.tenant_id}/{tr.service}/{tr.table}", tr.started_at.strftime("%Y-%m-%d %H:%M:%S"), tr.mode,
                      tr.status, f"{tr.records:,}", f"{tr.versions_created:,}",
                      wm.strftime("%Y-%m-%d %H:%M:%S") if wm else "-", (tr.error or "")[:80])
    console.print(table)
    runs = Table("run", "started", "status", title="recent runs", title_justify="left")
    for r in ctx.state.list_runs(limit=10):
        runs.add_row(r.run_id, r.started_at.strftime("%Y-%m-%d %H:%M:%S"), r.status)
    console.print(runs)


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
    tenant: str = typer.Option(None, "--tenant", help="only this tenant's rows"),
    fmt: str = typer.Option("table", "--format", help="table | csv | json"),
) -> None:
    """Run one read-only SELECT (DuckDB) over the canonical tables of every tenant, or of --tenant's.

    It sees those views and nothing else: no files, network, extensions, ATTACH, COPY or settings."""
    if fmt not in ("table", "csv", "json"):
        raise UsageError(f"unknown --format {fmt!r}: use table, csv or json")
    ctx = load_context()
    tenants = [t.tenant_id for t in ctx.state.list_tenants()]
    if tenant is not None:
        if tenant not in tenants:
            raise NotFoundError("tenant", tenant, tenants)
        tenants = [tenant]
    _render(run_query(ctx.lake, sql, tenants, sorted(ctx.catalog.canonical)), fmt)
