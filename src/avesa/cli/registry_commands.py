"""`avesa tenant …` and `avesa service …`: the registry (the brief's setup-service)."""

from __future__ import annotations

import math
import os
import sys

import typer
from rich.table import Table
from rich.text import Text

from avesa.cli.common import (
    console,
    friendly_errors,
    literal,
    literals,
    load_context,
    table_title,
    tenant_option,
    user_catalog,
)
from avesa.domain.errors import UsageError
from avesa.domain.registry import MAX_BURST, MAX_REQUESTS_PER_MINUTE, RateLimitOverride
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.url_credentials import DOTS, masked, password_key
from avesa.pipeline.registration import register_service, resolve_tables, split_credentials
from avesa.pipeline.registry_changes import add_tenant, set_rate_limit, set_tenant_enabled
from avesa.pipeline.service_check import check_service

tenant_app = typer.Typer(help="Register, list, import, export, disable and remove tenants.", no_args_is_help=True)
service_app = typer.Typer(help="Configure a tenant's services and their credentials.", no_args_is_help=True)


@tenant_app.command("add")
@friendly_errors
def tenant_add(
    tenant_id: str = typer.Argument(..., help="slug: lower-case letters, digits, '-'"),
    company_name: str = typer.Option(..., "--company-name", help="the client company's name"),
) -> None:
    """Register a tenant (or rename an existing one).

    Example: avesa tenant add acme --company-name "Acme Corp"
    """
    validate_tenant_id(tenant_id)  # before the home is made: a bad id writes nothing
    _, existed = add_tenant(load_context(), tenant_id, company_name)
    console.print(Text.assemble("tenant ", (tenant_id, "bold"),
                                f" ({company_name}) {'updated' if existed else 'added'}"))


@tenant_app.command("list")
@friendly_errors
def tenant_list() -> None:
    """List tenants and their services."""
    ctx = load_context()
    table = Table("tenant", "company", "enabled", "services")
    for tenant in ctx.state.list_tenants():
        services = ", ".join(
            f"{s.service}{'' if s.enabled else ' (disabled)'}" for s in ctx.state.list_services(tenant.tenant_id)
        )
        table.add_row(*literals(tenant.tenant_id, tenant.company_name, "yes" if tenant.enabled else "no",
                                services or "-"))
    console.print(table)


def _set_enabled(tenant_id: str, enabled: bool) -> None:
    set_tenant_enabled(load_context(), tenant_id, enabled)
    console.print(Text.assemble("tenant ", (tenant_id, "bold"), f" {'enabled' if enabled else 'disabled'}"))


@tenant_app.command("disable")
@friendly_errors
def tenant_disable(tenant_id: str) -> None:
    """Stop syncing a tenant; its data stays in the lake.

    Example: avesa tenant disable acme"""
    _set_enabled(tenant_id, False)


@tenant_app.command("enable")
@friendly_errors
def tenant_enable(tenant_id: str) -> None:
    """Resume syncing a disabled tenant."""
    _set_enabled(tenant_id, True)


def _read_credentials(service: str, interactive: bool) -> dict[str, str]:
    """Each credential field from `{SERVICE}_{FIELD}` in the environment, else a hidden prompt."""
    spec = user_catalog().service(service)
    values: dict[str, str] = {}
    missing = []
    for field in spec.credentials:
        env_name = f"{service.upper()}_{field.name.upper()}"
        value = os.environ.get(env_name)
        if not value and interactive:
            value = typer.prompt(f"{spec.display_name} {field.name} ({field.description})",
                                 hide_input=field.secret,
                                 default=field.default if field.required else (field.default or ""))
        value = value or field.default
        if not value:
            if field.required:
                missing.append(env_name)
        else:
            values[field.name] = value.strip()
    if missing:
        raise UsageError(f"missing credentials for {service}: set {', '.join(missing)} or run interactively "
                         "to be prompted")
    return values


