"""The `avesa` command."""

from __future__ import annotations

import typer

from avesa.cli import run_commands
from avesa.cli.backfill_commands import backfill
from avesa.cli.dashboard_command import dashboard
from avesa.cli.demo import demo
from avesa.cli.jobs_commands import jobs_app
from avesa.cli.registry_commands import service_app, tenant_app
from avesa.cli.sandbox_commands import sandbox_app
from avesa.cli.state_commands import state_app

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
app.command("run")(run_commands.run)
app.command("backfill")(backfill)
app.command("status")(run_commands.status)
app.command("query")(run_commands.query)
app.command("demo")(demo)
app.command("dashboard")(dashboard)


def main() -> None:
    app()
