"""Process settings from the environment (AVESA_*) and the config file `avesa.toml`
(config_file.py), with the defaults of the embedded mode. The environment wins over the file.

`AVESA_HOME` holds the lake (`$AVESA_HOME/lake`, unless `AVESA_LAKE_URL`
names another root such as `s3://bucket/prefix`), the SQLite state and the encrypted secrets.

The home is whatever the environment or the config file names; when neither does, the default
`./avesa-data` is only a placeholder: commands refuse it (`cli/common.py: require_home`) rather than
make a new home wherever they happen to run.

Every value is checked when the settings are read: a cap of 0 would hang a run forever waiting for
a slot, a `nan` deadline would never pass. `load_settings` turns what pydantic refuses into one
ConfigError naming the variable, the value and what it accepts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from avesa.config_file import AvesaTomlSource, find_config_file, read_config
from avesa.domain.environments import Environment
from avesa.domain.errors import ConfigError
from avesa.domain.url_credentials import masked

ENV_PREFIX = "AVESA_"
SECRET_SETTINGS = frozenset({"secret_key", "alert_webhook_url", "alert_smtp_password"})
"""Settings whose values are secrets: never shown, in an error or anywhere else."""
_YEAR_SECONDS = 365 * 24 * 3600
"""Upper bound of the durations: beyond it a date computed from one overflows."""
_Hours = Annotated[float, Field(gt=0, le=_YEAR_SECONDS / 3600, allow_inf_nan=False)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    home: Path = Path("./avesa-data")
    lake_url: str | None = None
    """Unset: `$AVESA_HOME/lake`. A folder, `file://PATH` or `s3://BUCKET[/PREFIX]`."""
    env: Environment = Environment.DEV
    secret_key: str | None = Field(default=None, repr=False)
    catalog_path: Path | None = None
    """A folder of the user's own service specs and mappings (docs/adding-a-service.md)."""

    # Concurrency caps (docs/architecture.md, "Concurrency and limits").
    max_requests_in_flight: int = Field(default=16, ge=1)
    max_tables_per_tenant: int = Field(default=4, ge=1)
    # Requests one tenant may have in flight: below the global cap, so small tenants always get
    # slots while a large one syncs (fair scheduling).
    max_requests_per_tenant: int = Field(default=8, ge=1)
    max_chunks_per_table: int = Field(default=4, ge=1)
    # Chunks hold up to records_per_file records in memory: this cap bounds the process's memory
    # whatever the number of tenants (2x the request cap keeps every request slot fed).
    max_chunks_in_flight: int = Field(default=32, ge=1)
    # Backfill windows (chunks of a backfill run; a large window's pieces count one each) extracted
    # at once in a process: a backfill re-reads years of data and must leave the tenant's rate
    # budget to the scheduled runs (canonical-model.md: at most 5 backfill jobs at once).
    max_backfill_windows: int = Field(default=5, ge=1)
    # Chunking: records one chunk should hold; a chunk is never smaller than one page.
    # 4,000 measured best for `make bench` (chunks split themselves past 2x this; docs/benchmarks.md).
    target_chunk_records: int = Field(default=4000, ge=1)
    page_size: int = Field(default=1000, ge=1)
    records_per_file: int = Field(default=5000, ge=1)
    # Worker processes that build canonical tables (mapping, SCD2 merge) beside the extraction, on
    # a local lake: unset, one when the machine has a second core; 0 builds in a thread of the run.
    build_processes: int | None = Field(default=None, ge=0, le=64)
    # Incremental runs start this many seconds before the watermark; SCD2 makes overlap harmless.
    lookback_seconds: int = Field(default=300, ge=0, le=_YEAR_SECONDS)
    # Incremental runs also look for deletes (an id listing) once a table's last look is this old.
    reconcile_interval_hours: float = Field(default=24.0, le=_YEAR_SECONDS / 3600, allow_inf_nan=False)
    chunk_deadline_seconds: float = Field(default=600.0, ge=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    lease_seconds: float = Field(default=900.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    http_timeout_seconds: float = Field(default=60.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    max_attempts: int = Field(default=6, ge=1, le=1000)
    # A 429 is not a failed attempt: a request waits out rate limits for up to this long from its
    # first 429 (the tenant's budget slows down meanwhile), then fails its table saying so.
    rate_limit_max_wait_seconds: float = Field(default=600.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)

    # Where state and credentials live (pipeline/wiring.py reads these; docs/architecture.md).
    state_url: str | None = None
    """Unset: SQLite in AVESA_HOME. `sqlite:///PATH`, a plain path, or `dynamodb://PREFIX[?region=R]`."""
    secrets_url: str | None = None
    """Unset: the encrypted file in AVESA_HOME. `secretsmanager://PREFIX[?region=R]`."""
    shared_rate_budgets: bool | None = None
    """Hold each (tenant, service) rate budget in the state store, shared by every process that calls
    that instance. Unset: on with a DynamoDB state store (many workers), off with SQLite (one
    process: its in-memory budget is the fast path)."""
    ledger_retention_days: float = Field(default=90.0, gt=0, le=100 * 365, allow_inf_nan=False)
    """A finished run's chunk records are kept this long (DynamoDB: a TTL; SQLite: purged when a later
    run finishes); runs and table runs are kept."""

    # Freshness (the dashboard; alerts): how old a table's data may be before it counts as late —
    # the time since the last completed run read the source up to. A default for every table, and
    # overrides keyed "table", "service/table" or "tenant/service/table" (the most specific wins),
    # e.g. AVESA_FRESHNESS_TARGETS='{"service_tickets": 2, "acme/connectwise/time_entries": 48}'.
    freshness_target_hours: float = Field(default=24.0, gt=0, le=_YEAR_SECONDS / 3600, allow_inf_nan=False)
    freshness_targets: dict[str, _Hours] = Field(default_factory=dict)

    # ---- operating: `avesa serve`, logs, metrics, data-quality counts (docs/operating.md) ----
    # Schedules: "every 30m" / "every 2h" (intervals), a five-field cron expression ("*/15 * * * *"),
    # or "off"; optionally per service: "every 1h; servicenow=every 30m; salesforce=0 */2 * * *".
    # A tenant's own schedule (`avesa schedule set`) overrides these.
    schedule: str = "every 1h"
    full_schedule: str = "0 3 * * *"  # the daily full reconciliation (a --full run), same syntax
    schedule_timezone: str = "UTC"  # what cron expressions' hours mean
    serve_max_runs: int = Field(default=4, ge=1, le=1000)  # runs `avesa serve` executes at once (one set of caps)
    # how often serve looks at the registry and the backfill queue
    serve_poll_seconds: float = Field(default=30.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    # SIGTERM: how long running chunks may take to land their files before they are cancelled
    stop_timeout_seconds: float = Field(default=60.0, ge=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    log_level: str = "INFO"  # DEBUG adds one line per chunk attempt; WARNING keeps only trouble
    log_max_bytes: int = Field(default=50_000_000, ge=0)  # $AVESA_HOME/logs/avesa.jsonl rotates past this (0: never)
    log_backups: int = Field(default=5, ge=0, le=1000)  # rotated logs kept (avesa.jsonl.1 … .N)
    # plain progress lines when the output is not a terminal
    progress_interval_seconds: float = Field(default=30.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    # After a full sync: |source count - live canonical rows| above this fraction of the source count is
    # reported (metric, event, `avesa status`); 0 reports any difference.
    count_tolerance: float = Field(default=0.01, ge=0, le=1, allow_inf_nan=False)

    # ---- alerts of `avesa serve` (docs/operating.md, "Alerts") ----
    # Which rules: "all", "off", or a comma list of failures, stale, auth, rate_limited, stuck, count.
    alert_rules: str = "all"
    alert_failures_in_a_row: int = Field(default=3, ge=1, le=1000)  # failed runs of a table in a row
    alert_rate_limited_max: int = Field(default=100, ge=0)  # HTTP 429s one run may meet before it is a storm
    alert_stuck_run_hours: float = Field(default=6.0, gt=0, le=_YEAR_SECONDS / 3600, allow_inf_nan=False)
    # how often serve evaluates the rules besides after each run (staleness without a run)
    alert_interval_seconds: float = Field(default=60.0, gt=0, le=_YEAR_SECONDS, allow_inf_nan=False)
    alert_rules_file: Path | None = None  # per-tenant rules, thresholds and destinations (TOML)
    alert_webhook_url: str | None = Field(default=None, repr=False)  # Slack/Teams incoming webhook: a secret
    alert_email_to: str = ""  # comma-separated addresses
    alert_email_from: str = "avesa@localhost"
    alert_smtp_host: str | None = None
    alert_smtp_port: int | None = Field(default=None, ge=1, le=65535)  # default 587 (starttls), 465 (ssl), 25
    alert_smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    alert_smtp_username: str | None = None
    alert_smtp_password: str | None = Field(default=None, repr=False)
    alert_delivery_attempts: int = Field(default=3, ge=1, le=20)  # tries of one delivery (backing off)
    alert_timeout_seconds: float = Field(default=10.0, gt=0, le=600, allow_inf_nan=False)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then `avesa.toml` (found as config_file.py says), then defaults."""
        path, _ = find_config_file()
        return init_settings, env_settings, AvesaTomlSource(settings_cls, path)

    @field_validator("lake_url")
    @classmethod
    def _lake_url_is_a_folder_or_s3(cls, value: str | None) -> str | None:
        """Refused here, before anything runs: a scheme the lake cannot write to (it would fail at the
        first raw file, mid-run), or an S3 URL without its bucket."""
        if not value or "://" not in value:
            return value
        parsed = urlparse(value)
        if parsed.scheme == "file" or (parsed.scheme in ("s3", "s3a") and parsed.netloc):
            return value
        raise ValueError("the lake is a folder, file://PATH or s3://BUCKET[/PREFIX]")

    @property
    def state_path(self) -> Path:
        return self.home / "state.sqlite3"

    @property
    def secrets_path(self) -> Path:
        return self.home / "secrets.enc"

    @property
    def secret_key_path(self) -> Path:
        return self.home / "secret.key"

    @property
    def lake_root(self) -> str:
        if self.lake_url:
            return self.lake_url.rstrip("/")
        return str((self.home / "lake").resolve())


def load_settings() -> Settings:
    """The settings from the environment and the config file, or a ConfigError naming each refused
    variable (and the file, for a value that came from it)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(settings_problem(exc)) from None


@dataclass(frozen=True)
class Source:
    """Where a setting's effective value comes from."""

    kind: str  # "environment", "file", "default" or "argument"
    where: str = ""  # the variable, or the file's path
    overrides: Any = None  # the file's value an environment variable hides, if any

    def __str__(self) -> str:
        if self.kind == "environment":
            return f"environment ({self.where})" + (" — overrides the file" if self.overrides is not None else "")
        if self.kind == "file":
            return f"file ({self.where})"
        return self.kind


def config_file_data() -> tuple[Path | None, dict[str, Any]]:
    """The config file in use (None when there is none) and its settings."""
    path, _ = find_config_file()
    if path is None or not path.is_file():
        return path, {}
    return path, read_config(path, set(Settings.model_fields))


def setting_sources(settings: Settings) -> dict[str, Source]:
    """Where each of `settings`' values comes from: the environment (case as pydantic-settings reads
    it: any), the config file, the default — or an argument, for a value none of those gives."""
    path, data = config_file_data()
    environ = {name.upper(): name for name in os.environ}
    sources: dict[str, Source] = {}
    for name, field in Settings.model_fields.items():
        variable = f"{ENV_PREFIX}{name.upper()}"
        if variable in environ:
            sources[name] = Source("environment", environ[variable], data.get(name))
        elif name in data:
            sources[name] = Source("file", str(path))
        elif getattr(settings, name) == field.get_default(call_default_factory=True):
            sources[name] = Source("default")
        else:
            sources[name] = Source("argument")
    return sources


def settings_problem(exc: ValidationError) -> str:
    """`AVESA_ENV='production': input should be 'dev', 'staging' or 'prod'; …` — one line for a user,
    each variable with its value (never the secret key's) and what it accepts."""
    problems = []
    try:
        path, data = config_file_data()
    except ConfigError:
        path, data = None, {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        name, where = f"{ENV_PREFIX}{field.upper()}", ""
        if field in data and not any(key.upper() == name for key in os.environ):
            name, where = field, f" in {path}"
        value = error.get("input")
        shown = "" if field in SECRET_SETTINGS else f"={(masked(value) if isinstance(value, str) else value)!r}"
        message = error["msg"].removeprefix("Value error, ")  # a validator's own words, as they are
        problems.append(f"{name}{shown}{where}: {message[:1].lower()}{message[1:]}")
    return "; ".join(problems) + " — set a valid value or unset it for the default (see README, Settings)"
