"""The finish-run unit: close a run once every table an executor ran for it has ended.

The run's outcome comes from the ledger, not from the executor's memory: its tables' statuses and
records as they were recorded, so any executor — one process, or many Lambdas that each saw one
table — ends a run the same way. A run whose tables all completed is complete, one with a failed
table failed (`avesa run` exits 1); a run cancelled meanwhile stays cancelled. A run resumed for one
tenant while other tenants' tables remain is handed back to its previous (dead) owner instead,
still interrupted, for whoever resumes it next.
"""

from __future__ import annotations

import logging

from avesa.domain.timeutil import utc_now
from avesa.domain.work import FinishRunRequest, RunEnd, RunStatus, TableStatus
from avesa.observability import events
from avesa.pipeline.context import PipelineContext

ENDED_WELL = (TableStatus.COMPLETE.value, TableStatus.CANCELLED.value)


def run_mode(request: dict) -> str:
    """What kind of run a run's ledger request asked for: "backfill", "full" or "incremental" — the
    `mode` label of the run metrics."""
    if request.get("kind") == "backfill":
        return "backfill"
    return "full" if request.get("full") else "incremental"


def finish_run(ctx: PipelineContext, request: FinishRunRequest) -> RunEnd:
    """Free the run's tenant locks, then close the run (or hand it back) as its ledger says."""
    run_id = request.run_id
    ctx.state.unlock_tenants(run_id)
    tables = ctx.state.list_table_runs(run_id=run_id)
    failed = [t for t in tables if t.status == TableStatus.FAILED.value]
    records = sum(t.records for t in tables)
    counts = {"tables": len(tables), "failed_tables": len(failed), "records": records}
    if request.hand_back_to is not None and ctx.state.claim_run(run_id, ctx.owner, request.hand_back_to):
        events.emit("run_handed_back", run_id=run_id, owner=request.hand_back_to, **counts)
        return RunEnd(run_id=run_id, status="interrupted", **counts)
    status = RunStatus.FAILED if failed else RunStatus.COMPLETE
    if not ctx.state.finish_run(run_id, status, utc_now()):
        run = ctx.state.get_run(run_id)  # cancelled meanwhile: it stays so
        status = run.status if run else status
    http = {f"http_{name}": value for name, value in request.http.items()}
    seconds = {} if request.seconds is None else {"seconds": round(request.seconds, 3)}
    run = ctx.state.get_run(run_id)
    mode = run_mode(run.request) if run is not None else "incremental"
    events.emit("run_finished", level=logging.WARNING if status == "failed" else logging.INFO, run_id=run_id,
                mode=mode, status=status, **counts, **seconds, **http)
    return RunEnd(run_id=run_id, status=status, **counts)


def report_rate_budgets(ctx: PipelineContext, run_id: str) -> dict[str, dict[str, object]]:
    """Log the figures of every (tenant, service) rate budget this process used for `run_id`
    (requests, 429s, waits, achieved and learnt rates: the `rate_budget` event), and return those of
    the budgets that met rate limits, keyed "tenant/service", for the run's summary."""
    limited: dict[str, dict[str, object]] = {}
    for (tenant_id, service), budget in ctx.budgets.items():
        figures = budget.figures()
        events.emit("rate_budget", run_id=run_id, tenant_id=tenant_id, service=service, **figures)
        if figures["http_429"]:
            limited[f"{tenant_id}/{service}"] = figures
    return limited
