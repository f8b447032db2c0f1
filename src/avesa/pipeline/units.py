"""The pipeline's units, as every executor calls them: functions of (context, payload) → payload.

    plan_run      PlanRunRequest    → RunWork            which tables (a new sync or backfill, or
                                                          what is left of a resumed run)
    plan_table    TableRef          → TablePlan          the table's range and first chunks
    run_chunk     ChunkAttempt      → ChunkAttemptResult one attempt of a chunk, until its deadline;
                                                          the chunks it split off
    finalize_table FinalizeRequest  → TableResult        canonical SCD2 merge, deletes, watermark
    finish_run    FinishRunRequest  → RunEnd             the run closed from its ledger

Every payload is a pydantic model that survives JSON both ways, and a unit keeps nothing between
calls that is not in the state store or the lake: a split chunk's children are in its result, a
deadline is wall-clock time in the payload, leases and locks live in the ledger. So the local
asyncio executor (runtime/local.py), which calls the functions directly, and any executor that
calls them by name with JSON — `call_unit`, what a Step Functions + Lambda deployment or a test
executor running every unit in a fresh process does — build the same lake and the same history.

Two in-process hints a unit takes beside its payload (`on_records`, `spare` for run_chunk) only
report progress and size splits to the executor's idle slots; they never change what lands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from avesa.domain.errors import UsageError
from avesa.domain.work import (
    ChunkAttempt,
    FinalizeRequest,
    FinishRunRequest,
    PlanRunRequest,
    RunPlan,
    RunWork,
    TableRef,
    TableWork,
)
from avesa.observability import events
from avesa.pipeline.backfill import plan_backfill
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.extract import run_chunk
from avesa.pipeline.finalize import finalize_table
from avesa.pipeline.finish import finish_run, run_mode
from avesa.pipeline.plan import plan_run, plan_table
from avesa.pipeline.resume import resume_work


def _work(ctx: PipelineContext, plan: RunPlan, kind: str) -> RunWork:
    """The new run's work, announced as `run_started` (the first line of every run in the log, and
    what the run metrics count)."""
    run = ctx.state.get_run(plan.run_id)
    request = run.request if run is not None else {}
    events.emit("run_started", run_id=plan.run_id, kind=kind, mode=run_mode(request), owner=ctx.owner,
                tenant_id=request.get("tenant_id"), service=request.get("service"), tables=len(plan.tables),
                tenants=len({ref.tenant_id for ref in plan.tables}), skipped=len(plan.skipped))
    return RunWork(run_id=plan.run_id, kind=kind, tables=[TableWork(table=ref) for ref in plan.tables],
                   skipped=plan.skipped, held_by=plan.held_by)


def plan_work(ctx: PipelineContext, request: PlanRunRequest) -> RunWork | None:
    """The plan-run unit: open a new sync or backfill run in the ledger, or take over a run to
    resume or retry (None when another process took it first)."""
    asked = [name for name in ("sync", "backfill", "resume") if getattr(request, name) is not None]
    if len(asked) != 1:
        raise UsageError(f"plan_run takes exactly one of sync, backfill or resume (got {asked or 'none'})")
    if request.sync is not None:
        return _work(ctx, plan_run(ctx, request.sync), "sync")
    if request.backfill is not None:
        return _work(ctx, plan_backfill(ctx, request.backfill), "backfill")
    assert request.resume is not None
    return resume_work(ctx, request.resume)


async def _plan_run(ctx: PipelineContext, request: PlanRunRequest) -> RunWork | None:
    return plan_work(ctx, request)


async def _finish_run(ctx: PipelineContext, request: FinishRunRequest) -> Any:
    return finish_run(ctx, request)


@dataclass(frozen=True)
class Unit:
    payload: type[BaseModel]
    call: Callable[[PipelineContext, Any], Awaitable[BaseModel | None]]


UNITS: dict[str, Unit] = {
    "plan_run": Unit(PlanRunRequest, _plan_run),
    "plan_table": Unit(TableRef, plan_table),
    "run_chunk": Unit(ChunkAttempt, run_chunk),
    "finalize_table": Unit(FinalizeRequest, finalize_table),
    "finish_run": Unit(FinishRunRequest, _finish_run),
}


async def call_unit(ctx: PipelineContext, name: str, payload: dict[str, Any]) -> dict[str, Any] | None:
    """Run the unit `name` on a JSON payload and return its result as JSON (None for a plan-run
    that found its run taken). Payloads are validated: a malformed one is an error naming the unit."""
    unit = UNITS.get(name)
    if unit is None:
        raise UsageError(f"no pipeline unit {name!r}; the units are {', '.join(UNITS)}")
    result = await unit.call(ctx, unit.payload.model_validate(payload))
    return None if result is None else result.model_dump(mode="json")
