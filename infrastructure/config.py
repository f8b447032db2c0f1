"""What one deployment is: its environment and the choices an operator makes, read from CDK context.

Context comes from `cdk.json`, `cdk -c key=value`, or `CDK_CONTEXT_JSON` (which `avesa aws synth`
and `deploy` set). Every value is checked here, so a bad one stops the synth with one line naming
the key, before any resource exists.

| key                       | default                | what it is                                           |
| ------------------------- | ---------------------- | ---------------------------------------------------- |
| `environment`             | (required)             | dev, staging or prod                                 |
| `account`, `region`       | the CLI's              | where the stacks go (a production account may be its own) |
| `schedule`                | `every 1h`             | incremental: `every 15m`, cron, off; `…; svc=every 30m` |
| `full_schedule`           | `0 3 * * *`            | the daily full reconciliation, same syntax           |
| `tenants`                 | none                   | tenant ids that get their own dashboard (list or comma text) |
| `freshness_target_hours`  | 24                     | data older than this raises the freshness alarm      |
| `freshness_targets`       | {}                     | per service hours, e.g. `{"servicenow": 2}`          |
| `monitoring_account`      | none                   | an account that may read this one's CloudWatch      |
| `alarm_email`             | none                   | an address subscribed to the alert topic             |
| `max_concurrency`         | none                   | reserved concurrency of the chunk processor          |
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from avesa.domain.environments import Environment, environment
from avesa.domain.errors import ConfigError, UsageError
from avesa.runtime.schedules import normalise, parse_setting

_TENANT = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class ServiceSchedule:
    """One EventBridge schedule: the run it starts (mode, optional service) and its expression."""

    name: str
    mode: str
    expression: str  # EventBridge's rate(...) or cron(...)
    service: str | None = None


@dataclass(frozen=True)
class DeploymentConfig:
    environment: Environment
    account: str | None = None
    region: str | None = None
    schedules: tuple[ServiceSchedule, ...] = ()
    tenants: tuple[str, ...] = ()
    freshness_target_hours: float = 24.0
    freshness_targets: Mapping[str, float] = field(default_factory=dict)
    monitoring_account: str | None = None
    alarm_email: str | None = None
    max_concurrency: int | None = None


def event_bridge_expression(schedule: str, key: str) -> str | None:
    """An AVESA schedule (`every 15m`, a five-field cron in UTC, `off`) as EventBridge's
    `rate(…)` / `cron(…)`; None for `off`. EventBridge's cron has six fields and wants `?` in one
    of day-of-month / day-of-week."""
    text = normalise(schedule)
    if text == "off":
        return None
    interval = re.fullmatch(r"every (\d+)([smhd])", text)
    if interval:
        number, unit = int(interval.group(1)), interval.group(2)
        if unit == "s":
            if number % 60:
                raise ConfigError(f"context {key}={schedule!r}: EventBridge schedules are at least a minute apart; "
                                  "use minutes (every 5m)")
            number, unit = number // 60, "m"
        words = {"m": "minute", "h": "hour", "d": "day"}[unit]
        return f"rate({number} {words}{'' if number == 1 else 's'})"
    minute, hour, day, month, dow = text.split(" ")
    if day != "*" and dow != "*":
        raise ConfigError(f"context {key}={schedule!r}: EventBridge cannot combine a day of month with a day of "
                          "week; give one and '*' for the other")
    if dow == "*":
        dow = "?"
    else:
        day = "?"
        # crontab's 0-7 (0 and 7 Sunday) as names: EventBridge numbers days 1-7 from Sunday
        dow = re.sub(r"(?<![/\d])\d", lambda m: _DAYS[int(m.group(0)) % 7], dow)
    return f"cron({minute} {hour} {day} {month} {dow} *)"


def _schedules(incremental: str, full: str) -> tuple[ServiceSchedule, ...]:
    found: list[ServiceSchedule] = []
    for mode, key, value in (("incremental", "schedule", incremental), ("full", "full_schedule", full)):
        default, per_service = parse_setting(value, key)
        if default is not None and (expression := event_bridge_expression(default, key)):
            found.append(ServiceSchedule(mode, mode, expression))
        for service, text in sorted(per_service.items()):
            if (expression := event_bridge_expression(text, key)):
                found.append(ServiceSchedule(f"{mode}-{service}", mode, expression, service))
    return tuple(found)


def _tenants(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    items = [t.strip() for t in value.split(",")] if isinstance(value, str) else list(value)
    bad = [t for t in items if not isinstance(t, str) or not _TENANT.match(t)]
    if bad:
        raise ConfigError(f"context tenants: {bad!r} are not tenant ids (lower-case letters, digits, '_', '-')")
    return tuple(dict.fromkeys(items))


def _hours(value: Any, key: str) -> float:
    try:
        hours = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"context {key}={value!r} is not a number of hours") from None
    if not 0 < hours <= 24 * 365:
        raise ConfigError(f"context {key}={value!r}: give hours between 0 and 8760")
    return hours


def load_config(context: Mapping[str, Any]) -> DeploymentConfig:
    """The deployment `context` describes; ConfigError/UsageError naming the key that is wrong."""
    raw_env = context.get("environment")
    if raw_env in (None, ""):
        raise UsageError("no environment given: pass --environment dev|staging|prod "
                         "(cdk: -c environment=dev)")
    env = environment(raw_env)
    for key in ("account", "monitoring_account"):
        if context.get(key) and not _ACCOUNT.match(str(context[key])):
            raise ConfigError(f"context {key}={context[key]!r} is not a 12-digit AWS account id")
    email = context.get("alarm_email") or None
    if email and not _EMAIL.match(str(email)):
        raise ConfigError(f"context alarm_email={email!r} is not an e-mail address")
    targets = context.get("freshness_targets") or {}
    if isinstance(targets, str):
        try:
            targets = json.loads(targets)
        except json.JSONDecodeError:
            raise ConfigError(f"context freshness_targets={targets!r} is not a JSON object of hours") from None
    if not isinstance(targets, Mapping):
        raise ConfigError("context freshness_targets must map a service to hours, e.g. {\"servicenow\": 2}")
    concurrency = context.get("max_concurrency")
    if concurrency not in (None, "") and (not str(concurrency).isdigit() or int(concurrency) < 1):
        raise ConfigError(f"context max_concurrency={concurrency!r} is not a positive whole number")
    return DeploymentConfig(
        environment=env,
        account=str(context["account"]) if context.get("account") else None,
        region=str(context["region"]) if context.get("region") else None,
        schedules=_schedules(str(context.get("schedule", "every 1h")), str(context.get("full_schedule", "0 3 * * *"))),
        tenants=_tenants(context.get("tenants")),
        freshness_target_hours=_hours(context.get("freshness_target_hours", 24), "freshness_target_hours"),
        freshness_targets={str(k): _hours(v, f"freshness_targets.{k}") for k, v in targets.items()},
        monitoring_account=str(context["monitoring_account"]) if context.get("monitoring_account") else None,
        alarm_email=str(email) if email else None,
        max_concurrency=int(concurrency) if concurrency not in (None, "") else None,
    )
