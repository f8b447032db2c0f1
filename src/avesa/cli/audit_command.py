"""`avesa audit`: the audit trail — who changed the registry or acted on a run, when, and how it ended."""

from __future__ import annotations

import typer

from avesa.cli.common import MAX_LISTED, friendly_errors, load_context
from avesa.cli.listing import FORMAT_HELP, check_format, emit
from avesa.pipeline.backfill import DATE_HINT, parse_when

COLUMNS = ("at", "actor", "action", "outcome", "tenant", "service", "target", "details", "message")


@friendly_errors
def audit(
    tenant: str = typer.Option(None, "--tenant", "--tenant-id", help="only this tenant's entries"),
    action: str = typer.Option(None, "--action", help="only this action (`service.add`), or a family (`service`)"),
    since: str = typer.Option(None, "--since", help=f"only entries at or after this time; {DATE_HINT}"),
    limit: int = typer.Option(None, "--limit", min=1, max=MAX_LISTED, help="entries to show (table default 40)"),
    fmt: str = typer.Option("table", "--format", help=FORMAT_HELP),
) -> None:
    """Registry changes and operator actions, newest first: when, who (the OS user), what, the outcome.

    Recorded: service add/remove/limit/disable/enable/tables, tenant add/enable/disable/import/remove,
    backfill run/queue, jobs resume/retry/cancel/cleanup-stuck, schedule set. Never a credential.

    Example: avesa audit --tenant acme --since 2025-01-01 --format json"""
    check_format(fmt)
    ctx = load_context()
    fetch = MAX_LISTED if limit is None else limit + 1
    entries = ctx.state.list_audit(tenant_id=tenant, action=action, since=parse_when(since, "--since"), limit=fetch)
    rows = [{"at": e.at.strftime("%Y-%m-%d %H:%M:%S") if fmt == "table" else e.at.isoformat(), "actor": e.actor,
             "action": e.action, "outcome": e.outcome.value, "tenant": e.tenant_id, "service": e.service,
             "target": e.target, "details": e.details, "message": e.message or None} for e in entries]
    emit(rows, COLUMNS, fmt, title="audit trail (newest first; times UTC)", limit=limit, noun="entries")
