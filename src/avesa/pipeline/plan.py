"""Plan a run (which tables) and plan a table (which chunks).

A table's range is `[start, end)` over its change timestamp: `end` is the run's start (second
aligned, so a record changed during the run lands next run, never half in this one); `start` is
the watermark less a look-back, or the table's earliest change for a full sync. The range is split
into chunks of about `target_chunk_records` records using the source's count.

A backfill table (mode BACKFILL) has its range from the request instead, cut into windows of a
few days; each window is a chunk, or several when the count says it holds more than one chunk's worth.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from avesa.domain.errors import ConfigError, NotFoundError
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import EPOCH, compact_stamp, utc_now
from avesa.domain.work import ChunkTask, RunPlan, RunRequest, SyncMode, TablePlan, TableRef, TableStatus
from avesa.pipeline.chunking import chunk_target, plan_spans
from avesa.pipeline.chunking import even_split as split_range
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.owners import owner_alive
from avesa.state.ledger_records import TableRunUpdate


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
    locked = lock_tenants(ctx, run_id, refs, skipped, started)
    ctx.state.start_table_runs(locked.kept)
    return RunPlan(run_id=run_id, started_at=started, tables=locked.kept, skipped=locked.skipped,
                   held_by=locked.held_by)


def holder_is_stale(ctx: PipelineContext) -> Callable[[str, str], bool]:
    """A lock's holder is stale when its run finished (or never was) or its process is gone."""

    def is_stale(holder_run: str, holder_owner: str) -> bool:
        run = ctx.state.get_run(holder_run)
        if run is None or run.status != "running":
            return True
        return owner_alive(holder_owner) is False

    return is_stale


class Locked(NamedTuple):
    kept: list[TableRef]
    """The tables of the tenants this run now holds."""
    skipped: list[str]
    """The reasons given, plus one per tenant another run holds, naming that run."""
    held_by: dict[str, str]
    """Tenant -> the id of the live run that holds it."""


def lock_tenants(ctx: PipelineContext, run_id: str, refs: list[TableRef], skipped: list[str],
                 now: datetime, scope: str = "sync") -> Locked:
    """Two runs of one scope never write one tenant's tables at once: a tenant another live run
    holds is left out of this run, with a reason that names the holder. Syncs and backfills lock
    in separate scopes, so a backfill never holds up the scheduled sync (see pipeline/backfill.py)."""
    is_stale = holder_is_stale(ctx)
    doing = "backfilled" if scope == "backfill" else "synced"
    kept: list[TableRef] = []
    skipped = list(skipped)
    held_by: dict[str, str] = {}
    for tenant_id in dict.fromkeys(ref.tenant_id for ref in refs):
        holder = ctx.state.lock_tenant(tenant_id, run_id, ctx.owner, now, is_stale, scope=scope)
        if holder is None:
            kept.extend(ref for ref in refs if ref.tenant_id == tenant_id)
        else:
            holder_run, holder_owner, since = holder
            held_by[tenant_id] = holder_run
            skipped.append(f"{tenant_id}: being {doing} by run {holder_run} ({holder_owner}, since "
                           f"{since:%Y-%m-%d %H:%M:%S} UTC); not {doing} by this run — the next run will")
    return Locked(kept, skipped, held_by)


def backfill_windows(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """`[start, end)` cut into consecutive windows of `days` days counted from `start` (the last may
    be shorter): stateless, so the same request always gives the same windows."""
    step = timedelta(days=days)
    windows, lo = [], start
    while lo < end:
        hi = min(end, lo + step)
        windows.append((lo, hi))
        lo = hi
    return windows


def _cut(ref: TableRef, ranges: list[tuple[datetime, datetime, int]], target: int, *,
         split: bool = True) -> list[ChunkTask]:
    """Chunks over each (start, end, count) range: with `split`, an empty range gets none and a
    larger one is cut into pieces of about `target` records; without, each range is one chunk
    and its count only an estimate."""
    chunks: list[ChunkTask] = []
    for start, end, count in ranges:
        if split and not count:
            continue
        parts = split_range(start, end, max(1, math.ceil(count / target))) if split else [(start, end)]
        per_chunk = math.ceil(count / len(parts))
        for lo, hi in parts:
            index = len(chunks)
            chunks.append(ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, index, lo, hi), index=index,
                                    start=lo, end=hi, estimate=per_chunk))
    return chunks


async def _plan_backfill(ctx: PipelineContext, ref: TableRef) -> tuple[datetime, datetime, int, list[ChunkTask]]:
    """The backfill's windows as chunks. One request finds the range's earliest change and total;
    windows before the earliest change are skipped. When the whole range holds no more than a
    chunk's worth, no window can need cutting: each is one chunk, uncounted (an empty one costs its
    single page request, as a count would). Otherwise the windows are counted concurrently, empty
    ones dropped and large ones cut further."""
    assert ref.backfill is not None, f"{ref.label}: a backfill table needs its range"
    connector = ctx.connector(ref.tenant_id, ref.service)
    start, end, target = ref.backfill.start, ref.backfill.end, ctx.settings.target_chunk_records
    earliest, total = await connector.span(ref.table, start, end)
    if not total:
        return start, end, 0, []
    windows = [(lo, hi) for lo, hi in backfill_windows(start, end, ref.backfill.window_days)
               if earliest is None or hi > earliest]
    if total <= target or len(windows) == 1:
        average = math.ceil(total / len(windows))
        return start, end, total, _cut(ref, [(lo, hi, average) for lo, hi in windows], target,
                                       split=len(windows) == 1)
    counts = await asyncio.gather(*(connector.count(ref.table, lo, hi) for lo, hi in windows))
    counted = [(lo, hi, n) for (lo, hi), n in zip(windows, counts, strict=True) if n is not None]
    if len(counted) < len(windows):  # a window the API would not count: not empty, so uncut like a small range
        average = math.ceil(total / len(windows))
        return start, end, total, _cut(ref, [(lo, hi, average) for lo, hi in windows], target, split=False)
    return start, end, total, _cut(ref, counted, target)


