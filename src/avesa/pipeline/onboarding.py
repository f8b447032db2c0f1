"""Onboarding at scale: `avesa tenant import` registers or updates many tenants and services in one
go, all or nothing; `avesa tenant export` writes the registry back out, never a credential.

An import is planned first and written second. Planning reads the file (`import_file`), resolves
every credential reference, and checks every row against the catalog and the registry as it is —
tenant ids, services, tables, credential fields, rates, schedules — collecting every problem. One
problem and nothing is written: the error lists each bad row (file and line), the field, and what
to do. Then the writes:

1. the credentials of the services whose credentials changed, in one `put_many` (the encrypted
   file is written once); what they replace is read first;
2. every tenant and service in one `apply_registry`: one SQLite transaction; on DynamoDB,
   transactions of 100 items, the earlier ones undone if a later one fails;
3. if step 2 fails, the credentials of step 1 are put back as they were (new ones deleted).

So a failed import leaves the registry and the secret store as they were. On DynamoDB "one
transaction" means that: validated as a whole before any write, written in batches, undone on
failure — a reader in those milliseconds may see part of it, never a half-registered service
after it (a service is written after its credentials, removed from view before them).

Credentials are never written in the import file unless the operator says so
(`allow_inline_secrets`): a secret field (and a URL with `user:password@`) must be a reference —
`${NAME}`, `env:NAME` or `secret:NAME` (`import_file.References`). Updating a service that is
registered merges: fields not given keep their stored value, so a file without credentials changes
tables or rates and leaves the credentials as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Required, TypedDict

from avesa.catalog.models import ServiceSpec
from avesa.domain.audit import Outcome
from avesa.domain.errors import AvesaError, UsageError
from avesa.domain.registry import (
    MAX_BURST,
    MAX_REQUESTS_PER_MINUTE,
    RateLimitOverride,
    ScheduleOverride,
    Tenant,
    TenantService,
)
from avesa.domain.tenant import validate_tenant_id
from avesa.domain.timeutil import utc_now
from avesa.domain.url_credentials import password_key, restore_passwords, split_password
from avesa.pipeline import audit
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.import_file import (
    CSV_COLUMNS,
    REFERENCE_HINT,
    ImportProblem,
    References,
    ServiceRow,
    TenantRow,
    read_import_file,
    reference_name,
)
from avesa.pipeline.registration import resolve_tables, split_credentials
from avesa.secrets.base import secret_ref

MAX_PROBLEMS_SHOWN = 50


class ImportProblems(Exception):
    """Several problems of one row."""

    def __init__(self, problems: list[ImportProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def _line_of(problem: str) -> tuple[int, str]:
    found = re.search(r" line (\d+)", problem)
    return (int(found.group(1)) if found else 0), problem


class ImportRefused(UsageError):
    """The file has problems; nothing was registered. `problems`: one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        problems = sorted(problems, key=_line_of)
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        lines = "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
        noun = "problem" if len(problems) == 1 else "problems"
        super().__init__(f"{source}: {len(problems)} {noun}, nothing was registered — fix them and import "
                         f"again:\n  {lines}")
        self.problems = problems


@dataclass
class Change:
    """What an import does to one tenant: "added", "updated" (saying what) or "unchanged"."""

    tenant_id: str
    tenant: str
    services: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return self.tenant != "unchanged" or any(v != "unchanged" for v in self.services.values())


