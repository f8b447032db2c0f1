"""The tuning variables the Lambda handlers read, beside the engine's own settings (AVESA_*).

They size what one state machine execution does, so a run of any size stays inside Step Functions'
limits (docs/aws.md, "Execution"): how many tenants run at once, how many chunk ids one Map round
takes, how many history events a table execution may spend before it continues in a new one, and
how much of a Lambda's remaining time a chunk leaves unused.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

INLINE_MAP_CONCURRENCY = 40
"""An inline Map runs at most 40 iterations at once on AWS, whatever its MaxConcurrency says."""
HISTORY_EVENT_LIMIT = 25_000
"""A standard workflow execution's history holds at most 25,000 events."""


class AwsTuning(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AVESA_", extra="ignore")

    chunk_time_margin_seconds: float = Field(default=60.0, ge=0, le=900, allow_inf_nan=False)
    """A chunk attempt stops this long before its Lambda would time out: enough for its last page
    (AVESA_HTTP_TIMEOUT_SECONDS) and the raw file and checkpoint after it."""
    sfn_max_tenants: int = Field(default=10, ge=1, le=INLINE_MAP_CONCURRENCY)
    """Tenants one orchestrator execution runs at once (its Map's MaxConcurrency)."""
    sfn_chunks_per_round: int = Field(default=100, ge=1, le=1000)
    """Chunk ids one Map round of a table execution takes; the rest wait in the ledger."""
    sfn_history_budget: int = Field(default=20_000, ge=100, le=HISTORY_EVENT_LIMIT - 2_000)
    """History events a table execution may spend before its table continues in a new execution."""
    sfn_max_resumes: int = Field(default=5, ge=0, le=100)
    """Interrupted runs one orchestrator execution finishes before it plans its own run."""
