"""The tenant and service registry (the brief's `TenantServices`), as plain records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Tenant(BaseModel):
    tenant_id: str
    company_name: str
    enabled: bool = True
    created_at: datetime


class RateLimitOverride(BaseModel):
    requests_per_minute: float | None = None
    burst: int | None = None


class ScheduleOverride(BaseModel):
    """A tenant's own schedule for one service, overriding AVESA_SCHEDULE / AVESA_FULL_SCHEDULE:
    the schedule text as `avesa schedule set` took it ("every 30m", a cron expression, "off");
    None keeps the default."""

    incremental: str | None = None
    full: str | None = None


class TenantService(BaseModel):
    """One tenant's use of one service: non-secret settings here, credentials in the secret store."""

    tenant_id: str
    service: str
    enabled: bool = True
    settings: dict[str, str] = Field(default_factory=dict)  # non-secret connection settings
    tables: list[str]
    secret_ref: str  # key of the credentials in the secret store; never the credentials
    rate_limit: RateLimitOverride | None = None
    schedule: ScheduleOverride | None = None
    created_at: datetime
