"""The tenant and service registry (the brief's `TenantServices`), as plain records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Tenant(BaseModel):
    tenant_id: str
    company_name: str
    enabled: bool = True
    created_at: datetime


MAX_REQUESTS_PER_MINUTE = 1_000_000
"""The most `avesa service limit` accepts: far above any documented SaaS limit."""
MAX_BURST = 1_000_000


class RateLimitOverride(BaseModel):
    """A tenant's own request budget; a rate of nan, infinity or 0 would stall or unthrottle a run.
    (`avesa service limit` also caps both at the MAX_ values; the model does not, so an override
    stored before the caps still loads.)"""

    requests_per_minute: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    burst: int | None = Field(default=None, ge=1)


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
