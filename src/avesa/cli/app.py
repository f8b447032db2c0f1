"""The `avesa` command."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import typer
import typer.core

from avesa.cli import (  # noqa: F401  (they add commands to sub-apps: synth, deploy; tenant import…)
    aws_deploy_commands,
    aws_run_commands,
    onboarding_commands,
    run_commands,
)
from avesa.cli.alerts_commands import alerts_app
from avesa.cli.audit_command import audit
from avesa.cli.aws_app import aws_app
from avesa.cli.backfill_commands import backfill
from avesa.cli.config_commands import config_app, init
from avesa.cli.dashboard_command import dashboard
from avesa.cli.demo import demo
from avesa.cli.jobs_commands import jobs_app
from avesa.cli.registry_commands import service_app, tenant_app
from avesa.cli.sandbox_commands import sandbox_app
from avesa.cli.serve_commands import schedule_app, serve
from avesa.cli.state_commands import state_app
from avesa.cli.status_command import status
from avesa.domain.errors import AvesaError
from avesa.observability import events
from avesa.settings import Settings

_typed = typer.core.TyperOption.display_type_rich


def _no_type_on_flags(self: typer.core.TyperOption, ctx: Any) -> str | None:
    """Typer's rich help tags every option with its type, flags too (`--full <bool>`), as if they took
    a value; its plain help does not. A flag shows none here either. (`ctx` is Any: a click Context,
    click's own or the copy newer typers carry inside, as typer.core imports it.)"""
    if self.is_flag or self.count:
        return None
    return _typed(self, ctx)


typer.core.TyperOption.display_type_rich = _no_type_on_flags  # type: ignore[method-assign]


def avesa_version() -> str:
    try:
        return package_version("avesa")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"avesa {avesa_version()}")
        raise typer.Exit(0)


app = typer.Typer(
    help="AVESA: multi-tenant ELT for MSPs — SaaS APIs to raw Parquet to canonical SCD2 tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_app, name="config")
app.add_typer(tenant_app, name="tenant")
app.add_typer(service_app, name="service")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(jobs_app, name="jobs")
app.add_typer(state_app, name="state")
app.add_typer(schedule_app, name="schedule")
app.add_typer(aws_app)
app.add_typer(alerts_app, name="alerts")
app.command("init")(init)
app.command("run")(run_commands.run)
app.command("backfill")(backfill)
app.command("status")(status)
app.command("query")(run_commands.query)
app.command("demo")(demo)
app.command("dashboard")(dashboard)
app.command("serve")(serve)
app.command("audit")(audit)


@app.callback()
def _options(
    log_level: str = typer.Option(None, "--log-level", help="events kept in $AVESA_HOME/logs/avesa.jsonl: debug "
                                  "(one line per chunk attempt) | info | warning | error; default AVESA_LOG_LEVEL "
                                  "or info"),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """AVESA: multi-tenant ELT for MSPs — SaaS APIs to raw Parquet to canonical SCD2 tables."""
    try:
        settings = Settings()
    except (ValueError, AvesaError):  # a bad setting is reported by the command, which reads the settings itself
        return
    try:
        events.set_level(log_level or settings.log_level, max_bytes=settings.log_max_bytes,
                         backups=settings.log_backups)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()
