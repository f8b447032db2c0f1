"""The registry in SQLite: tenants and their services, one by one and in bulk."""

from __future__ import annotations

import json
import sqlite3

from avesa.domain.registry import RateLimitOverride, ScheduleOverride, Tenant, TenantService
from avesa.domain.timeutil import parse_utc
from avesa.state.base import Registry
from avesa.state.sqlite.codec import ts
from avesa.state.sqlite.job import SqliteJob

_PUT_TENANT = ("INSERT INTO tenants VALUES (?,?,?,?) ON CONFLICT(tenant_id) DO UPDATE SET "
               "company_name=excluded.company_name, enabled=excluded.enabled")
_PUT_SERVICE = (
    "INSERT INTO tenant_services (tenant_id, service, enabled, settings, tables, secret_ref, rate_limit, "
    "created_at, schedule) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(tenant_id, service) DO UPDATE SET "
    "enabled=excluded.enabled, settings=excluded.settings, tables=excluded.tables, "
    "secret_ref=excluded.secret_ref, rate_limit=excluded.rate_limit, schedule=excluded.schedule")


def _tenant_row(tenant: Tenant) -> tuple:
    return tenant.tenant_id, tenant.company_name, int(tenant.enabled), ts(tenant.created_at)


def _service_row(service: TenantService) -> tuple:
    rate = service.rate_limit.model_dump_json() if service.rate_limit else None
    schedule = service.schedule.model_dump_json() if service.schedule else None
    return (service.tenant_id, service.service, int(service.enabled), json.dumps(service.settings),
            json.dumps(service.tables), service.secret_ref, rate, ts(service.created_at), schedule)


def _tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(tenant_id=row["tenant_id"], company_name=row["company_name"],
                  enabled=bool(row["enabled"]), created_at=parse_utc(row["created_at"]))


def _service(row: sqlite3.Row) -> TenantService:
    rate = RateLimitOverride.model_validate_json(row["rate_limit"]) if row["rate_limit"] else None
    schedule = ScheduleOverride.model_validate_json(row["schedule"]) if row["schedule"] else None
    return TenantService(
        tenant_id=row["tenant_id"], service=row["service"], enabled=bool(row["enabled"]),
        settings=json.loads(row["settings"]), tables=json.loads(row["tables"]),
        secret_ref=row["secret_ref"], rate_limit=rate, schedule=schedule, created_at=parse_utc(row["created_at"]),
    )


class SqliteRegistry(SqliteJob, Registry):
    def put_tenant(self, tenant: Tenant) -> None:
        with self._tx() as c:
            c.execute(_PUT_TENANT, _tenant_row(tenant))

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        rows = self._query("SELECT * FROM tenants WHERE tenant_id=?", (tenant_id,))
        return _tenant(rows[0]) if rows else None

    def list_tenants(self) -> list[Tenant]:
        return [_tenant(r) for r in self._query("SELECT * FROM tenants ORDER BY tenant_id")]

    def put_service(self, service: TenantService) -> None:
        with self._tx() as c:
            c.execute(_PUT_SERVICE, _service_row(service))

    def get_service(self, tenant_id: str, service: str) -> TenantService | None:
        rows = self._query("SELECT * FROM tenant_services WHERE tenant_id=? AND service=?", (tenant_id, service))
        return _service(rows[0]) if rows else None

    def list_services(self, tenant_id: str | None = None) -> list[TenantService]:
        if tenant_id is None:
            rows = self._query("SELECT * FROM tenant_services ORDER BY tenant_id, service")
        else:
            rows = self._query("SELECT * FROM tenant_services WHERE tenant_id=? ORDER BY service", (tenant_id,))
        return [_service(r) for r in rows]

    # ---- in bulk, removals ---------------------------------------------------------------------
    def apply_registry(self, tenants: list[Tenant], services: list[TenantService]) -> None:
        """Every tenant and service in one transaction: all of them, or (on any error) none."""
        with self._tx() as c:
            c.executemany(_PUT_TENANT, [_tenant_row(t) for t in tenants])
            c.executemany(_PUT_SERVICE, [_service_row(s) for s in services])

    def remove_service(self, tenant_id: str, service: str) -> bool:
        """Take a service out of the registry; its runs, watermarks and lake data stay. False if absent."""
        with self._tx() as c:
            return c.execute("DELETE FROM tenant_services WHERE tenant_id=? AND service=?",
                             (tenant_id, service)).rowcount == 1

    def remove_tenant(self, tenant_id: str) -> bool:
        """Take a tenant and its services out of the registry, in one transaction; its runs,
        watermarks and lake data stay. False if it was not registered."""
        with self._tx() as c:
            c.execute("DELETE FROM tenant_services WHERE tenant_id=?", (tenant_id,))
            return c.execute("DELETE FROM tenants WHERE tenant_id=?", (tenant_id,)).rowcount == 1
