"""Find runs a crash interrupted and rebuild their remaining work from the ledger.

A run is interrupted when the ledger still says "running" but its owner is gone
(`pipeline/owners.py: owner_gone`): on this host, the owner's process no longer exists; elsewhere,
none of the run's leases — the run's own, renewed while its owner works, and its chunks' — is live
and the run is older than a lease. Its table runs and chunks are all in the ledger — ranges,
cursors, file sequence numbers — so it resumes exactly where it stopped: planned chunks continue
from their cursors (rewriting the same deterministic file names), unplanned tables are planned,
and each table is finalized once its chunks are complete. Nothing is re-planned that was planned
before, so chunk ids never change under a resumed run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from avesa.domain.timeutil import utc_now
from avesa.domain.work import (
    BackfillRange,
    ChunkTask,
    ResumeRequest,
    RunStatus,
    RunWork,
    SyncMode,
    TableRef,
    TableStatus,
    TableWork,
)
from avesa.observability import events
from avesa.pipeline.audit import audited
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.owners import owner_gone
from avesa.pipeline.plan import lock_tenants
from avesa.state.ledger_records import RunRecord


@dataclass(frozen=True)
class Interruption:
    """A run the ledger says is running whose owner is gone, and why."""

    run: RunRecord
    reason: str  # "its owner host:pid is gone", "its owner … on another host has renewed no lease since …"

    @property
    def advice(self) -> str:
        """What the operator can do about it, as commands."""
        run_id = self.run.run_id
        again = "the same `avesa backfill` command" if self.run.kind == "backfill" else "`avesa run`"
        return (f"`avesa jobs resume {run_id}` or {again} finishes it from where it stopped; "
                f"`avesa jobs cancel {run_id}` stops it for good")


def interruption(ctx: PipelineContext, run: RunRecord, now: datetime) -> Interruption | None:
    """Whether `run` was interrupted (and why), by the ledger as it is now."""
    if run.status != "running" or run.owner == ctx.owner:
        return None
    reason = owner_gone(run, ctx.state.lease_expiries(run.run_id), now, ctx.settings.lease_seconds)
    return None if reason is None else Interruption(run, reason)


def still_interrupted(ctx: PipelineContext, now: datetime) -> Callable[[RunRecord, list[datetime]], bool]:
    """The same rule, for the state store to ask again inside the transaction that acts on it."""
    def check(run: RunRecord, leases: list[datetime]) -> bool:
        return run.owner != ctx.owner and owner_gone(run, leases, now, ctx.settings.lease_seconds) is not None
    return check


def interrupted_runs(ctx: PipelineContext, now: datetime) -> list[RunRecord]:
    runs = [run for run in ctx.state.list_runs(limit=100, status=RunStatus.RUNNING) if interruption(ctx, run, now)]
    return sorted(runs, key=lambda r: r.started_at)


def abandon_interrupted(ctx: PipelineContext, now: datetime) -> list[tuple[RunRecord, bool]]:
    """`avesa jobs cleanup-stuck`: abandon each interrupted run instead of resuming it (its chunk
    leases and tenant locks freed; what it landed stays in the raw lake, unused) — each with whether
    it was, False when it changed state meanwhile (its owner renewed a lease, or it finished). One
    `jobs.cleanup-stuck` entry per run in the audit trail: ok, or refused when left alone."""
    done = []
    for run in interrupted_runs(ctx, now):
        with audited(ctx.state, "jobs.cleanup-stuck", tenant_id=run.request.get("tenant_id"),
                     service=run.request.get("service"), target=run.run_id, kind=run.kind, owner=run.owner,
                     started_at=run.started_at.isoformat()) as entry:
            abandoned = ctx.state.abandon_run(run.run_id, run.owner, utc_now(), still_interrupted(ctx, utc_now()))
            if not abandoned:
                entry.refused("it changed state meanwhile (its owner renewed a lease, or it finished); left alone")
        done.append((run, abandoned))
    return done


def unfinished_tenants(ctx: PipelineContext, run: RunRecord) -> list[str]:
    """Tenants with a table of `run` that did not complete: whom resuming it would sync."""
    return sorted({tr.tenant_id for tr in ctx.state.list_table_runs(run_id=run.run_id)
                   if tr.status != TableStatus.COMPLETE.value})


def _table_ref(run: RunRecord, tenant_id: str, service: str, table: str, mode: str) -> TableRef:
    """A table of `run` as the executor needs it; a backfill's range comes from the run's request,
    so a table it never got to plan is planned over the same windows."""
    backfill = None
    if SyncMode(mode) is SyncMode.BACKFILL and "range" in run.request:
        backfill = BackfillRange.model_validate(run.request["range"])
    return TableRef(run_id=run.run_id, tenant_id=tenant_id, service=service, table=table, mode=SyncMode(mode),
                    run_started_at=run.started_at, backfill=backfill)


def remaining_work(ctx: PipelineContext, run: RunRecord, tenant_id: str | None = None) -> list[TableWork]:
    """Every table of `run` that did not complete (only `tenant_id`'s, when given), with its planned
    chunks (if it was planned)."""
    work = []
    for tr in ctx.state.list_table_runs(run_id=run.run_id, tenant_id=tenant_id):
        if tr.status == TableStatus.COMPLETE.value:
            continue
        ref = _table_ref(run, tr.tenant_id, tr.service, tr.table, tr.mode)
        records = ctx.state.list_chunks(ref)
        if tr.range_end is None and not records:
            work.append(TableWork(table=ref))
            continue
        chunks = [
            ChunkTask(table=ref, chunk_id=c.chunk_id, index=c.idx, start=c.range_start, end=c.range_end,
                      estimate=c.estimate, cursor=c.cursor, seq=c.seq)
            for c in records
        ]
        work.append(TableWork(table=ref, chunks=chunks))
    return work


def resume_work(ctx: PipelineContext, request: ResumeRequest) -> RunWork | None:
    """Take `request.run_id` over and say what is left of it — None if it is not ours to take.

    An interrupted run is claimed from the owner the caller found dead (`expected_owner`; a
    compare-and-set, so of two processes resuming it one wins); without one, a failed run is
    reopened for retry. Its unfinished tables (only `tenant_id`'s, when given) come back with the
    chunks the ledger holds, for tenants no other live run holds now. When other tenants' tables
    remain, `hand_back_to` says whom the finish-run unit gives the run back to."""
    if request.expected_owner is not None:
        taken = ctx.state.claim_run(request.run_id, request.expected_owner, ctx.owner)
    else:
        taken = ctx.state.reopen_run(request.run_id, ctx.owner)
    run = ctx.state.get_run(request.run_id) if taken else None
    if run is None:
        return None
    tenant_id = request.tenant_id
    work = remaining_work(ctx, run, tenant_id)
    events.emit("run_resumed", run_id=run.run_id, previous_owner=request.expected_owner or run.owner,
                tables=len(work), tenant_id=tenant_id)
    locked = lock_tenants(ctx, run.run_id, [w.table for w in work], [], utc_now(),
                          scope="backfill" if run.kind == "backfill" else "sync")
    kept = {ref.key for ref in locked.kept}
    others_left = tenant_id is not None and any(t != tenant_id for t in unfinished_tenants(ctx, run))
    hand_back_to = request.expected_owner if others_left else None
    return RunWork(run_id=run.run_id, kind=run.kind, tables=[w for w in work if w.table.key in kept],
                   skipped=locked.skipped, held_by=locked.held_by, hand_back_to=hand_back_to)
