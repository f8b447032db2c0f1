"""Cancelling a run (`avesa jobs cancel`), and how the units of a run notice.

Cancelling is a ledger change only (the state store's `cancel_run`): the run, its unfinished
tables and chunks say "cancelled", leases and tenant locks are freed. A worker anywhere — this
process, another one, a Lambda — learns it from the ledger: its next chunk claim or checkpoint is
refused, and a table is not planned or finalized for a cancelled run. So a cancelled run never
merges into a canonical table after it notices and never moves a watermark (the store refuses that
in the same transaction). Raw files it already landed stay: they are immutable, and nothing reads
them — the canonical merge reads only the files of the run it finalizes.
"""

from __future__ import annotations

from datetime import datetime

from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunStatus, TableRef, TableResult, TableStatus
from avesa.pipeline.audit import audited
from avesa.pipeline.context import PipelineContext
from avesa.state.ledger_records import RunRecord, TableRunUpdate

CANCELLABLE = ("running", "failed")


def run_cancelled(ctx: PipelineContext, run_id: str) -> bool:
    run = ctx.state.get_run(run_id)
    return run is not None and run.status == "cancelled"


def cancelled_result(ctx: PipelineContext, ref: TableRef, records: int = 0) -> TableResult:
    """Record that `ref` stopped because its run was cancelled, and say so to the executor."""
    message = f"{ref.label}: run {ref.run_id} was cancelled"
    ctx.state.update_table_run(ref, TableRunUpdate(status=TableStatus.CANCELLED, error=message,
                                                   finished_at=utc_now()))
    return TableResult(table=ref, status=TableStatus.CANCELLED, records=records, error=message)


def cancel_run(ctx: PipelineContext, run_id: str, now: datetime | None = None) -> RunRecord:
    """Cancel a running (live or interrupted) or failed run; returns it as it was.

    A failed run can be cancelled too: it is not done with — `avesa jobs retry` and a re-run of the
    same backfill would continue it — and cancelling is how an operator says it never should be.
    A complete, abandoned or cancelled run is finished: cancelling it is an error. Recorded in the
    audit trail as `jobs.cancel`, refused ones too."""
    with audited(ctx.state, "jobs.cancel", target=run_id) as entry:
        run = ctx.state.get_run(run_id)
        if run is None:
            recent = [r.run_id for r in ctx.state.list_runs(limit=10, status=RunStatus.RUNNING)]
            raise NotFoundError("run", run_id, recent, "(running runs; see `avesa jobs list`)")
        entry.tenant_id, entry.service = run.request.get("tenant_id"), run.request.get("service")
        entry.details.update(kind=run.kind, was=run.status)
        if run.status not in CANCELLABLE:
            raise UsageError(f"run {run_id} is {run.status}: it has finished, there is nothing to cancel "
                             "(only a running, interrupted or failed run can be cancelled)")
        if not ctx.state.cancel_run(run_id, now or utc_now()):
            current = ctx.state.get_run(run_id)
            raise UsageError(f"run {run_id} became {current.status if current else 'unknown'} meanwhile; "
                             f"look at `avesa jobs show {run_id}`")
        return run
