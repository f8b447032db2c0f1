"""`avesa serve` and `avesa schedule show|set` (docs/operating.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from avesa.alerts.incidents import AlertEngine
from avesa.cli.common import (
    console,
    friendly_errors,
    literal,
    literals,
    load_context,
    require_home,
    table_title,
    tenant_option,
)
from avesa.cli.optional_packages import require_web
from avesa.cli.progress import PlainProgress
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.registry import TenantService
from avesa.domain.timeutil import utc_now
from avesa.observability import events
from avesa.observability.metrics import EventMetrics
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registry_changes import set_schedule
from avesa.runtime import schedules
from avesa.runtime.ledger_metrics import LedgerCollector
from avesa.runtime.serve import Serve
from avesa.settings import Settings, load_settings

schedule_app = typer.Typer(help="See and change when `avesa serve` syncs each tenant's services.",
                           no_args_is_help=True)


def _say(line: str) -> None:
    """A plain console line: `avesa serve`'s output goes to a journal or `docker logs`."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@friendly_errors
def serve(
    port: int = typer.Option(8080, "--port", help="port of /metrics (and the dashboard at /); 0 picks a free one"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (0.0.0.0: every interface)"),
    log_level: str = typer.Option(None, "--log-level", help="debug | info | warning | error (AVESA_LOG_LEVEL)"),
) -> None:
    """Run syncs on their schedules until stopped, with Prometheus metrics at /metrics.

    Incremental syncs and the daily full reconciliation per tenant and service (`avesa schedule`),
    backfills queued with `avesa backfill --queue`, and whatever a previous process left
    interrupted, resumed first. SIGTERM lets running chunks land their files and exits 0; the
    next start resumes them.

    Example: AVESA_SCHEDULE="every 30m; servicenow=every 15m" avesa serve --port 8080"""
    require_web("serve")
    from avesa.runtime.server_app import bind

    settings = load_settings()
    require_home(settings)
    level = log_level or settings.log_level
    try:
        events.set_level(level, max_bytes=settings.log_max_bytes, backups=settings.log_backups)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    Serve.check(settings)  # every schedule setting, before the port is taken
    alerts = AlertEngine(settings)  # and the alert settings and rules file
    sock = bind(host, port)
    events.to_console(sys.stdout)
    asyncio.run(_serve(settings, sock, host, level, alerts))


async def _serve(settings: Settings, sock: object, host: str, level: str, alerts: AlertEngine | None = None) -> None:
    from avesa.runtime.server_app import build_server_app, http_server, load_dashboard  # the web extra

    interval = settings.progress_interval_seconds
    metrics = EventMetrics()
    service = Serve(settings, lambda: PipelineContext.from_settings(settings),
                    observer_factory=lambda what: PlainProgress(_say, interval, label=what), alerts=alerts)
    stop, force = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        (force if stop.is_set() else stop).set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    with metrics:
        await service.start()
        metrics.registry.register(LedgerCollector(service.ctx.state, service.next_runs))
        try:
            dashboard = load_dashboard(settings, service.next_run_by_service)
        except Exception as exc:  # the metrics and the schedule matter more than the pictures
            _say(f"dashboard not mounted: {type(exc).__name__}: {exc}")
            dashboard = None
        app = build_server_app(metrics.registry, dashboard_app=dashboard,
                               health=lambda: {"runs_started": service.state.runs_started,
                                               "running": list(service.state.running),
                                               "schedules": len(service.jobs),
                                               "alerts_open": service.state.alerts_open})
        server = http_server(app, level)
        http = asyncio.create_task(server.serve(sockets=[sock]))  # type: ignore[list-item]
        while not server.started and not http.done():
            await asyncio.sleep(0.01)
        if http.done():
            await service.stop(0)
            service.close()
            http.result()
            raise UsageError("the HTTP server did not start: see the lines above")
        bound = sock.getsockname()  # type: ignore[attr-defined]
        _say(f"avesa serve (pid {os.getpid()}): metrics at http://{host}:{bound[1]}/metrics, "
             f"{'dashboard' if dashboard else 'no dashboard'} at /; {len(service.jobs)} schedules; "
             f"home {settings.home.resolve()}")
        await stop.wait()
        _say(f"stopping: {len(service.state.running)} run(s) land their files (at most "
             f"{settings.stop_timeout_seconds:g}s; a second signal stops at once)")
        draining = asyncio.create_task(service.stop())
        forced = asyncio.create_task(force.wait())
        await asyncio.wait({draining, forced}, return_when=asyncio.FIRST_COMPLETED)
        if not draining.done():
            draining.cancel()
            await service.stop(0)
        forced.cancel()
        server.should_exit = True
        await http
        service.close()
    _say("stopped; interrupted runs resume at the next start")


# ---- avesa schedule --------------------------------------------------------------------------
def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _configs(ctx: PipelineContext, tenant: str | None, service: str | None) -> list[TenantService]:
    if tenant is not None and ctx.state.get_tenant(tenant) is None:
        raise NotFoundError("tenant", tenant, [t.tenant_id for t in ctx.state.list_tenants()])
    configs = ctx.state.list_services(tenant)
    if service is not None:
        chosen = [c for c in configs if c.service == service]
        if not chosen:
            raise NotFoundError("service", service, sorted({c.service for c in configs}),
                                f"for tenant {tenant}" if tenant else "")
        configs = chosen
    return configs


@schedule_app.command("show")
@friendly_errors
def schedule_show(tenant: str = tenant_option()) -> None:
    """Each tenant's schedules, where they come from, and when `avesa serve` runs them next.

    Example: avesa schedule show --tenant acme"""
    ctx = load_context()
    settings, now = ctx.settings, utc_now()
    tz = schedules.timezone_of(settings)
    enabled = {t.tenant_id for t in ctx.state.list_tenants() if t.enabled}
    table = Table("tenant / service", "sync", "from", "next sync (UTC)", "full", "from", "next full (UTC)",
                  title=table_title(f"schedules (cron times in {settings.schedule_timezone})"), title_justify="left")
    for config in _configs(ctx, tenant, None):
        row = [f"{config.tenant_id}/{config.service}"]
        active = config.enabled and config.tenant_id in enabled
        for mode in schedules.MODES:
            found = schedules.effective(settings, config, mode)
            upcoming = schedules.next_run(found, config.tenant_id, config.service, mode, tz, now) if active else None
            row += [found.text, found.source, _when(upcoming) if active else "disabled"]
        table.add_row(*literals(*row))
    console.print(table)
    queued = ctx.state.list_queued_backfills()
    if queued:
        backlog = Table("#", "queued (UTC)", "by", "backfill", title="queued backfills", title_justify="left")
        for item in queued:
            asked = item.request
            what = "/".join(str(p) for p in (asked.get("tenant_id"), asked.get("service"), asked.get("table")) if p)
            backlog.add_row(*literals(item.queue_id, _when(item.queued_at), item.queued_by, what))
        console.print(backlog)


@schedule_app.command("set")
@friendly_errors
def schedule_set(
    schedule: str = typer.Argument(..., help="`every 30m`, a cron expression (`*/15 * * * *`), `off`, or `default`"),
    tenant: str = tenant_option("the tenant", required=True),
    service: str = typer.Option(None, "--service", help="only this service (default: all the tenant's)"),
    full: bool = typer.Option(False, "--full", help="set the full reconciliation's schedule, not the sync's"),
) -> None:
    """Give a tenant's services their own schedule (`default` goes back to AVESA_SCHEDULE's).

    A running `avesa serve` picks the change up within AVESA_SERVE_POLL_SECONDS.

    Example: avesa schedule set "every 15m" --tenant acme --service connectwise"""
    ctx = load_context()
    mode = "full" if full else "incremental"
    tz, now = schedules.timezone_of(ctx.settings), utc_now()
    for config in set_schedule(ctx, tenant, service, mode, schedule, schedules.normalise):
        found = schedules.effective(ctx.settings, config, mode)
        upcoming = schedules.next_run(found, config.tenant_id, config.service, mode, tz, now)
        console.print(Text.assemble(literal(f"{config.tenant_id}/{config.service}"), f" {mode}: ",
                                    (found.text, "bold"), f" (from {found.source}); next ",
                                    literal(f"{_when(upcoming)} UTC" if upcoming else "never")))
