"""Schedules of `avesa serve`: when each tenant's service is synced, and when it is read in full.

A schedule is text an operator types:

- an interval, `every 30m` (also `30m`, `every 2h`, `every 1d`, `every 45s`);
- a five-field cron expression, `*/15 * * * *`, `0 3 * * *` (standard crontab: day of week 0 or 7 is
  Sunday), in `AVESA_SCHEDULE_TIMEZONE` (UTC by default);
- `off`: never.

Each (tenant, service) has two: the incremental sync and the full reconciliation (a `--full` run,
which re-reads the table, looks for deletes and takes the data-quality counts). Each comes from
the first of: the tenant's own (`avesa schedule set`, kept in the registry), the per-service entry
of AVESA_SCHEDULE / AVESA_FULL_SCHEDULE (`every 1h; servicenow=every 30m`), their default entry.

Intervals are anchored to fixed instants, not to when `avesa serve` started — Unix time 0 plus a
stable offset per tenant, service and mode — so any process can say when the next run is
(`avesa status`, `avesa schedule show`), a restart does not move them, and 200 tenants on
`every 1h` spread over the hour instead of all starting on the hour.

The triggers are APScheduler's (`IntervalTrigger`, `CronTrigger`); `next_run` asks them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from avesa.domain.errors import ConfigError, UsageError
from avesa.domain.registry import TenantService
from avesa.pipeline.wiring import build_state_store
from avesa.settings import Settings
from avesa.state.base import StateStore

MODES = ("incremental", "full")
OFF = "off"
SYNTAX = "use an interval (`every 30m`, `every 2h`, `every 1d`), a cron expression (`*/15 * * * *`) or `off`"

_INTERVAL = re.compile(r"^(?:every\s+)?(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)$",
                       re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ANCHOR = datetime(1970, 1, 1, tzinfo=UTC)
_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SETTING = {"incremental": "AVESA_SCHEDULE", "full": "AVESA_FULL_SCHEDULE"}


@dataclass(frozen=True)
class Schedule:
    """One effective schedule and where it came from ("tenant", "AVESA_SCHEDULE", …)."""

    text: str
    source: str

    @property
    def off(self) -> bool:
        return self.text == OFF


def normalise(text: str) -> str:
    """A schedule as stored and shown: `every 30m`, a cron expression with single spaces, or `off`;
    UsageError naming the syntax when it is neither."""
    cleaned = " ".join(text.split())
    if cleaned.lower() == OFF:
        return OFF
    match = _INTERVAL.match(cleaned)
    if match:
        number, unit = int(match.group(1)), match.group(2)[0].lower()
        if number < 1:
            raise UsageError(f"schedule {text!r}: an interval must be at least 1 {unit}")
        return f"every {number}{unit}"
    fields = cleaned.split(" ")
    if len(fields) != 5:
        raise UsageError(f"schedule {text!r} is not one: {SYNTAX}")
    try:
        CronTrigger.from_crontab(_apscheduler_crontab(cleaned), timezone=UTC)
    except ValueError as exc:
        raise UsageError(f"schedule {text!r} is not a valid cron expression ({exc}): {SYNTAX}") from None
    return cleaned


def _apscheduler_crontab(expr: str) -> str:
    """APScheduler 3 counts weekdays from Monday = 0; crontab from Sunday = 0 (and 7). Numbers in the
    day-of-week field are given as names, which both read alike."""
    minute, hour, day, month, dow = expr.split(" ")

    def name(token: str) -> str:
        if not token.isdigit():
            return token
        number = int(token)
        if number > 7:
            raise ValueError(f"day of week {number} is not 0-7")
        return _CRON_DAYS[number]

    parts = []
    for part in dow.split(","):
        base, slash, step = part.partition("/")
        lo, dash, hi = base.partition("-")
        parts.append(name(lo) + (dash + name(hi) if dash else "") + (slash + step if slash else ""))
    return " ".join((minute, hour, day, month, ",".join(parts)))


def parse_setting(value: str, setting: str) -> tuple[str | None, dict[str, str]]:
    """AVESA_SCHEDULE's form `DEFAULT; service=SCHEDULE; …` as (default, per service), each
    normalised; ConfigError naming the setting and the entry that is wrong."""
    default: str | None = None
    per_service: dict[str, str] = {}
    for entry in (e.strip() for e in value.split(";")):
        if not entry:
            continue
        service, eq, text = entry.partition("=")
        try:
            if eq:
                per_service[service.strip()] = normalise(text)
            else:
                default = normalise(entry)
        except UsageError as exc:
            raise ConfigError(f"{setting}={value!r}: {exc}") from None
    return default, per_service


def timezone_of(settings: Settings) -> tzinfo:
    try:
        return ZoneInfo(settings.schedule_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"AVESA_SCHEDULE_TIMEZONE={settings.schedule_timezone!r} is not a time zone: use an "
                          "IANA name such as UTC or Europe/Berlin") from None


def effective(settings: Settings, config: TenantService, mode: str) -> Schedule:
    """The schedule `config`'s tenant and service run on in `mode` ("incremental" or "full")."""
    override = getattr(config.schedule, mode, None) if config.schedule else None
    if override:
        return Schedule(override, "tenant")
    setting = _SETTING[mode]
    default, per_service = parse_setting(settings.schedule if mode == "incremental" else settings.full_schedule,
                                         setting)
    if config.service in per_service:
        return Schedule(per_service[config.service], f"{setting} ({config.service})")
    if default is not None:
        return Schedule(default, setting)
    return Schedule(OFF, f"{setting} (no default)")