@service_app.command("add")
@friendly_errors
def service_add(
    tenant_id: str = tenant_option("the tenant (slug: lower-case letters, digits, '-')", required=True),
    company_name: str = typer.Option(None, "--company-name", help="registers the tenant too if it is new"),
    service: str = typer.Option(..., "--service"),
    tables: str = typer.Option(None, "--tables", help="comma-separated; default: the service's default tables"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and show, write nothing"),
    environment: str = typer.Option(None, "--environment", help="accepted for the brief's scripts; see AVESA_ENV"),
) -> None:
    """Configure a service for a tenant; credentials go to the encrypted secret store.

    Credentials come from {SERVICE}_{FIELD} variables, else a hidden prompt.

    Example: CONNECTWISE_SITE=... avesa service add --tenant acme --company-name "Acme" --service connectwise"""
    validate_tenant_id(tenant_id)
    spec = user_catalog().service(service)
    chosen = resolve_tables(spec, [t.strip() for t in tables.split(",") if t.strip()] if tables else None)
    ctx = load_context()
    if ctx.state.get_tenant(tenant_id) is None and not company_name:
        raise UsageError(f"tenant {tenant_id!r} is new: give --company-name to register it")
    credentials = _read_credentials(service, interactive=sys.stdin.isatty() and not dry_run)
    settings, secrets = split_credentials(spec, credentials)
    title = f"{tenant_id} / {service}" + (" (dry run: nothing written)" if dry_run else "")
    shown = Table("field", "value", title=table_title(title))
    shown.add_row(*literals("tables", ", ".join(chosen)))
    for name, value in settings.items():
        moved = password_key(name) in secrets  # stored without its password, which is encrypted
        shown.add_row(*literals(name, f"{masked(credentials[name])} (password encrypted)" if moved else value))
    for name in secrets:
        if name not in {password_key(n) for n in settings}:
            shown.add_row(*literals(name, f"{DOTS} (encrypted)"))
    console.print(shown)
    if dry_run:
        return
    register_service(ctx, tenant_id=tenant_id, service=service, credentials=credentials,
                     company_name=company_name, tables=chosen)
    console.print(Text.assemble("service ", (service, "bold"), " configured for ", (tenant_id, "bold"),
                                f"; check it with `avesa service test --tenant {tenant_id} --service {service}`"))


@service_app.command("test")
@friendly_errors
def service_test(
    tenant_id: str = tenant_option("the tenant", required=True),
    service: str = typer.Option(..., "--service"),
) -> None:
    """Check the stored credentials against the live service.

    Example: avesa service test --tenant acme --service connectwise"""
    ctx = load_context()
    count = check_service(ctx, tenant_id, service)
    console.print(Text.assemble(("ok", "green"), f": {tenant_id}/{service} answered ({count})"))


@service_app.command("limit")
@friendly_errors
def service_limit(
    tenant_id: str = tenant_option("the tenant", required=True),
    service: str = typer.Option(..., "--service"),
    per_minute: float = typer.Option(None, "--requests-per-minute", help="sustained rate for this tenant's instance"),
    burst: int = typer.Option(None, "--burst", help="requests that may go out at once"),
    clear: bool = typer.Option(False, "--clear", help="back to the service's documented limits"),
) -> None:
    """Override the request budget of one tenant's instance (an MSP's own contract may allow more,
    or its admin may have set a lower limit than the service documents).

    Example: avesa service limit --tenant acme --service connectwise --requests-per-minute 120"""
    if not clear and per_minute is None and burst is None:
        raise UsageError("give --requests-per-minute and/or --burst, or --clear")
    if per_minute is not None and not (math.isfinite(per_minute) and 0 < per_minute <= MAX_REQUESTS_PER_MINUTE):
        raise UsageError(f"--requests-per-minute must be a number above 0 and at most {MAX_REQUESTS_PER_MINUTE:,} "
                         f"(e.g. 120), got {per_minute:g}")
    if burst is not None and not 1 <= burst <= MAX_BURST:
        raise UsageError(f"--burst must be a whole number from 1 to {MAX_BURST:,} (e.g. 20), got {burst}")
    ctx = load_context()
    override = None if clear else RateLimitOverride(requests_per_minute=per_minute, burst=burst)
    set_rate_limit(ctx, tenant_id, service, override)
    documented = user_catalog().service(service).rate_limit
    effective_rate = (override and override.requests_per_minute) or documented.requests_per_minute
    effective_burst = (override and override.burst) or documented.burst
    console.print(literal(f"{tenant_id}/{service}: {effective_rate:g} requests/minute, bursts of {effective_burst} "
                          f"({'documented' if override is None else 'override'}; the next run uses it)"))


@service_app.command("list")
@friendly_errors
def service_list(tenant_id: str = tenant_option()) -> None:
    """List configured services (never their credentials).

    Example: avesa service list --tenant acme"""
    ctx = load_context()
    table = Table("tenant", "service", "enabled", "tables", "rate limit", "settings")
    for s in ctx.state.list_services(tenant_id):
        limit = s.rate_limit
        rate = "documented" if limit is None else f"{limit.requests_per_minute or '-'}/min, burst {limit.burst or '-'}"
        table.add_row(*literals(s.tenant_id, s.service, "yes" if s.enabled else "no", ", ".join(s.tables), rate,
                                ", ".join(f"{k}={masked(v)}" for k, v in s.settings.items())))
    console.print(table)
