"""Process settings from the environment (AVESA_*), with the defaults of the embedded mode.

`AVESA_HOME` (default `./avesa-data`) holds the lake (`$AVESA_HOME/lake`, unless `AVESA_LAKE_URL`
names another root such as `s3://bucket/prefix`), the SQLite state and the encrypted secrets.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEV = "dev"
    STAGING = "staging"
    PROD = "prod"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AVESA_", extra="ignore")

    home: Path = Path("./avesa-data")
    lake_url: str | None = None
    env: Environment = Environment.DEV
    secret_key: str | None = Field(default=None, repr=False)
    catalog_path: Path | None = None
    """A folder of the user's own service specs and mappings (docs/adding-a-service.md)."""

    # Concurrency caps (DESIGN.md "Concurrency and limits").
    max_requests_in_flight: int = 16
    max_tables_per_tenant: int = 4
    # Requests one tenant may have in flight: below the global cap, so small tenants always get
    # slots while a large one syncs (fair scheduling).
    max_requests_per_tenant: int = 8
    max_chunks_per_table: int = 4
    # Chunks hold up to records_per_file records in memory: this cap bounds the process's memory
    # whatever the number of tenants (2x the request cap keeps every request slot fed).
    max_chunks_in_flight: int = 32
    # Backfill windows (chunks of a backfill run; a large window's pieces count one each) extracted
    # at once in a process: a backfill re-reads years of data and must leave the tenant's rate
    # budget to the scheduled runs (canonical-model.md: at most 5 backfill jobs at once).
    max_backfill_windows: int = Field(default=5, ge=1)
    # Chunking: records one chunk should hold; a chunk is never smaller than one page.
    # 4,000 measured best for `make bench` (chunks split themselves past 2x this; docs/benchmarks.md).
    target_chunk_records: int = 4000
    page_size: int = 1000
    records_per_file: int = 5000
    # Incremental runs start this many seconds before the watermark; SCD2 makes overlap harmless.
    lookback_seconds: int = 300
    # Incremental runs also look for deletes (an id listing) once a table's last look is this old.
    reconcile_interval_hours: float = 24.0
    chunk_deadline_seconds: float = 600.0
    lease_seconds: float = 900.0
    http_timeout_seconds: float = 60.0
    max_attempts: int = 6

    # ---- operating: `avesa serve`, logs, metrics, data-quality counts (docs/operating.md) ----
    # Schedules: "every 30m" / "every 2h" (intervals), a five-field cron expression ("*/15 * * * *"),
    # or "off"; optionally per service: "every 1h; servicenow=every 30m; salesforce=0 */2 * * *".
    # A tenant's own schedule (`avesa schedule set`) overrides these.
    schedule: str = "every 1h"
    full_schedule: str = "0 3 * * *"  # the daily full reconciliation (a --full run), same syntax
    schedule_timezone: str = "UTC"  # what cron expressions' hours mean
    serve_max_runs: int = Field(default=4, ge=1)  # runs `avesa serve` executes at once (all share the caps)
    serve_poll_seconds: float = Field(default=30.0, gt=0)  # how often serve looks at the registry and queue
    stop_timeout_seconds: float = Field(default=60.0, ge=0)  # SIGTERM: how long chunks may take to land files
    log_level: str = "INFO"  # DEBUG adds one line per chunk attempt; WARNING keeps only trouble
    log_max_bytes: int = Field(default=50_000_000, ge=0)  # $AVESA_HOME/logs/avesa.jsonl rotates past this
    log_backups: int = Field(default=5, ge=0)  # rotated logs kept (avesa.jsonl.1 … .N)
    progress_interval_seconds: float = Field(default=30.0, gt=0)  # plain progress lines when not on a terminal
    # After a full sync: |source count - live canonical rows| above this fraction of the source count is
    # reported (metric, event, `avesa status`); 0 reports any difference.
    count_tolerance: float = Field(default=0.01, ge=0)

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
