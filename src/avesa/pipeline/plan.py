"""Plan a run (which tables) and plan a table (which chunks).

A table's range is `[start, end)` over its change timestamp: `end` is the run's start (second
aligned, so a record changed during the run lands next run, never half in this one); `start` is
the watermark less a look-back, or the table's earliest change for a full sync. The range is split
into chunks of about `target_chunk_records` records using the source's count.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta

from avesa.domain.errors import NotFoundError
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import compact_stamp, utc_now
from avesa.domain.work import ChunkTask, RunPlan, RunRequest, SyncMode, TablePlan, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.owners import owner_alive


def new_run_id(started_at: datetime) -> str:
    return f"run-{compact_stamp(started_at)}-{uuid.uuid4().hex[:6]}"


def plan_run(ctx: PipelineContext, request: RunRequest, *, now: datetime | None = None) -> RunPlan:
    """Resolve the request against the registry and open the run in the ledger.

    Unknown names fail before anything is written, with the known ones listed.
    """
    started = (now or utc_now()).replace(microsecond=0)
    tenants = ctx.state.list_tenants()
    if request.tenant_id is not None:
        validate_tenant_id(request.tenant_id)
        if request.tenant_id not in {t.tenant_id for t in tenants}:
            raise NotFoundError("tenant", request.tenant_id, [t.tenant_id for t in tenants],
                                "Add it with `avesa tenant add`")
        tenants = [t for t in tenants if t.tenant_id == request.tenant_id]
    if request.service is not None:
        ctx.catalog.service(request.service)  # raises NotFoundError listing the services
    run_id = new_run_id(started)
    mode = SyncMode.FULL if request.full else SyncMode.INCREMENTAL
    refs: list[TableRef] = []
    skipped: list[str] = []
    for tenant in tenants:
        if not tenant.enabled:
            skipped.append(f"{tenant.tenant_id}: tenant disabled")
            continue
        services = ctx.state.list_services(tenant.tenant_id)
        if request.service is not None:
            services = [s for s in services if s.service == request.service]
            if not services and request.tenant_id is not None:
                raise NotFoundError("service", request.service,
                                    [s.service for s in ctx.state.list_services(tenant.tenant_id)],
                                    f"for tenant {tenant.tenant_id}; add it with `avesa service add`")
        for config in services:
            if not config.enabled:
                skipped.append(f"{tenant.tenant_id}/{config.service}: service disabled")
                continue
            tables = config.tables
            if request.table is not None:
                spec = ctx.catalog.service(config.service)
                spec.table(request.table)  # raises NotFoundError listing the tables
                if request.table not in tables:
                    raise NotFoundError("table", request.table, tables,
                                        f"(enabled for {tenant.tenant_id}/{config.service})")
                tables = [request.table]
            refs.extend(
                TableRef(run_id=run_id, tenant_id=tenant.tenant_id, service=config.service, table=table,
                         mode=mode, run_started_at=started)
                for table in tables
            )
    ctx.state.create_run(run_id, started, request.model_dump(mode="json"), ctx.owner)
    refs, skipped = lock_tenants(ctx, run_id, refs, skipped, started)
    ctx.state.start_table_runs(refs)
    return RunPlan(run_id=run_id, started_at=started, tables=refs, skipped=skipped)


def lock_tenants(ctx: PipelineContext, run_id: str, refs: list[TableRef], skipped: list[str],
                 now: datetime) -> tuple[list[TableRef], list[str]]:
    """Two runs never write one tenant's tables at once: a tenant another live run holds is left
    out of this run, with a reason that names the holder."""

    def is_stale(holder_run: str, holder_owner: str) -> bool:
        run = ctx.state.get_run(holder_run)
        if run is None or run.status != "running":
            return True
        return owner_alive(holder_owner) is False

    kept, skipped = [], list(skipped)
    for tenant_id in dict.fromkeys(ref.tenant_id for ref in refs):
        holder = ctx.state.lock_tenant(tenant_id, run_id, ctx.owner, now, is_stale)
        if holder is None:
            kept.extend(ref for ref in refs if ref.tenant_id == tenant_id)
        else:
            holder_run, holder_owner, since = holder
            skipped.append(f"{tenant_id}: being synced by run {holder_run} ({holder_owner}, since "
                           f"{since:%Y-%m-%d %H:%M:%S} UTC); not synced by this run — the next run will")
    return kept, skipped


def split_range(start: datetime, end: datetime, pieces: int) -> list[tuple[datetime, datetime]]:
    """Split `[start, end)` into `pieces` contiguous second-aligned half-open ranges covering it."""
    total = int((end - start).total_seconds())
    pieces = max(1, min(pieces, total)) if total > 0 else 1
    bounds = [start + timedelta(seconds=(total * i) // pieces) for i in range(pieces)] + [end]
    return [(bounds[i], bounds[i + 1]) for i in range(pieces) if bounds[i] < bounds[i + 1]] or [(start, end)]


async def plan_table(ctx: PipelineContext, ref: TableRef) -> TablePlan:
    """Decide the table's range and chunks, and record them in the ledger."""
    connector = ctx.connector(ref.tenant_id, ref.service)
    end = ref.run_started_at.replace(microsecond=0)
    watermark = None if ref.mode is SyncMode.FULL else ctx.state.get_watermark(*ref.key)
    if watermark is not None:
        start = min(end, watermark.replace(microsecond=0) - timedelta(seconds=ctx.settings.lookback_seconds))
        _, estimate = await connector.span(ref.table, start, end) if start < end else (None, 0)
    else:
        earliest, estimate = await connector.span(ref.table, None, end)
        start = min(end, earliest.replace(microsecond=0)) if earliest is not None else end
    pieces = max(1, math.ceil(estimate / ctx.settings.target_chunk_records)) if estimate else 0
    chunks = []
    if pieces:
        for index, (lo, hi) in enumerate(split_range(start, end, pieces)):
            chunks.append(ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, index, lo, hi), index=index,
                                    start=lo, end=hi))
        per_chunk = math.ceil(estimate / len(chunks))
        chunks = [c.model_copy(update={"estimate": per_chunk}) for c in chunks]
    ctx.state.save_chunks(chunks)
    ctx.state.update_table_run(ref, status="extracting", range_start=start, range_end=end, estimate=estimate,
                               chunks_total=len(chunks))
    return TablePlan(table=ref, range_start=start, range_end=end, estimate=estimate, chunks=chunks)
