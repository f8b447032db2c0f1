"""Changes to the registry an operator makes one at a time: tenants added, disabled, enabled and
removed; services disabled, enabled, removed, their tables, request budget and schedule changed —
each a pipeline function the CLI calls, each recorded once in the audit trail.

Removing keeps the data: a removed tenant's or service's raw files and canonical tables stay in
the lake, and its runs, watermarks and delta links stay in the ledger, so `avesa jobs` still shows
its history and a tenant added back continues from its watermarks. What is removed is the registry
entry (nothing syncs it) and its credentials in the secret store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.registry import RateLimitOverride, ScheduleOverride, Tenant, TenantService
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import utc_now
from avesa.pipeline.audit import audited
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import resolve_tables


def require_tenant(ctx: PipelineContext, tenant_id: str) -> Tenant:
    tenant = ctx.state.get_tenant(tenant_id)
    if tenant is None:
        raise NotFoundError("tenant", tenant_id, [t.tenant_id for t in ctx.state.list_tenants()])
    return tenant


def require_service(ctx: PipelineContext, tenant_id: str, service: str) -> TenantService:
    configured = ctx.state.get_service(tenant_id, service)
    if configured is None:
        require_tenant(ctx, tenant_id)
        known = [s.service for s in ctx.state.list_services(tenant_id)]
        raise NotFoundError("service", service, known, f"for tenant {tenant_id}; add it with `avesa service add`")
    return configured


def add_tenant(ctx: PipelineContext, tenant_id: str, company_name: str) -> tuple[Tenant, bool]:
    """Register a tenant, or rename it; (the tenant, whether it existed)."""
    with audited(ctx.state, "tenant.add", tenant_id=tenant_id, company_name=company_name) as entry:
        validate_tenant_id(tenant_id)
        if not company_name.strip():
            raise UsageError("--company-name is empty: give the client company's name")
        existing = ctx.state.get_tenant(tenant_id)
        tenant = Tenant(tenant_id=tenant_id, company_name=company_name, enabled=existing.enabled if existing else True,
                        created_at=existing.created_at if existing else utc_now())
        ctx.state.put_tenant(tenant)
        entry.details["existed"] = existing is not None
        return tenant, existing is not None


def set_tenant_enabled(ctx: PipelineContext, tenant_id: str, enabled: bool) -> Tenant:
    with audited(ctx.state, "tenant.enable" if enabled else "tenant.disable", tenant_id=tenant_id):
        tenant = require_tenant(ctx, tenant_id).model_copy(update={"enabled": enabled})
        ctx.state.put_tenant(tenant)
        return tenant


@dataclass(frozen=True)
class Removed:
    """What a removal took out of the registry, and where the data it left is."""

    services: list[str]
    lake_path: str


def remove_tenant(ctx: PipelineContext, tenant_id: str) -> Removed:
    """Take a tenant and its services out of the registry and their credentials out of the secret
    store; its lake data and ledger stay (the module's docstring)."""
    with audited(ctx.state, "tenant.remove", tenant_id=tenant_id) as entry:
        require_tenant(ctx, tenant_id)
        services = ctx.state.list_services(tenant_id)
        ctx.state.remove_tenant(tenant_id)  # first: from here on nothing plans a run of it
        for config in services:
            ctx.secrets.delete(config.secret_ref)
        entry.details.update(services=[s.service for s in services], lake_data="kept")
        return Removed([s.service for s in services], ctx.lake.tenant_root(tenant_id))


def remove_service(ctx: PipelineContext, tenant_id: str, service: str) -> Removed:
    """Take one service of a tenant out of the registry and its credentials out of the secret store."""
    with audited(ctx.state, "service.remove", tenant_id=tenant_id, service=service) as entry:
        config = require_service(ctx, tenant_id, service)
        ctx.state.remove_service(tenant_id, service)
        ctx.secrets.delete(config.secret_ref)
        entry.details.update(tables=list(config.tables), lake_data="kept")
        return Removed([service], ctx.lake.tenant_root(tenant_id))


def set_service_enabled(ctx: PipelineContext, tenant_id: str, service: str, enabled: bool) -> TenantService:
    """Stop (or resume) syncing one service of a tenant; its credentials and data stay."""
    with audited(ctx.state, "service.enable" if enabled else "service.disable", tenant_id=tenant_id,
                 service=service):
        config = require_service(ctx, tenant_id, service).model_copy(update={"enabled": enabled})
        ctx.state.put_service(config)
        return config


def set_service_tables(ctx: PipelineContext, tenant_id: str, service: str, *, tables: list[str] | None = None,
                       add: list[str] | None = None, remove: list[str] | None = None) -> TenantService:
    """Change the tables a service syncs — the whole list, or some added and some removed — without
    touching its credentials. A table taken out keeps its data and watermark; added back, it
    continues from there."""
    with audited(ctx.state, "service.tables", tenant_id=tenant_id, service=service) as entry:
        config = require_service(ctx, tenant_id, service)
        if tables is None and not add and not remove:
            raise UsageError("give the tables (e.g. `service_tickets,company_companies`), or --add / --remove")
        spec = ctx.catalog.service(service)
        chosen = list(config.tables) if tables is None else list(tables)
        chosen += [t for t in add or [] if t not in chosen]
        unknown_removals = [t for t in remove or [] if t not in chosen]
        if unknown_removals:
            raise UsageError(f"{tenant_id}/{service} does not sync {', '.join(unknown_removals)}; it syncs "
                             f"{', '.join(chosen) or 'no table'}")
        chosen = [t for t in chosen if t not in set(remove or [])]
        if not chosen:
            raise UsageError(f"{tenant_id}/{service} would sync no table: keep at least one, or disable the "
                             f"service with `avesa service disable --tenant {tenant_id} --service {service}`")
        chosen = resolve_tables(spec, chosen)
        entry.details.update(before=list(config.tables), after=chosen)
        updated = config.model_copy(update={"tables": chosen})
        ctx.state.put_service(updated)
        return updated


def set_rate_limit(ctx: PipelineContext, tenant_id: str, service: str,
                   override: RateLimitOverride | None) -> TenantService:
    """Override (or with None, clear) the request budget of one tenant's instance."""
    with audited(ctx.state, "service.limit", tenant_id=tenant_id, service=service,
                 requests_per_minute=override and override.requests_per_minute,
                 burst=override and override.burst, cleared=override is None):
        config = require_service(ctx, tenant_id, service).model_copy(update={"rate_limit": override})
        ctx.state.put_service(config)
        return config


def set_schedule(ctx: PipelineContext, tenant_id: str, service: str | None, mode: str, schedule: str,
                 normalise: Callable[[str], str]) -> list[TenantService]:
    """`avesa schedule set`: give a tenant's services (or one) their own `mode` schedule
    ("incremental" or "full") — `schedule` as typed, checked by `normalise`, or "default" to go
    back to the settings' schedule. Returns the services as stored."""
    with audited(ctx.state, "schedule.set", tenant_id=tenant_id, service=service, target=mode,
                 schedule=schedule) as entry:
        require_tenant(ctx, tenant_id)
        configs = [require_service(ctx, tenant_id, service)] if service else ctx.state.list_services(tenant_id)
        text = None if schedule.strip().lower() == "default" else normalise(schedule)
        stored = []
        for config in configs:
            changed = (config.schedule or ScheduleOverride()).model_copy(update={mode: text})
            updated = config.model_copy(update={"schedule": changed if (changed.incremental or changed.full) else None})
            ctx.state.put_service(updated)
            stored.append(updated)
        entry.details.update(schedule=text or "default", services=[c.service for c in stored])
        return stored
