"""Plan a backfill (`avesa backfill`): re-read a past range of one tenant's service in windows.

A backfill is a run like any other in the ledger (request kind "backfill", table runs in mode
BACKFILL), so it is resumable, retryable, cancellable and visible in `avesa jobs`. Its range is
stateless — `[since, until)` from the request, with the service's defaults (the catalog's
`backfill` section: ConnectWise looks back 730 days in 30-day windows) — and is cut into windows by
`plan_table`, each window a chunk (or several, when it holds more than a chunk's worth).

Why it may run beside the scheduled `avesa run` of the same tenant, which is why it takes the
tenant lock in its own "backfill" scope rather than the sync one:

- extraction writes new, immutable raw files whose names carry the run and chunk, and the merge
  reads only its own run's files, so the two runs never see each other's raw data;
- the SCD2 merge is order-independent and idempotent: old versions land where they belong in a
  key's timeline, and versions already held are absorbed; a Delta commit conflict between the two
  merges re-runs the merge on the new snapshot;
- a backfill never moves a watermark and never looks for deletes, so the incremental run's
  position and delete detection are its own.

The backfill lock keeps two backfills of one tenant from doubling the load on its source. Running
the same `avesa backfill` command again finds the unfinished run of that request and continues it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from avesa.domain.errors import BusyError, NotFoundError, UsageError
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.domain.work import BackfillRange, BackfillRequest, RunPlan, RunStatus, SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.plan import holder_is_stale, new_run_id
from avesa.state.ledger_records import RunRecord

DATE_HINT = "use a date (2024-01-31) or an ISO-8601 time (2024-01-31T12:00:00Z; no zone means UTC)"


def parse_when(text: str | None, option: str) -> datetime | None:
    """A `--since`/`--until` value as an aware UTC datetime, whole seconds (chunk bounds are)."""
    if text is None or not text.strip():
        return None
    try:
        return parse_utc(text).replace(microsecond=0)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date: {DATE_HINT}") from None


def resolve_backfill(ctx: PipelineContext, request: BackfillRequest,
                     now: datetime) -> tuple[BackfillRange, list[str], list[str]]:
    """Check the request against the registry and the catalog and fill in the service's defaults.

    Returns (range, tables, skipped reasons). Everything a user can get wrong fails here, before
    anything is written."""
    if request.window_days is not None and request.window_days < 1:
        raise UsageError(f"--window-days must be at least 1 (got {request.window_days})")
    validate_tenant_id(request.tenant_id)
    tenant = ctx.state.get_tenant(request.tenant_id)
    if tenant is None:
        raise NotFoundError("tenant", request.tenant_id, [t.tenant_id for t in ctx.state.list_tenants()],
                            "Add it with `avesa service add`")
    if not tenant.enabled:
        raise UsageError(f"tenant {tenant.tenant_id} is disabled; enable it with "
                         f"`avesa tenant enable {tenant.tenant_id}` to backfill it")
    spec = ctx.catalog.service(request.service)  # NotFoundError listing the services
    config = ctx.state.get_service(request.tenant_id, request.service)
    if config is None:
        raise NotFoundError("service", request.service,
                            [s.service for s in ctx.state.list_services(request.tenant_id)],
                            f"for tenant {request.tenant_id}; add it with `avesa service add`")
    if not config.enabled:
        raise UsageError(f"{request.tenant_id}/{request.service} is disabled: nothing to backfill")
    skipped: list[str] = []
    if request.table is not None:
        table_spec = spec.table(request.table)  # NotFoundError listing the service's tables
        if request.table not in config.tables:
            raise NotFoundError("table", request.table, config.tables,
                                f"(enabled for {request.tenant_id}/{request.service})")
        if not table_spec.change_field:
            raise UsageError(f"{request.service}/{request.table} has no change field to backfill over: "
                             "every `avesa run` reads it whole")
        tables = [request.table]
    else:
        tables = [t for t in config.tables if spec.table(t).change_field]
        skipped = [f"{request.tenant_id}/{request.service}/{t}: no change field to backfill over (every run "
                   "reads it whole)" for t in config.tables if t not in tables]

    now = now.replace(microsecond=0)
    defaults = spec.backfill
    until = min(parse_utc(request.until).replace(microsecond=0), now) if request.until is not None else now
    since = (parse_utc(request.since).replace(microsecond=0) if request.since is not None
             else now - timedelta(days=defaults.lookback_days))
    if since >= until:
        bound = "now" if until == now else "--until"
        raise UsageError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} is not before {bound} "
                         f"({until:%Y-%m-%dT%H:%M:%SZ}): nothing to backfill")
    window_days = request.window_days if request.window_days is not None else defaults.window_days
    return BackfillRange(start=since, end=until, window_days=window_days), tables, skipped


def find_unfinished_backfill(ctx: PipelineContext, request: BackfillRequest) -> RunRecord | None:
    """The newest backfill run of exactly this request (as typed) that did not finish: running
    (live or interrupted) first, else failed. Running the command again continues it."""
    asked = request.model_dump(mode="json")
    for status in (RunStatus.RUNNING, RunStatus.FAILED):
        for run in ctx.state.list_runs(limit=200, status=status):
            if run.kind == "backfill" and run.request.get("asked") == asked:
                return run
    return None


def lock_for_backfill(ctx: PipelineContext, tenant_id: str, run_id: str, now: datetime) -> None:
    """Take the tenant's backfill lock for `run_id`, or refuse naming the live backfill that holds it.

    Called before a new backfill writes anything, and before an unfinished one is continued (so it
    is not closed as done with its tables left out for a lock)."""
    holder = ctx.state.lock_tenant(tenant_id, run_id, ctx.owner, now, holder_is_stale(ctx), scope="backfill")
    if holder is not None:
        holder_run, holder_owner, since = holder
        raise BusyError(f"{tenant_id} is being backfilled by run {holder_run} ({holder_owner}, since "
                         f"{since:%Y-%m-%d %H:%M:%S} UTC); one backfill per tenant at a time — wait for it, "
                         f"or stop it with `avesa jobs cancel {holder_run}`")


def plan_backfill(ctx: PipelineContext, request: BackfillRequest, *, now: datetime | None = None) -> RunPlan:
    """Resolve the request, take the tenant's backfill lock and open the run in the ledger.

    Nothing is written when the request is wrong or another live backfill holds the tenant."""
    started = (now or utc_now()).replace(microsecond=0)
    window, tables, skipped = resolve_backfill(ctx, request, started)
    run_id = new_run_id(started)
    lock_for_backfill(ctx, request.tenant_id, run_id, started)
    body = {"kind": "backfill", "asked": request.model_dump(mode="json"), "tenant_id": request.tenant_id,
            "service": request.service, "tables": tables, "range": window.model_dump(mode="json")}
    ctx.state.create_run(run_id, started, body, ctx.owner)
    refs = [TableRef(run_id=run_id, tenant_id=request.tenant_id, service=request.service, table=table,
                     mode=SyncMode.BACKFILL, run_started_at=started, backfill=window) for table in tables]
    ctx.state.start_table_runs(refs)
    return RunPlan(run_id=run_id, started_at=started, tables=refs, skipped=skipped)
