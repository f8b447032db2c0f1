"""What alerts are wanted, and where they go: the `AVESA_ALERT_*` settings for every tenant, and
per-tenant overrides in a TOML file (`AVESA_ALERT_RULES_FILE`):

    [tenants.acme]
    rules = ["auth", "failures"]        # instead of AVESA_ALERT_RULES ("all", "off" or names)
    failures_in_a_row = 5               # instead of AVESA_ALERT_FAILURES_IN_A_ROW
    rate_limited_max = 500              # instead of AVESA_ALERT_RATE_LIMITED_MAX
    stuck_run_hours = 12                # instead of AVESA_ALERT_STUCK_RUN_HOURS
    count_tolerance = 0.05              # instead of AVESA_COUNT_TOLERANCE
    email_to = ["acme-oncall@example.com"]
    webhook_url_env = "ACME_ALERT_WEBHOOK"   # the tenant's webhook, read from this variable
    global_destinations = false         # only the tenant's own destinations (default: both)

A webhook's address is a credential (anyone holding it can post to the channel), so the file names
the environment variable that holds it, never the address. Freshness targets per tenant are
`AVESA_FRESHNESS_TARGETS`' "tenant/service/table" keys, as the dashboard reads them.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from avesa.domain.errors import ConfigError
from avesa.settings import Settings

RULES = ("failures", "stale", "auth", "rate_limited", "stuck", "count")
"""Every rule, by the name settings and the rules file use (alerts/rules.py)."""

RULE_HELP = {
    "failures": "a table failed AVESA_ALERT_FAILURES_IN_A_ROW runs in a row",
    "stale": "a table's data is older than its freshness target",
    "auth": "a service refused a tenant's credentials",
    "rate_limited": "a run met more than AVESA_ALERT_RATE_LIMITED_MAX HTTP 429s",
    "stuck": "a run is still running AVESA_ALERT_STUCK_RUN_HOURS after it started",
    "count": "after a full sync, the source's count and the lake's live rows differ beyond the tolerance",
}


def parse_rules(value: str | list[str], where: str) -> frozenset[str]:
    """`all`, `off`, or names (a comma list or a list); ConfigError naming `where` for an unknown one."""
    names = [n.strip().lower() for n in (value.split(",") if isinstance(value, str) else value)]
    names = [n for n in names if n]
    if names == ["all"]:
        return frozenset(RULES)
    if names in ([], ["off"]):
        return frozenset()
    unknown = [n for n in names if n not in RULES]
    if unknown:
        raise ConfigError(f"{where}: unknown alert rule {unknown[0]!r}; use all, off, or some of "
                          f"{', '.join(RULES)}")
    return frozenset(names)


def parse_addresses(value: str | list[str]) -> tuple[str, ...]:
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(p.strip() for p in parts if p.strip())


class _TenantRules(BaseModel):
    """One `[tenants.X]` table of the rules file."""

    model_config = ConfigDict(extra="forbid")

    rules: str | list[str] | None = None
    failures_in_a_row: int | None = Field(default=None, ge=1, le=1000)
    rate_limited_max: int | None = Field(default=None, ge=0)
    stuck_run_hours: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    count_tolerance: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    email_to: list[str] = []
    webhook_url_env: str | None = None
    global_destinations: bool = True


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenants: dict[str, _TenantRules] = {}


@dataclass(frozen=True)
class Webhook:
    name: str
    """How messages and logs name it ("webhook", "webhook:acme"): never its address."""
    url: str = field(repr=False)


@dataclass(frozen=True)
class Email:
    name: str
    to: tuple[str, ...]


Destination = Webhook | Email


@dataclass(frozen=True)
class Policy:
    """The rules and thresholds that hold for one tenant (or, tenant None, for what has none: a
    run over every tenant), and where its alerts go."""

    rules: frozenset[str]
    failures_in_a_row: int
    rate_limited_max: int
    stuck_run_hours: float
    count_tolerance: float
    destinations: tuple[Destination, ...]


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None = field(repr=False)
    sender: str
    timeout: float


@dataclass(frozen=True)
class AlertConfig:
    default: Policy
    tenants: Mapping[str, Policy]
    smtp: SmtpServer | None
    attempts: int
    timeout: float

    def policy(self, tenant_id: str | None) -> Policy:
        return self.tenants.get(tenant_id, self.default) if tenant_id is not None else self.default

    def destinations(self) -> list[Destination]:
        """Every destination of every policy, once each."""
        seen: dict[str, Destination] = {}
        for policy in (self.default, *self.tenants.values()):
            for destination in policy.destinations:
                seen.setdefault(destination.name, destination)
        return list(seen.values())

    def secrets(self) -> list[str]:
        """Values no alert and no log line may carry: webhook addresses, the SMTP password."""
        found = [d.url for d in self.destinations() if isinstance(d, Webhook)]
        if self.smtp is not None and self.smtp.password:
            found.append(self.smtp.password)
        return found


def _global_destinations(settings: Settings) -> tuple[Destination, ...]:
    found: list[Destination] = []
    if settings.alert_webhook_url:
        found.append(Webhook("webhook", settings.alert_webhook_url.strip()))
    addresses = parse_addresses(settings.alert_email_to)
    if addresses:
        found.append(Email("email", addresses))
    return tuple(found)


def _smtp(settings: Settings) -> SmtpServer | None:
    if not settings.alert_smtp_host:
        return None
    security = settings.alert_smtp_security
    port = settings.alert_smtp_port or {"starttls": 587, "ssl": 465}.get(security, 25)
    return SmtpServer(settings.alert_smtp_host, port, security, settings.alert_smtp_username,
                      settings.alert_smtp_password, settings.alert_email_from, settings.alert_timeout_seconds)


def _read_rules_file(path: Path) -> _RulesFile:
    where = f"AVESA_ALERT_RULES_FILE ({path})"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file; create it (docs/operating.md, \"Alerts\") or unset the "
                          "setting") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        return _RulesFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        at = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{where}: {at}: {first['msg'][:1].lower()}{first['msg'][1:]} (see docs/operating.md, "
                          "\"Alerts\")") from None


def load_alert_config(settings: Settings, environ: Mapping[str, str] | None = None) -> AlertConfig:
    """The alert configuration, or a ConfigError naming the setting or the file's key that is wrong."""
    environ = os.environ if environ is None else environ
    smtp = _smtp(settings)
    base = _global_destinations(settings)
    if any(isinstance(d, Email) for d in base) and smtp is None:
        raise ConfigError("AVESA_ALERT_EMAIL_TO is set but AVESA_ALERT_SMTP_HOST is not: name the SMTP server "
                          "that sends the alerts")
    default = Policy(rules=parse_rules(settings.alert_rules, "AVESA_ALERT_RULES"),
                     failures_in_a_row=settings.alert_failures_in_a_row,
                     rate_limited_max=settings.alert_rate_limited_max,
                     stuck_run_hours=settings.alert_stuck_run_hours,
                     count_tolerance=settings.count_tolerance, destinations=base)
    tenants: dict[str, Policy] = {}
    if settings.alert_rules_file is not None:
        path = settings.alert_rules_file
        for tenant_id, rules in _read_rules_file(path).tenants.items():
            where = f"AVESA_ALERT_RULES_FILE ({path}): tenants.{tenant_id}"
            own: list[Destination] = []
            if rules.webhook_url_env:
                url = environ.get(rules.webhook_url_env, "").strip()
                if not url:
                    raise ConfigError(f"{where}.webhook_url_env: the variable {rules.webhook_url_env} is not set; "
                                      "set it to the tenant's webhook address")
                own.append(Webhook(f"webhook:{tenant_id}", url))
            if rules.email_to:
                if smtp is None:
                    raise ConfigError(f"{where}.email_to: AVESA_ALERT_SMTP_HOST is not set; name the SMTP server")
                own.append(Email(f"email:{tenant_id}", parse_addresses(rules.email_to)))
            tenants[tenant_id] = Policy(
                rules=default.rules if rules.rules is None else parse_rules(rules.rules, f"{where}.rules"),
                failures_in_a_row=rules.failures_in_a_row or default.failures_in_a_row,
                rate_limited_max=default.rate_limited_max if rules.rate_limited_max is None else rules.rate_limited_max,
                stuck_run_hours=rules.stuck_run_hours or default.stuck_run_hours,
                count_tolerance=default.count_tolerance if rules.count_tolerance is None else rules.count_tolerance,
                destinations=(*(base if rules.global_destinations else ()), *own))
    return AlertConfig(default=default, tenants=tenants, smtp=smtp, attempts=settings.alert_delivery_attempts,
                       timeout=settings.alert_timeout_seconds)