@dataclass
class ImportPlan:
    source: str
    tenants: list[Tenant] = field(default_factory=list)
    services: list[TenantService] = field(default_factory=list)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Credentials to write, by reference: only the services whose credentials changed."""
    changes: list[Change] = field(default_factory=list)

    def count(self, what: str, status: str) -> int:
        if what == "tenants":
            return sum(c.tenant.split(" ")[0] == status for c in self.changes)
        return sum(v.split(" ")[0] == status for c in self.changes for v in c.services.values())


def plan_import(ctx: PipelineContext, path: Path, references: References, *, allow_inline_secrets: bool = False,
                normalise_schedule: Callable[[str], str] | None = None) -> ImportPlan:
    """Read and check the whole file against the registry; ImportRefused listing every problem."""
    rows, problems = read_import_file(path)
    plan = ImportPlan(source=path.name)
    tenants = {t.tenant_id: t for t in ctx.state.list_tenants()}
    services = {(s.tenant_id, s.service): s for s in ctx.state.list_services()}
    seen: dict[str, str] = {}
    now = utc_now()
    for row in rows:
        if row.tenant in seen:
            problems.append(ImportProblem(row.where, f"tenant {row.tenant} is also on {seen[row.tenant]}: give "
                                                     "each tenant once (its services under it)"))
            continue
        seen[row.tenant] = row.where
        try:
            _plan_tenant(ctx, plan, row, tenants.get(row.tenant), services, references, allow_inline_secrets,
                         normalise_schedule, now, problems)
        except ImportProblem as problem:
            problems.append(problem)
    if problems:
        raise ImportRefused(path.name, [str(p) for p in problems])
    return plan


def _plan_tenant(ctx: PipelineContext, plan: ImportPlan, row: TenantRow, existing: Tenant | None,
                 services: dict[tuple[str, str], TenantService], references: References, allow_inline: bool,
                 normalise_schedule: Callable[[str], str] | None, now: datetime, problems: list[ImportProblem]) -> None:
    try:
        validate_tenant_id(row.tenant)
    except UsageError as exc:
        raise ImportProblem(row.where, f"tenant: {exc}") from None
    if existing is None and not row.company_name:
        raise ImportProblem(row.where, f"tenant {row.tenant} is new: give its company_name")
    company_name = row.company_name or (existing.company_name if existing else "")  # "": refused just above
    tenant = Tenant(tenant_id=row.tenant, company_name=company_name,
                    enabled=row.enabled if row.enabled is not None else (existing.enabled if existing else True),
                    created_at=existing.created_at if existing else now)
    if existing is None:
        status = "added"
    else:
        changed = [name for name, old, new in (("company_name", existing.company_name, tenant.company_name),
                                               ("enabled", existing.enabled, tenant.enabled)) if old != new]
        status = f"updated ({', '.join(changed)})" if changed else "unchanged"
    change = Change(tenant_id=row.tenant, tenant=status)
    names: set[str] = set()
    for where, service_row in row.services:
        if service_row.service in names:
            problems.append(ImportProblem(where, f"service {service_row.service} is given twice for tenant "
                                                 f"{row.tenant}"))
            continue
        names.add(service_row.service)
        try:
            _plan_service(ctx, plan, change, where, row.tenant, service_row, services.get((row.tenant,
                          service_row.service)), references, allow_inline, normalise_schedule, now)
        except ImportProblem as problem:
            problems.append(problem)
        except ImportProblems as several:
            problems.extend(several.problems)
    if status != "unchanged":
        plan.tenants.append(tenant)
    plan.changes.append(change)


def _plan_service(ctx: PipelineContext, plan: ImportPlan, change: Change, where: str, tenant_id: str,
                  row: ServiceRow, existing: TenantService | None, references: References, allow_inline: bool,
                  normalise_schedule: Callable[[str], str] | None, now: datetime) -> None:
    try:
        spec = ctx.catalog.service(row.service)
    except AvesaError as exc:
        raise ImportProblem(where, f"service: {exc}") from None
    try:
        tables = resolve_tables(spec, row.tables) if row.tables is not None else (
            list(existing.tables) if existing else resolve_tables(spec, None))
    except AvesaError as exc:
        bad_tables: ImportProblem | None = ImportProblem(where, f"tables: {exc}")
        tables = []
    else:
        bad_tables = None
    try:
        given = _resolved_credentials(where, spec, row, references, allow_inline)
    except ImportProblem as problem:
        if bad_tables is not None:
            raise ImportProblems([bad_tables, problem]) from None
        raise
    if bad_tables is not None:
        raise bad_tables
    ref = secret_ref(tenant_id, row.service)
    stored = _stored_credentials(ctx, existing) if existing is not None and given else None
    if existing is None:
        merged: dict[str, str] | None = given
    elif stored is not None:
        merged = {**stored, **given}
    else:
        merged = None  # keep the stored credentials as they are
    settings, secrets = existing.settings if existing else {}, None
    if merged is not None:
        try:
            settings, secrets = split_credentials(spec, merged)
        except AvesaError as exc:
            raise ImportProblem(where, f"credentials: {exc}; reference secrets as {REFERENCE_HINT}") from None
    rate_limit = existing.rate_limit if existing else None
    if row.rate_limit_given:
        rate_limit = _rate_limit(where, row)
    schedule = existing.schedule if existing else None
    if row.schedule is not None:
        schedule = _schedule(where, row.schedule, normalise_schedule)
    record = TenantService(
        tenant_id=tenant_id, service=row.service, settings=settings, tables=tables, secret_ref=ref,
        enabled=row.enabled if row.enabled is not None else (existing.enabled if existing else True),
        rate_limit=rate_limit, schedule=schedule, created_at=existing.created_at if existing else now)
    stored_secrets_changed = secrets is not None and (existing is None or merged != stored)
    if existing is None:
        change.services[row.service] = "added"
    else:
        what = [name for name in ("settings", "tables", "enabled", "rate_limit", "schedule")
                if getattr(existing, name) != getattr(record, name)]
        if stored_secrets_changed and "settings" not in what:
            what.append("credentials")
        elif stored_secrets_changed:
            what[what.index("settings")] = "credentials"
        change.services[row.service] = f"updated ({', '.join(what)})" if what else "unchanged"
    if change.services[row.service] != "unchanged":
        plan.services.append(record)
    if stored_secrets_changed and secrets is not None:
        plan.secrets[ref] = secrets


def _resolved_credentials(where: str, spec: ServiceSpec, row: ServiceRow, references: References,
                          allow_inline: bool) -> dict[str, str]:
    """The row's credentials with every reference resolved; a secret written inline is a problem
    unless allowed (the file is one that gets committed)."""
    secret = {f.name for f in spec.credentials if f.secret}
    known = {f.name for f in spec.credentials}
    resolved: dict[str, str] = {}
    for name, value in row.credentials.items():
        if name not in known:
            tenant_hint = "; the tenant's column is `tenant`" if name == "tenant_id" else ""
            raise ImportProblem(where, f"{spec.service} has no credential field {name}; its fields are "
                                       f"{', '.join(sorted(known))}{tenant_hint}")
        is_reference = reference_name(value) is not None
        if not is_reference and not allow_inline and (name in secret or split_password(value)[1] is not None):
            raise ImportProblem(where, f"{name} is written in the file: reference it instead, as {REFERENCE_HINT} "
                                       "— or pass --allow-inline-secrets if this file is never committed")
        try:
            resolved[name] = references.resolve(value).strip()
        except ValueError as exc:
            raise ImportProblem(where, f"{name}: {exc}") from None
    return resolved


def _stored_credentials(ctx: PipelineContext, config: TenantService) -> dict[str, str]:
    """A registered service's credentials as they were given (settings, secrets, URL passwords
    back in their URLs)."""
    try:
        stored = ctx.secrets.get(config.secret_ref)
    except AvesaError:
        stored = {}
    restored = restore_passwords({**config.settings, **stored})
    return {k: v for k, v in restored.items() if not k.endswith(password_key(""))}


def _rate_limit(where: str, row: ServiceRow) -> RateLimitOverride | None:
    rate, burst = row.requests_per_minute, row.burst
    if rate is None and burst is None:
        return None
    if rate is not None and not 0 < rate <= MAX_REQUESTS_PER_MINUTE:
        raise ImportProblem(where, f"requests_per_minute must be above 0 and at most {MAX_REQUESTS_PER_MINUTE:,} "
                                   f"(e.g. 120), got {rate:g}")
    if burst is not None and not 1 <= burst <= MAX_BURST:
        raise ImportProblem(where, f"burst must be a whole number from 1 to {MAX_BURST:,} (e.g. 20), got {burst}")
    return RateLimitOverride(requests_per_minute=rate, burst=burst)


def _schedule(where: str, given: dict[str, str | None],
              normalise: Callable[[str], str] | None) -> ScheduleOverride | None:
    checked: dict[str, str | None] = {}
    for mode, text in given.items():
        if text is None or text.strip().lower() == "default":
            checked[mode] = None
            continue
        try:
            checked[mode] = normalise(text) if normalise else text
        except AvesaError as exc:
            raise ImportProblem(where, f"schedule {mode}: {exc}") from None
    override = ScheduleOverride(**checked)
    return override if (override.incremental or override.full) else None


# ---- applying a plan ---------------------------------------------------------------------------
def apply_import(ctx: PipelineContext, plan: ImportPlan) -> None:
    """Write the plan, all or nothing (the module's docstring), and record it in the audit trail:
    one entry for the import and one per tenant it changed."""
    before: dict[str, dict[str, str]] = {}
    existing = set(ctx.secrets.refs()) if plan.secrets else set()
    for ref in plan.secrets:
        if ref in existing:
            before[ref] = ctx.secrets.get(ref)
    written = False
    try:
        if plan.secrets:
            written = True
            ctx.secrets.put_many(plan.secrets)
        ctx.state.apply_registry(plan.tenants, plan.services)
    except BaseException as exc:
        if written:
            _restore_secrets(ctx, plan, before)
        message = str(exc) if isinstance(exc, AvesaError) else type(exc).__name__
        audit.record(ctx.state, [audit.Audited("tenant.import", target=plan.source, outcome=Outcome.FAILED,
                                               message=f"nothing was registered: {message}")])
        raise
    entries = [audit.Audited("tenant.import", target=plan.source, details=_counts(plan))]
    entries += [audit.Audited("tenant.import", tenant_id=c.tenant_id, target=plan.source,
                              details={"tenant": c.tenant, "services": c.services})
                for c in plan.changes if c.changed]
    audit.record(ctx.state, entries)


def refuse(ctx: PipelineContext, source: str, error: AvesaError) -> None:
    """Record an import refused before anything was written (its problems, cut short)."""
    problems = getattr(error, "problems", None)
    message = f"{len(problems)} problem(s): " + "; ".join(problems[:5]) if problems else str(error)
    audit.record(ctx.state, [audit.Audited("tenant.import", target=source, outcome=Outcome.REFUSED,
                                           message=message[:2000])])


def _restore_secrets(ctx: PipelineContext, plan: ImportPlan, before: dict[str, dict[str, str]]) -> None:
    if before:
        ctx.secrets.put_many(before)
    for ref in plan.secrets:
        if ref not in before:
            ctx.secrets.delete(ref)


def _counts(plan: ImportPlan) -> dict[str, object]:
    return {f"{what}_{status}": plan.count(what, status) for what in ("tenants", "services")
            for status in ("added", "updated", "unchanged")}


# ---- export ------------------------------------------------------------------------------------
def reference_for(tenant_id: str, service: str, field_name: str) -> str:
    """The environment variable an export suggests for a secret: `CONNECTWISE_PRIVATE_KEY_ACME_CORP`."""
    return f"{service}_{field_name}_{tenant_id}".upper().replace("-", "_")


def export_registry(ctx: PipelineContext, fmt: str, *, tenant_id: str | None = None,
                    references: bool = False) -> str:
    """The registry as an import file (YAML or CSV): tenants, services, tables, rates, schedules and
    non-secret settings. Never a credential: with `references`, each secret field is written as a
    `${VARIABLE}` to set before importing elsewhere; without, secret fields are left out (an import
    into the same home keeps the stored ones)."""
    tenants = [t for t in ctx.state.list_tenants() if tenant_id is None or t.tenant_id == tenant_id]
    services = ctx.state.list_services(tenant_id)
    rows: list[tuple[Tenant, dict[str, _ExportEntry]]] = []
    for tenant in tenants:
        entries: dict[str, _ExportEntry] = {}
        for config in (s for s in services if s.tenant_id == tenant.tenant_id):
            entry: _ExportEntry = {"tables": list(config.tables), "enabled": config.enabled}
            credentials: dict[str, str] = dict(config.settings)
            if references:
                spec = ctx.catalog.service(config.service) if config.service in ctx.catalog.services else None
                for spec_field in spec.credentials if spec else []:
                    if spec_field.secret:
                        credentials[spec_field.name] = "${" + reference_for(tenant.tenant_id, config.service,
                                                                            spec_field.name) + "}"
            if credentials:
                entry["credentials"] = credentials
            if config.rate_limit:
                entry["rate_limit"] = config.rate_limit.model_dump(exclude_none=True)
            if config.schedule:
                entry["schedule"] = config.schedule.model_dump(exclude_none=True)
            entries[config.service] = entry
        rows.append((tenant, entries))
    return _yaml(rows, references) if fmt == "yaml" else _csv(rows)


class _ExportEntry(TypedDict, total=False):
    """One service as `tenant export` writes it: the keys `tenant import` reads back."""

    tables: Required[list[str]]
    enabled: Required[bool]
    credentials: dict[str, str]
    rate_limit: dict[str, Any]
    schedule: dict[str, Any]


_EXPORT_NOTE = ("# avesa tenant export: the registry, never a credential. Import it with `avesa tenant import FILE`;\n"
                "# a service already registered keeps the credentials it has. Into another home, give each secret\n"
                "# field as a reference: ${NAME} (a --secrets-file, else the environment), env:NAME or secret:NAME.\n")


def _yaml(rows: list[tuple[Tenant, dict[str, _ExportEntry]]], references: bool) -> str:
    import yaml

    data = {"tenants": [{"tenant": t.tenant_id, "company_name": t.company_name, "enabled": t.enabled,
                         **({"services": entries} if entries else {})} for t, entries in rows]}
    note = _EXPORT_NOTE if not references else _EXPORT_NOTE + "# Set the ${…} variables named below first.\n"
    return note + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def _csv(rows: list[tuple[Tenant, dict[str, _ExportEntry]]]) -> str:
    credential_columns = sorted({k for _, entries in rows for e in entries.values()
                                 for k in e.get("credentials", {})})
    columns = list(CSV_COLUMNS) + [c for c in credential_columns if c not in CSV_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for tenant, entries in rows:
        base = {"tenant": tenant.tenant_id, "company_name": tenant.company_name,
                "tenant_enabled": str(tenant.enabled).lower()}
        if not entries:
            writer.writerow(base)
        for service, entry in entries.items():
            limit = entry.get("rate_limit") or {}
            schedule = entry.get("schedule") or {}
            writer.writerow({**base, "service": service, "tables": ",".join(entry["tables"]),
                             "enabled": str(entry["enabled"]).lower(),
                             "requests_per_minute": limit.get("requests_per_minute", ""),
                             "burst": limit.get("burst", ""),
                             "schedule": schedule.get("incremental", ""),
                             "full_schedule": schedule.get("full", ""),
                             **entry.get("credentials", {})})
    return out.getvalue()