def _offset(key: str, period: int) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % period


def trigger(schedule: Schedule, key: str, tz: tzinfo) -> BaseTrigger | None:
    """The APScheduler trigger of `schedule` (None when off); `key` (tenant/service/mode) places an
    interval's slots."""
    if schedule.off:
        return None
    text = normalise(schedule.text)
    match = _INTERVAL.match(text)
    if match:
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
        start = _ANCHOR + timedelta(seconds=_offset(key, seconds))
        return IntervalTrigger(seconds=seconds, start_date=start, timezone=UTC)
    return CronTrigger.from_crontab(_apscheduler_crontab(text), timezone=tz)


def job_key(tenant_id: str, service: str, mode: str) -> str:
    return f"{mode}:{tenant_id}:{service}"


def next_run(schedule: Schedule, tenant_id: str, service: str, mode: str, tz: tzinfo,
             now: datetime) -> datetime | None:
    """The first slot of `schedule` after `now` (None when off), as `avesa serve` fires it."""
    found = trigger(schedule, job_key(tenant_id, service, mode), tz)
    if found is None:
        return None
    when = found.get_next_fire_time(None, now)
    return None if when is None else when.astimezone(UTC)


def slot_passed_since(schedule: Schedule, tenant_id: str, service: str, mode: str, tz: tzinfo,
                      last: datetime | None, now: datetime) -> bool:
    """Whether a slot of `schedule` came and went after `last` (never run: True) — a run missed
    while `avesa serve` was not running, which it makes up once when it starts."""
    found = trigger(schedule, job_key(tenant_id, service, mode), tz)
    if found is None:
        return False
    if last is None:
        return True
    when = found.get_next_fire_time(None, last + timedelta(microseconds=1))
    return when is not None and when <= now


Upcoming = dict[tuple[str, str], tuple[datetime, str] | None]


def upcoming(settings: Settings, state: StateStore, now: datetime) -> Upcoming:
    """(tenant, service) → (when, mode) of its next scheduled run, the sooner of sync and full;
    None when both are off. Disabled tenants and services are left out."""
    tz = timezone_of(settings)
    enabled = {t.tenant_id for t in state.list_tenants() if t.enabled}
    found: dict[tuple[str, str], tuple[datetime, str] | None] = {}
    for config in state.list_services():
        if not config.enabled or config.tenant_id not in enabled:
            continue
        times = [(when, mode) for mode in MODES
                 if (when := next_run(effective(settings, config, mode), config.tenant_id, config.service, mode,
                                      tz, now)) is not None]
        found[(config.tenant_id, config.service)] = min(times) if times else None
    return found


def next_run_times(settings: Settings, now: datetime | None = None) -> dict[tuple[str, str], datetime]:
    """(tenant, service) → when `avesa serve` runs it next, read from the registry (what the
    dashboard shows when it runs alone; under `avesa serve` it asks the scheduler itself)."""
    state = build_state_store(settings)
    try:
        found = upcoming(settings, state, now or datetime.now(UTC))
    finally:
        state.close()
    return {key: value[0] for key, value in found.items() if value is not None}
