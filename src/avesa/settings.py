"""Process settings from the environment (AVESA_*), with the defaults of the embedded mode.

`AVESA_HOME` (default `./avesa-data`) holds the lake (`$AVESA_HOME/lake`, unless `AVESA_LAKE_URL`
names another root such as `s3://bucket/prefix`), the SQLite state and the encrypted secrets.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, PositiveFloat
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

    # Freshness (the dashboard; alerts): how old a table's data may be before it counts as late —
    # the time since the last completed run read the source up to. A default for every table, and
    # overrides keyed "table", "service/table" or "tenant/service/table" (the most specific wins),
    # e.g. AVESA_FRESHNESS_TARGETS='{"service_tickets": 2, "acme/connectwise/time_entries": 48}'.
    freshness_target_hours: float = Field(default=24.0, gt=0)
    freshness_targets: dict[str, PositiveFloat] = Field(default_factory=dict)

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
