"""Find runs a crash interrupted and rebuild their remaining work from the ledger.

A run is interrupted when the ledger still says "running" but its owner is gone: on this host, the
owner's process no longer exists; elsewhere, no chunk of the run holds a live lease and the run is
older than a lease. Its table runs and chunks are all in the ledger — ranges, cursors, file
sequence numbers — so it resumes exactly where it stopped: planned chunks continue from their
cursors (rewriting the same deterministic file names), unplanned tables are planned, and each table
is finalized once its chunks are complete. Nothing is re-planned that was planned before, so chunk
ids never change under a resumed run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from avesa.domain.work import BackfillRange, ChunkTask, SyncMode, TableRef, TableStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.owners import owner_alive
from avesa.state.ledger_records import RunRecord


@dataclass
class ResumableTable:
    table: TableRef
    chunks: list[ChunkTask] | None  # None: the table was never planned


def interrupted_runs(ctx: PipelineContext, now: datetime) -> list[RunRecord]:
    runs = []
    for run in ctx.state.list_runs(limit=100, status="running"):
        if run.owner == ctx.owner:
            continue
        alive = owner_alive(run.owner)
        if alive is None:
            leases = [c.lease_expires for tr in ctx.state.list_table_runs(run_id=run.run_id)
                      for c in ctx.state.list_chunks(_table_ref(run, tr.tenant_id, tr.service, tr.table, tr.mode))
                      if c.lease_expires is not None]
            stale = run.started_at + timedelta(seconds=ctx.settings.lease_seconds) < now
            alive = not stale or any(expires > now for expires in leases)
        if not alive:
            runs.append(run)
    return sorted(runs, key=lambda r: r.started_at)


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


def remaining_work(ctx: PipelineContext, run: RunRecord, tenant_id: str | None = None) -> list[ResumableTable]:
    """Every table of `run` that did not complete (only `tenant_id`'s, when given), with its planned
    chunks (if it was planned)."""
    work = []
    for tr in ctx.state.list_table_runs(run_id=run.run_id, tenant_id=tenant_id):
        if tr.status == TableStatus.COMPLETE.value:
            continue
        ref = _table_ref(run, tr.tenant_id, tr.service, tr.table, tr.mode)
        records = ctx.state.list_chunks(ref)
        if tr.range_end is None and not records:
            work.append(ResumableTable(ref, None))
            continue
        chunks = [
            ChunkTask(table=ref, chunk_id=c.chunk_id, index=c.idx, start=c.range_start, end=c.range_end,
                      estimate=c.estimate, cursor=c.cursor, seq=c.seq)
            for c in records
        ]
        work.append(ResumableTable(ref, chunks))
    return work