async def _plan_incremental(ctx: PipelineContext,
                            ref: TableRef) -> tuple[datetime, datetime, int | None, list[ChunkTask]]:
    """From the watermark (less the look-back), or the table's earliest change, to the run's start."""
    connector = ctx.connector(ref.tenant_id, ref.service)
    end = ref.run_started_at.replace(microsecond=0)
    watermark = None if ref.mode is SyncMode.FULL else ctx.state.get_watermark(*ref.key)
    if getattr(connector, "reports_remaining", False):
        # One chunk over the whole range, no request: its first page says how much there is, and it
        # splits itself along the change stamps it sees (pipeline/extract.py).
        start = min(end, watermark.replace(microsecond=0) - lookback(ctx)) if watermark is not None else EPOCH
        return start, end, None, [_single_chunk(ref, start, end)] if start < end else []
    if watermark is not None:
        start = min(end, watermark.replace(microsecond=0) - lookback(ctx))
        _, estimate = await connector.span(ref.table, start, end) if start < end else (None, 0)
    else:
        earliest, estimate = await connector.span(ref.table, None, end)
        if earliest is not None:
            start = min(end, earliest.replace(microsecond=0))
        else:  # an empty table, or an API that cannot say where its data starts
            start = EPOCH if estimate is None or estimate > 0 else end
    if estimate is None:  # the API cannot count: one chunk, paged to its end
        return start, end, None, [_single_chunk(ref, start, end)] if start < end else []

    async def count(lo: datetime, hi: datetime) -> int | None:
        return await connector.count(ref.table, lo, hi)

    spans = await plan_spans(start, end, estimate, chunk_target(ctx, ref), count)
    return start, end, estimate, _chunks(ref, spans)


def _chunks(ref: TableRef, spans: list[tuple[datetime, datetime, int]]) -> list[ChunkTask]:
    return [ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, index, lo, hi), index=index, start=lo, end=hi,
                      estimate=count) for index, (lo, hi, count) in enumerate(spans)]


def lookback(ctx: PipelineContext) -> timedelta:
    return timedelta(seconds=ctx.settings.lookback_seconds)


def _single_chunk(ref: TableRef, start: datetime, end: datetime, cursor: str | None = None) -> ChunkTask:
    return ChunkTask(table=ref, chunk_id=ChunkTask.make_id(ref, 0, start, end), index=0, start=start, end=end,
                     cursor=cursor)


async def _plan_whole_table(ctx: PipelineContext, ref: TableRef) -> tuple[datetime, datetime, None, list[ChunkTask]]:
    """A snapshot or delta table is one chunk per run. Its range only records when it was read (from
    the last run to this one); a delta table starts from the link its last run kept, unless the
    sync is full, which starts a new round (and, being full, looks for deletes by listing ids)."""
    end = ref.run_started_at.replace(microsecond=0)
    watermark = None if ref.mode is SyncMode.FULL else ctx.state.get_watermark(*ref.key)
    start = min(end, watermark.replace(microsecond=0)) if watermark is not None else end
    sync = ctx.catalog.service(ref.service).table(ref.table).sync
    token = ctx.state.get_sync_token(*ref.key) if sync == "delta" and ref.mode is not SyncMode.FULL else None
    return start, end, None, [_single_chunk(ref, start, end, token)]


async def plan_table(ctx: PipelineContext, ref: TableRef) -> TablePlan:
    """Decide the table's range and chunks, and record them in the ledger."""
    sync = ctx.catalog.service(ref.service).table(ref.table).sync
    if sync != "window" and ref.mode is SyncMode.BACKFILL:
        raise ConfigError(f"{ref.label}: the API reads this table whole ({sync}), not by change time, so there "
                          "is no range to backfill; run `avesa run --full` for it instead")
    plan: Callable[[PipelineContext, TableRef], Awaitable[tuple[datetime, datetime, int | None, list[ChunkTask]]]]
    if sync != "window":
        plan = _plan_whole_table
    else:
        plan = _plan_backfill if ref.mode is SyncMode.BACKFILL else _plan_incremental
    start, end, estimate, chunks = await plan(ctx, ref)
    ctx.state.save_chunks(chunks)
    ctx.state.update_table_run(ref, TableRunUpdate(status=TableStatus.EXTRACTING, range_start=start, range_end=end,
                                                   estimate=estimate, chunks_total=len(chunks)))
    return TablePlan(table=ref, range_start=start, range_end=end, estimate=estimate, chunks=chunks)
