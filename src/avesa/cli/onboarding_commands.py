"""`avesa tenant import|export|remove` and `avesa service remove|disable|enable|tables`: the
registry at scale (pipeline/onboarding.py, pipeline/registry_changes.py)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from avesa.cli.common import console, friendly_errors, literal, literals, load_context, table_title
from avesa.cli.registry_commands import service_app, tenant_app
from avesa.domain.errors import AvesaError, UsageError
from avesa.pipeline import onboarding, registry_changes
from avesa.pipeline.import_file import References, read_secrets_file
from avesa.runtime import schedules

SHOWN_CHANGES = 20

TENANT_HELP = "the tenant's id"


def _names(value: str | None) -> list[str]:
    return [t for t in (value or "").replace(";", ",").replace(" ", ",").split(",") if t]


@tenant_app.command("import")
@friendly_errors
def tenant_import(
    file: Path = typer.Argument(..., help="a YAML (.yaml) or CSV (.csv) file of tenants and their services"),
    secrets_file: Path = typer.Option(None, "--secrets-file", help="NAME=value lines (.env) or a YAML/JSON "
                                      "mapping that ${NAME} and secret:NAME references are read from (mode 0600)"),
    allow_inline_secrets: bool = typer.Option(False, "--allow-inline-secrets", help="accept credentials written "
                                              "in FILE itself (only for a file that is never committed)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="check everything and show what would change; write "
                                 "nothing"),
) -> None:
    """Register or update many tenants and services at once, all or nothing.

    Every row is checked first; one bad row and nothing is registered (each problem is listed with
    its line, field and what to do). Credentials are references — ${NAME}, env:NAME, secret:NAME —
    to the environment or --secrets-file, never written in FILE unless --allow-inline-secrets.
    A service already registered keeps whatever the file does not give (credentials included).

    Example: avesa tenant import tenants.yaml --secrets-file tenants.env"""
    started = time.perf_counter()
    ctx = load_context()
    references = References(environ=dict(os.environ),
                            secrets_file=read_secrets_file(secrets_file) if secrets_file else {},
                            secrets_path=secrets_file)
    try:
        plan = onboarding.plan_import(ctx, file, references, allow_inline_secrets=allow_inline_secrets,
                                      normalise_schedule=schedules.normalise)
    except AvesaError as exc:
        if not dry_run:
            onboarding.refuse(ctx, file.name, exc)
        raise
    if not dry_run:
        onboarding.apply_import(ctx, plan)
    _print_plan(plan, dry_run, time.perf_counter() - started)


def _print_plan(plan: onboarding.ImportPlan, dry_run: bool, seconds: float) -> None:
    changed = [c for c in plan.changes if c.changed]
    if changed:
        table = Table("tenant", "tenant change", "services", title=table_title(
            f"{plan.source}{' (dry run: nothing written)' if dry_run else ''}"), title_justify="left")
        for change in changed[:SHOWN_CHANGES]:
            table.add_row(*literals(change.tenant_id, change.tenant,
                                    "; ".join(f"{k} {v}" for k, v in change.services.items()) or "-"))
        console.print(table)
        if len(changed) > SHOWN_CHANGES:
            console.print(literal(f"{len(changed) - SHOWN_CHANGES:,} more changed tenants: `avesa audit --action "
                                  "tenant.import` lists each" if not dry_run else
                                  f"{len(changed) - SHOWN_CHANGES:,} more changed tenants"))
    verb = "would import" if dry_run else "imported"
    console.print(literal(
        f"{verb} {plan.source} in {seconds:.1f}s: tenants {plan.count('tenants', 'added')} added, "
        f"{plan.count('tenants', 'updated')} updated, {plan.count('tenants', 'unchanged')} unchanged; services "
        f"{plan.count('services', 'added')} added, {plan.count('services', 'updated')} updated, "
        f"{plan.count('services', 'unchanged')} unchanged"))


@tenant_app.command("export")
@friendly_errors
def tenant_export(
    fmt: str = typer.Option("yaml", "--format", help="yaml | csv"),
    output: Path = typer.Option(None, "--output", "-o", help="write to this file (default: print it)"),
    tenant: str = typer.Option(None, "--tenant", "--tenant-id", help="only this tenant"),
    references: bool = typer.Option(False, "--references", help="write each secret field as a ${VARIABLE} "
                                    "to set before importing elsewhere (default: left out)"),
) -> None:
    """Write the registry as a file `avesa tenant import` reads — never a credential.

    Example: avesa tenant export --format csv -o tenants.csv"""
    if fmt not in ("yaml", "csv"):
        raise UsageError(f"unknown --format {fmt!r}: use yaml or csv")
    ctx = load_context()
    if tenant is not None:
        registry_changes.require_tenant(ctx, tenant)
    text = onboarding.export_registry(ctx, fmt, tenant_id=tenant, references=references)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(literal(f"wrote {output} ({len(ctx.state.list_tenants())} tenants; no credentials)"))


@tenant_app.command("remove")
@friendly_errors
def tenant_remove(
    tenant_id: str = typer.Argument(..., help=TENANT_HELP),
    yes: bool = typer.Option(False, "--yes", help="confirm: remove the tenant, its services and their credentials"),
) -> None:
    """Remove a tenant from the registry with its services and their stored credentials.

    Its lake data (raw files, canonical tables) and its run history stay: delete the lake folder
    yourself if the data must go. `avesa tenant disable` only pauses a tenant.

    Example: avesa tenant remove acme --yes"""
    ctx = load_context()
    tenant = registry_changes.require_tenant(ctx, tenant_id)
    services = [s.service for s in ctx.state.list_services(tenant_id)]
    if not yes:
        raise UsageError(f"this removes tenant {tenant_id} ({tenant.company_name}) and the credentials of its "
                         f"services ({', '.join(services) or 'none'}); its lake data at "
                         f"{ctx.lake.tenant_root(tenant_id)} stays. Run again with --yes to confirm")
    removed = registry_changes.remove_tenant(ctx, tenant_id)
    console.print(Text.assemble("tenant ", (tenant_id, "bold"), literal(
        f" removed with {len(removed.services)} service(s) and their credentials; its data stays in the lake at "
        f"{removed.lake_path} (delete it there if it must go) and its runs stay in `avesa jobs list`")))


@service_app.command("remove")
@friendly_errors
def service_remove(
    tenant: str = typer.Option(..., "--tenant", "--tenant-id", help=TENANT_HELP),
    service: str = typer.Option(..., "--service", help="the service (e.g. connectwise)"),
    yes: bool = typer.Option(False, "--yes", help="confirm: remove the service and its credentials"),
) -> None:
    """Remove one service of a tenant and its stored credentials; its lake data stays.

    Example: avesa service remove --tenant acme --service servicenow --yes"""
    ctx = load_context()
    config = registry_changes.require_service(ctx, tenant, service)
    if not yes:
        raise UsageError(f"this removes {tenant}/{service} (tables {', '.join(config.tables)}) and its credentials; "
                         f"its lake data stays. Run again with --yes to confirm (or `avesa service disable` to pause "
                         "it)")
    removed = registry_changes.remove_service(ctx, tenant, service)
    console.print(literal(f"{tenant}/{service} removed with its credentials; its data stays in the lake at "
                          f"{removed.lake_path}"))


@service_app.command("disable")
@friendly_errors
def service_disable(
    tenant: str = typer.Option(..., "--tenant", "--tenant-id", help=TENANT_HELP),
    service: str = typer.Option(..., "--service", help="the service (e.g. connectwise)"),
) -> None:
    """Stop syncing one service of a tenant; its credentials and data stay.

    Example: avesa service disable --tenant acme --service servicenow"""
    registry_changes.set_service_enabled(load_context(), tenant, service, False)
    console.print(literal(f"{tenant}/{service} disabled: `avesa run` and `avesa serve` skip it until "
                          f"`avesa service enable --tenant {tenant} --service {service}`"))


@service_app.command("enable")
@friendly_errors
def service_enable(
    tenant: str = typer.Option(..., "--tenant", "--tenant-id", help=TENANT_HELP),
    service: str = typer.Option(..., "--service", help="the service (e.g. connectwise)"),
) -> None:
    """Resume syncing a disabled service of a tenant.

    Example: avesa service enable --tenant acme --service servicenow"""
    registry_changes.set_service_enabled(load_context(), tenant, service, True)
    console.print(literal(f"{tenant}/{service} enabled"))


@service_app.command("tables")
@friendly_errors
def service_tables(
    tables: str = typer.Argument(None, help="the whole list, comma-separated (default: the current one)"),
    tenant: str = typer.Option(..., "--tenant", "--tenant-id", help=TENANT_HELP),
    service: str = typer.Option(..., "--service", help="the service (e.g. connectwise)"),
    add: str = typer.Option(None, "--add", help="tables to add, comma-separated"),
    remove: str = typer.Option(None, "--remove", help="tables to stop syncing, comma-separated (their data stays)"),
) -> None:
    """Change the tables a tenant's service syncs, without entering its credentials again.

    Example: avesa service tables --tenant acme --service connectwise --add time_entries"""
    ctx = load_context()
    before = registry_changes.require_service(ctx, tenant, service).tables
    updated = registry_changes.set_service_tables(ctx, tenant, service, tables=_names(tables) if tables else None,
                                                  add=_names(add), remove=_names(remove))
    console.print(literal(f"{tenant}/{service} syncs {', '.join(updated.tables)} (was {', '.join(before)}); "
                          "the next run uses it"))
