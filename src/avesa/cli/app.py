"""The `avesa` command."""

from __future__ import annotations

import typer

from avesa.cli import onboarding_commands, run_commands
from avesa.cli.audit_command import audit
from avesa.cli.backfill_commands import backfill
from avesa.cli.dashboard_command import dashboard
from avesa.cli.demo import demo
from avesa.cli.jobs_commands import jobs_app
from avesa.cli.registry_commands import service_app, tenant_app
from avesa.cli.sandbox_commands import sandbox_app
from avesa.cli.serve_commands import schedule_app, serve
from avesa.cli.state_commands import state_app
from avesa.observability import events
from avesa.settings import Settings

app = typer.Typer(
    help="AVESA: multi-tenant ELT for MSPs — SaaS APIs to raw Parquet to canonical SCD2 tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(tenant_app, name="tenant")
app.add_typer(service_app, name="service")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(jobs_app, name="jobs")
app.add_typer(state_app, name="state")
app.add_typer(schedule_app, name="schedule")
app.command("run")(run_commands.run)
app.command("backfill")(backfill)
app.command("status")(run_commands.status)
app.command("query")(run_commands.query)
app.command("demo")(demo)
app.command("dashboard")(dashboard)
app.command("serve")(serve)
app.command("audit")(audit)
assert onboarding_commands.tenant_import  # registers `tenant import|export|remove`, `service remove|…|tables`


@app.callback()
def _options(
    log_level: str = typer.Option(None, "--log-level", help="events kept in $AVESA_HOME/logs/avesa.jsonl: debug "
                                  "(one line per chunk attempt) | info | warning | error; default AVESA_LOG_LEVEL "
                                  "or info"),
) -> None:
    """AVESA: multi-tenant ELT for MSPs — SaaS APIs to raw Parquet to canonical SCD2 tables."""
    try:
        settings = Settings()
    except ValueError:  # a bad setting is reported by the command, which reads the settings itself
        return
    try:
        events.set_level(log_level or settings.log_level, max_bytes=settings.log_max_bytes,
                         backups=settings.log_backups)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def main() -> None:
    app()
