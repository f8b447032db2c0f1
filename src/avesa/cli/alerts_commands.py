"""`avesa alerts list|test|check` (docs/operating.md, "Alerts")."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.table import Table
from rich.text import Text

from avesa.alerts.config import load_alert_config
from avesa.alerts.delivery import DeliveryError, Message, Sender
from avesa.alerts.incidents import AlertEngine
from avesa.cli.common import console, ensure_home, friendly_errors, literal, literals, table_title
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.timeutil import utc_now
from avesa.pipeline.wiring import build_state_store
from avesa.settings import load_settings

alerts_app = typer.Typer(help="See open alert incidents, send a test alert, evaluate the rules once.",
                         no_args_is_help=True)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@alerts_app.command("list")
@friendly_errors
def alerts_list(
    include_resolved: bool = typer.Option(False, "--all", help="also incidents that cleared (the latest per key)"),
    tenant: str = typer.Option(None, "--tenant", help="only this tenant's incidents"),
) -> None:
    """Open alert incidents, oldest first, with whom they were sent to.

    Example: avesa alerts list --tenant acme"""
    settings = load_settings()
    ensure_home(settings)
    state = build_state_store(settings)
    try:
        incidents = state.list_alerts(open_only=not include_resolved)
    finally:
        state.close()
    if tenant is not None:
        incidents = [i for i in incidents if i.tenant_id == tenant]
    if not incidents:
        console.print("no open alert incidents" if not include_resolved else "no alert incidents")
        return
    table = Table("opened (UTC)", "rule", "tenant", "summary", "sent to", "resolved (UTC)",
                  title=table_title("alert incidents"), title_justify="left")
    for incident in incidents:
        table.add_row(*literals(_when(incident.opened_at), incident.rule, incident.tenant_id or "-", incident.summary,
                                ", ".join(incident.sent) or "-",
                                _when(incident.resolved_at) if incident.resolved_at else "open"))
    console.print(table)


@alerts_app.command("test")
@friendly_errors
def alerts_test(tenant: str = typer.Option(None, "--tenant", help="the destinations of this tenant's alerts "
                                           "(AVESA_ALERT_RULES_FILE); default: the global ones")) -> None:
    """Send a test alert to every configured destination and say which got it (exit 1 if one did not).

    Example: AVESA_ALERT_WEBHOOK_URL=https://hooks.slack.com/services/… avesa alerts test"""
    settings = load_settings()
    config = load_alert_config(settings)
    if tenant is not None and tenant not in config.tenants:
        raise NotFoundError("tenant with alert rules", tenant, sorted(config.tenants),
                            "in AVESA_ALERT_RULES_FILE")
    destinations = config.policy(tenant).destinations
    if not destinations:
        raise UsageError("no alert destination is configured: set AVESA_ALERT_WEBHOOK_URL, or AVESA_ALERT_EMAIL_TO "
                         "and AVESA_ALERT_SMTP_HOST (docs/operating.md, \"Alerts\")")
    sender = Sender(config)
    message = Message(phase="test", rule="test", key="test", tenant_id=tenant,
                      summary="a test alert from `avesa alerts test`: this destination works",
                      details={"rules": ", ".join(sorted(config.policy(tenant).rules)) or "off"}, at=utc_now())
    failed = 0
    for destination in destinations:
        try:
            sender.send(destination, message)
        except DeliveryError as exc:
            failed += 1
            console.print(Text.assemble(("failed ", "bold red"), literal(str(exc))))
            continue
        console.print(Text.assemble(("sent ", "bold green"), literal(f"to {destination.name}")))
    if failed:
        raise typer.Exit(1)


@alerts_app.command("check")
@friendly_errors
def alerts_check() -> None:
    """Evaluate the alert rules once now and send what opened or cleared, as `avesa serve` does after
    each run (for a machine that runs `avesa run` from cron instead).

    Example: avesa alerts check"""
    settings = load_settings()
    ensure_home(settings)
    report = AlertEngine(settings).evaluate()
    for key in report.opened:
        console.print(Text.assemble(("opened ", "bold red"), literal(key)))
    for key in report.resolved:
        console.print(Text.assemble(("resolved ", "bold green"), literal(key)))
    for key, phase, destination in report.sent:
        console.print(literal(f"sent {phase} {key} to {destination}"))
    for key, destination, error in report.failed:
        console.print(Text.assemble(("not sent ", "bold red"), literal(f"{key} to {destination}: {error}")))
    console.print(literal(f"{len(report.open)} open incident(s)"))
    if report.failed:
        raise typer.Exit(1)
