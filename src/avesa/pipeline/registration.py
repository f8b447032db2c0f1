"""Register a tenant's service: validation, non-secret settings to the registry, credentials to
the secret store. One code path for `avesa service add`, the demo and tests.

A URL setting given as ``https://user:password@host`` keeps its password out of the registry: for a
service whose spec authenticates by the URL alone (auth ``none``) the password goes to the secret
store and the connector puts it back (`domain/url_credentials.py`); a service that takes its
credentials in fields of their own refuses such a URL, naming those fields — it would never use the
password, and httpx would send it as Basic auth in place of the service's own."""

from __future__ import annotations

from avesa.catalog.models import ServiceSpec
from avesa.domain.errors import UsageError
from avesa.domain.registry import Tenant, TenantService
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import utc_now
from avesa.domain.url_credentials import masked, password_key, split_password
from avesa.pipeline.audit import audited
from avesa.pipeline.context import PipelineContext
from avesa.secrets.base import secret_ref


def resolve_tables(spec: ServiceSpec, tables: list[str] | None) -> list[str]:
    chosen = tables if tables else spec.default_tables
    for table in chosen:
        spec.table(table)  # NotFoundError listing the service's tables
    return list(dict.fromkeys(chosen))


def split_credentials(spec: ServiceSpec, credentials: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(non-secret settings for the registry, secrets for the secret store)."""
    known = {f.name for f in spec.credentials}
    unknown = sorted(set(credentials) - known)
    if unknown:
        raise UsageError(f"{spec.service} has no credential fields {unknown}; expected {sorted(known)}")
    required = {f.name for f in spec.credentials if f.required}
    missing = sorted(required - {k for k, v in credentials.items() if v})
    if missing:
        raise UsageError(f"{spec.service} needs credential fields {missing}")
    secret = {f.name for f in spec.credentials if f.secret}
    given = {k: v for k, v in credentials.items() if v}
    settings = {k: v for k, v in given.items() if k not in secret}
    secrets = {k: v for k, v in given.items() if k in secret}
    for name, value in list(settings.items()):
        url, password = split_password(value)
        if password is None:
            continue
        if spec.auth.type != "none":
            fields = ", ".join(sorted(secret)) or "its auth settings"
            raise UsageError(f"{spec.service} {name} {masked(value)} holds a password, but {spec.display_name} "
                             f"takes its credentials in {fields}: give {name} without `user:password@`")
        settings[name] = url
        secrets[password_key(name)] = password
    return settings, secrets


def register_service(
    ctx: PipelineContext,
    *,
    tenant_id: str,
    service: str,
    credentials: dict[str, str],
    company_name: str | None = None,
    tables: list[str] | None = None,
) -> TenantService:
    """Validate and store one tenant's service (recorded in the audit trail as `service.add`:
    its tables and the *names* of the credential fields given)."""
    with audited(ctx.state, "service.add", tenant_id=tenant_id, service=service,
                 credential_fields=sorted(credentials)) as entry:
        validate_tenant_id(tenant_id)
        spec = ctx.catalog.service(service)
        chosen = resolve_tables(spec, tables)
        settings, secrets = split_credentials(spec, credentials)
        tenant = ctx.state.get_tenant(tenant_id)
        if tenant is None:
            if not company_name:
                raise UsageError(f"tenant {tenant_id!r} is new: give --company-name to register it")
            tenant = Tenant(tenant_id=tenant_id, company_name=company_name, created_at=utc_now())
        elif company_name and company_name != tenant.company_name:
            tenant = tenant.model_copy(update={"company_name": company_name})
        ref = secret_ref(tenant_id, service)
        existing = ctx.state.get_service(tenant_id, service)
        record = TenantService(tenant_id=tenant_id, service=service, enabled=True, settings=settings, tables=chosen,
                               secret_ref=ref, rate_limit=existing.rate_limit if existing else None,
                               schedule=existing.schedule if existing else None,
                               created_at=existing.created_at if existing else utc_now())
        ctx.state.put_tenant(tenant)
        ctx.secrets.put(ref, secrets)
        ctx.state.put_service(record)
        entry.details.update(tables=chosen, existed=existing is not None)
        return record
