"""`avesa status`: the last run of every tenant's table, failures first — at 200 tenants a listing
to filter (`--tenant`, `--service`, `--status`, `--stale`) and to hand to scripts (`--format json|csv`).

A row is the ledger's table run (`TableRunRecord`, its fields by their names) with what the
ledger does not say in one place: the watermark, what the data is complete up to and how old that
is against the table's freshness target (`stale`, as the alert rule of that name decides), and the
status as the CLI calls it ("interrupted" for work whose run's owner is gone)."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table

from avesa.cli.common import MAX_LISTED, console, friendly_errors, literals, load_context, nulled_summary, tenant_option
from avesa.cli.ledger_filters import (
    TABLE_STATUSES,
    check_scope,
    check_status,
    failures_first,
    service_option,
    status_option,
)
from avesa.cli.listing import FORMAT_HELP, FULL_ERRORS_HELP, LIMIT_HELP, TABLE_LIMIT, check_format, emit
from avesa.cli.operating_view import print_operating
from avesa.cli.run_status import interruptions, shown_status
from avesa.dashboard.freshness import freshness, short_duration, synced_to, target_for
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunStatus
from avesa.pipeline.context import PipelineContext
from avesa.state.ledger_records import TableRunRecord

LEDGER_COLUMNS = tuple(TableRunRecord.model_fields)
COLUMNS = (*LEDGER_COLUMNS, "watermark", "synced_to", "age_hours", "target_hours", "stale")
"""What json and csv list per table: the ledger's table run, then its freshness."""
TABLE_COLUMNS = ("where", "started_at", "mode", "status", "records", "versions_created", "nulled", "watermark",
                 "age", "error")
TABLE_HEADERS = ("tenant / service / table", "last run (UTC)", "mode", "status", "records", "versions", "nulled",
                 "watermark (UTC)", "data age", "error")


def table_rows(ctx: PipelineContext, tenant: str | None, service: str | None, now: datetime,
               history: list[TableRunRecord]) -> list[dict[str, object]]:
    """One row per table (its last run, of `history` newest first), failures first, then by name."""
    histories: dict[tuple[str, str, str], list[TableRunRecord]] = {}
    for tr in history:
        if service is None or tr.service == service:
            histories.setdefault((tr.tenant_id, tr.service, tr.table), []).append(tr)
    interrupted = interruptions(ctx, ctx.state.list_runs(limit=MAX_LISTED, status=RunStatus.RUNNING), now)
    rows = []
    for key in sorted(histories):
        last = histories[key][0]
        watermark = ctx.state.get_watermark(*key)
        fresh = freshness(synced_to(histories[key], watermark), target_for(ctx.settings, *key), now)
        age = None if fresh.age is None else round(fresh.age.total_seconds() / 3600, 6)
        stale = fresh.age is not None and fresh.age > fresh.target
        rows.append({**last.model_dump(), "status": shown_status(last.status, interrupted.get(last.run_id)),
                     "watermark": watermark, "synced_to": fresh.synced_to, "age_hours": age,
                     "target_hours": fresh.target.total_seconds() / 3600, "stale": stale,
                     "where": "/".join(key), "nulled": nulled_summary(last.nulled_values, short=True) or None,
                     "age": None if fresh.age is None else short_duration(fresh.age) + (" stale" if stale else ""),
                     })
    return failures_first(rows)


@friendly_errors
def status(
    tenant: str = tenant_option(),
    service: str = service_option(),
    state: str = status_option(TABLE_STATUSES, "tables whose last run is"),
    stale: bool = typer.Option(False, "--stale", help="only tables whose data is older than its freshness target "
                               "(AVESA_FRESHNESS_TARGET_HOURS, AVESA_FRESHNESS_TARGETS)"),
    limit: int = typer.Option(None, "--limit", min=1, max=MAX_LISTED, help=LIMIT_HELP),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
    full_errors: bool = typer.Option(False, "--full-errors", help=FULL_ERRORS_HELP),
) -> None:
    """The last run of every tenant's table, failures first: status, records, watermark, data age, error.

    The table also shows when `avesa serve` syncs each service next and the recent runs; json and
    csv list the tables only, every one, with the ledger's fields.

    Examples: avesa status --status failed · avesa status --tenant acme --stale ·
    avesa status --format json > status.json"""
    check_format(fmt)
    wanted = check_status(state, TABLE_STATUSES)
    ctx = load_context()
    check_scope(ctx, tenant, service)
    now = utc_now()
    history = ctx.state.list_table_runs(tenant_id=tenant)
    rows = [row for row in table_rows(ctx, tenant, service, now, history)
            if (wanted is None or row["status"] == wanted) and (not stale or row["stale"])]
    if fmt != "table":
        emit(rows, COLUMNS, fmt, limit=limit)
        return
    for row in rows:  # the row names the table; its error need not say it again
        row["error"] = str(row["error"] or "").removeprefix(f"{row['where']}: ") or None
    emit(rows, TABLE_COLUMNS, fmt, title="last run per table (failures first)", limit=limit, noun="tables",
         headers=TABLE_HEADERS, cut=() if full_errors else ("error",), whole=("where",),
         more_hint="--status failed or --tenant narrows the list")
    if wanted is None and not stale:  # a filtered listing is about those tables only
        print_operating(ctx, tenant, history, now, limit=limit or TABLE_LIMIT, service=service)
        _recent_runs(ctx, now)


def _recent_runs(ctx: PipelineContext, now: datetime) -> None:
    recent = ctx.state.list_runs(limit=10)
    interrupted = interruptions(ctx, [r for r in recent if r.status == "running"], now)
    runs = Table("run", "started", "status", title="recent runs (`avesa jobs list`)", title_justify="left")
    for r in recent:
        runs.add_row(*literals(r.run_id, r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
                               shown_status(r.status, interrupted.get(r.run_id))))
    console.print(runs)
