"""The rows `avesa jobs list` and `avesa jobs show` print: the ledger's runs, table runs and chunks
by their own field names, with what the CLI adds — the status as it calls it ("interrupted" when
the owner is gone), a run's table counts and first error, whether a run is stale — so json and csv
hand a script exactly what the ledger holds.

A run is stale when it needs a person: interrupted, or still running after
AVESA_ALERT_STUCK_RUN_HOURS (the `stuck` alert's bound)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from avesa.cli.ledger_filters import failures_first
from avesa.cli.listing import TABLE_LIMIT
from avesa.cli.run_status import shown_status
from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.resume import Interruption
from avesa.state.ledger_records import RunRecord, TableRunRecord

RUN_COLUMNS = (*RunRecord.model_fields, "kind", "stale", "interrupted", "tenants", "tables_complete",
               "tables_failed", "tables_other", "records", "error")
RUN_TABLE_COLUMNS = ("run_id", "kind", "started_at", "finished_at", "status", "tables", "records", "error")
RUN_HEADERS = ("run", "kind", "started (UTC)", "finished (UTC)", "status", "tables ok / failed / other", "records",
               "error")
TABLE_RUN_COLUMNS = (*TableRunRecord.model_fields, "chunks")
"""`avesa jobs show --format json`: each table run with its chunks (csv: without them)."""


def run_rows(ctx: PipelineContext, runs: list[RunRecord], interrupted: dict[str, Interruption],
             now: datetime) -> list[dict[str, object]]:
    """One row per run, failures first then newest first, without their table counts (`add_tables`)."""
    stuck_after = timedelta(hours=ctx.settings.alert_stuck_run_hours)
    rows = []
    for run in runs:
        found = interrupted.get(run.run_id)
        status = shown_status(run.status, found)
        rows.append({**run.model_dump(), "kind": run.kind, "status": status,
                     "stale": status == "interrupted" or (status == "running" and now - run.started_at > stuck_after),
                     "interrupted": found.reason if found else None})
    return failures_first(rows)


def add_tables(ctx: PipelineContext, rows: list[dict[str, object]], scoped: dict[str, list[TableRunRecord]] | None,
               fmt: str, limit: int | None) -> None:
    """Fill in the table counts of the rows that will be printed: every one for json and csv (or
    `limit`), the table's `limit` (default TABLE_LIMIT) — at 200 tenants, not a query per run never shown."""
    printed = rows if fmt != "table" and limit is None else rows[:TABLE_LIMIT if limit is None else limit]
    if scoped is None and len(printed) > TABLE_LIMIT:
        scoped = by_run(ctx.state.list_table_runs())
    for row in printed:
        run_id = str(row["run_id"])
        tables = scoped.get(run_id, []) if scoped is not None else ctx.state.list_table_runs(run_id=run_id)
        ok = sum(t.status == "complete" for t in tables)
        failed = [t for t in tables if t.status == "failed"]
        row.update(tenants=sorted({t.tenant_id for t in tables}), tables_complete=ok, tables_failed=len(failed),
                   tables_other=len(tables) - ok - len(failed), records=sum(t.records for t in tables),
                   tables=f"{ok} / {len(failed)} / {len(tables) - ok - len(failed)}",
                   error=failed[0].error if failed else None)


def by_run(history: list[TableRunRecord]) -> dict[str, list[TableRunRecord]]:
    grouped: dict[str, list[TableRunRecord]] = defaultdict(list)
    for tr in history:
        grouped[tr.run_id].append(tr)
    return grouped


def asked_for(run: RunRecord, tenant: str | None, service: str | None) -> bool:
    """Whether a run that has no table run yet was asked for this tenant and service by name."""
    asked_tenant, asked_service = run.request.get("tenant_id"), run.request.get("service")
    return (tenant is None or asked_tenant == tenant) and (service is None or asked_service == service) \
        and (tenant is not None or service is not None)


def table_rows(ctx: PipelineContext, run: RunRecord, interrupted: Interruption | None, tenant: str | None,
               service: str | None) -> list[dict[str, object]]:
    """One row per table run of `run` (in the scope asked), failures first, each with its chunks."""
    rows = []
    for tr in ctx.state.list_table_runs(run_id=run.run_id):
        if tenant not in (None, tr.tenant_id) or service not in (None, tr.service):
            continue
        ref = TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        chunks = [{**c.model_dump(), "status": shown_status(c.status, interrupted)} for c in ctx.state.list_chunks(ref)]
        rows.append({**tr.model_dump(), "status": shown_status(tr.status, interrupted), "chunks": chunks,
                     "ref": ref})
    return failures_first(rows)
