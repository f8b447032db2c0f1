"""The units of work every executor passes around.

Each is plain, JSON-serialisable data (`model_dump(mode="json")`), so that the local asyncio
executor and a Step Functions + Lambda deployment can hand exactly the same payloads between the
pipeline units: plan run -> plan table -> run chunk (repeatedly, until complete) -> finalize table.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class SyncMode(StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"
    # Re-read a past range in windows; never moves the watermark or looks for deletes.
    BACKFILL = "backfill"


class ChunkStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # stopped cleanly before its deadline; resumes from its cursor
    FAILED = "failed"
    CANCELLED = "cancelled"  # its run was cancelled (`avesa jobs cancel`); never resumed


class RunStatus(StrEnum):
    """A run's status in the ledger. "interrupted" is not one: it is a running run whose owner's
    leases all expired (pipeline/resume.py tells)."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"  # a table failed; `avesa jobs retry` reopens it
    CANCELLED = "cancelled"  # `avesa jobs cancel`: never resumed or retried
    ABANDONED = "abandoned"  # `avesa jobs cleanup-stuck` gave up on an interrupted run

    @property
    def finished(self) -> bool:
        return self is not RunStatus.RUNNING


class TableStatus(StrEnum):
    PENDING = "pending"
    EXTRACTING = "extracting"
    FINALIZING = "finalizing"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # its run was abandoned before the table ended


class RunRequest(BaseModel):
    """What the user asked `avesa run` for; None means "all enabled"."""

    tenant_id: str | None = None
    service: str | None = None
    table: str | None = None
    full: bool = False


class BackfillRange(BaseModel):
    """The past range `[start, end)` a backfill re-reads, cut into windows of `window_days` (each a
    chunk, or several when a window holds more than a chunk's worth of records)."""

    start: datetime
    end: datetime
    window_days: int


class BackfillRequest(BaseModel):
    """What the user asked `avesa backfill` for, as typed: None means the service's default.

    Kept as asked (not resolved against today's date) so that running the same command again
    finds the unfinished backfill and continues it."""

    tenant_id: str
    service: str
    table: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    window_days: int | None = None


class TableRef(BaseModel):
    run_id: str
    tenant_id: str
    service: str
    table: str
    mode: SyncMode
    run_started_at: datetime
    backfill: BackfillRange | None = None  # set when mode is BACKFILL

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.service, self.table)

    @property
    def label(self) -> str:
        return f"{self.tenant_id}/{self.service}/{self.table}"


class RunPlan(BaseModel):
    run_id: str
    started_at: datetime
    tables: list[TableRef]
    skipped: list[str] = Field(default_factory=list)  # human-readable reasons (disabled tenant…)
    held_by: dict[str, str] = Field(default_factory=dict)
    """Tenants left out because another live run holds them: tenant -> that run's id."""


class ChunkTask(BaseModel):
    """A half-open range `[start, end)` over the table's change timestamp, paged by id inside."""

    table: TableRef
    chunk_id: str
    index: int
    start: datetime
    end: datetime
    estimate: int | None = None
    cursor: str | None = None  # last source id landed; the next page asks for id > cursor
    seq: int = 0  # next raw file sequence number

    @staticmethod
    def make_id(ref: TableRef, index: int, start: datetime, end: datetime) -> str:
        """Deterministic, so a retried chunk rewrites the same raw file names."""
        digest = hashlib.sha256(
            f"{ref.run_id}|{ref.tenant_id}|{ref.service}|{ref.table}|{start.isoformat()}|{end.isoformat()}".encode()
        ).hexdigest()[:10]
        return f"{ref.table}-{index:04d}-{digest}"


class TablePlan(BaseModel):
    table: TableRef
    range_start: datetime
    range_end: datetime
    estimate: int | None
    chunks: list[ChunkTask]


class ChunkOutcome(BaseModel):
    chunk_id: str
    status: ChunkStatus
    cursor: str | None
    seq: int
    records: int = 0
    pages: int = 0
    files: int = 0
    max_updated_at: datetime | None = None
    error: str | None = None
    error_kind: str | None = None
    seconds: float = 0.0  # extraction time over every attempt: earlier runs' speed sizes later chunks


class TableResult(BaseModel):
    table: TableRef
    status: TableStatus
    records: int = 0
    versions_created: int = 0
    deletes: int = 0
    watermark: datetime | None = None
    seconds: float = 0.0
    error: str | None = None
    canonical_table: str | None = None
    nulled_values: dict[str, int] = Field(default_factory=dict)
    """Canonical column -> values nulled because they could not be converted (see the ledger's)."""
    source_count: int | None = None
    """A full sync's data-quality count: the source's own count of the table (None when not taken)."""
    canonical_count: int | None = None
    """… and the canonical table's live rows of it, taken right after the merge."""


class TableWork(BaseModel):
    """One table an executor is to run: planned already (its chunks, from the ledger, when a run
    resumes) or not yet (None: the plan-table unit plans it)."""

    table: TableRef
    chunks: list[ChunkTask] | None = None


class RunWork(BaseModel):
    """What the plan-run unit hands an executor: the run, its tables, what it left out and why.

    `hand_back_to` is set when the run resumes only one tenant's part of an interrupted run whose
    other tenants' tables remain: the finish-run unit then gives the run back to that (dead) owner,
    still interrupted, instead of closing it."""

    run_id: str
    kind: str = "sync"  # "sync" or "backfill"
    tables: list[TableWork] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    held_by: dict[str, str] = Field(default_factory=dict)
    """Tenants left out because another live run holds them: tenant -> that run's id."""
    hand_back_to: str | None = None


class ResumeRequest(BaseModel):
    """Continue a run from the ledger: an interrupted one, claimed from `expected_owner` (the dead
    owner the caller found), or — without one — a failed one, reopened for retry. With
    `tenant_id`, only that tenant's unfinished tables."""

    run_id: str
    expected_owner: str | None = None
    tenant_id: str | None = None


class PlanRunRequest(BaseModel):
    """The plan-run unit's payload: exactly one of a sync, a backfill or a resume."""

    sync: RunRequest | None = None
    backfill: BackfillRequest | None = None
    resume: ResumeRequest | None = None


class ChunkAttempt(BaseModel):
    """The run-chunk unit's payload: read `chunk` from its ledger cursor until `deadline`.

    The deadline is wall-clock UTC, so it means the same in any process that runs the attempt (a
    Lambda sets it from its remaining time). `may_split`: the chunk may hand the upper half of what
    it has left to new chunks when its pages say it is dense; it then returns at once with them, and
    the executor runs them beside it. `stalls` and `landed` carry the stall rule across attempts."""

    chunk: ChunkTask
    deadline: datetime
    may_split: bool = True
    stalls: int = 0
    landed: int | None = None


class ChunkAttemptResult(BaseModel):
    """What one attempt of a chunk ended with. While `outcome.status` is INCOMPLETE the executor
    runs `next_attempt` after `wait_seconds`; the chunks in `split_off` (already in the ledger)
    are the executor's to run too."""

    outcome: ChunkOutcome
    split_off: list[ChunkTask] = Field(default_factory=list)
    stalls: int = 0
    wait_seconds: float = 0.0

    @property
    def finished(self) -> bool:
        return self.outcome.status is not ChunkStatus.INCOMPLETE

    def next_attempt(self, attempt: ChunkAttempt, deadline: datetime) -> ChunkAttempt:
        return attempt.model_copy(update={"deadline": deadline, "stalls": self.stalls,
                                          "landed": self.outcome.records})


class FinalizeRequest(BaseModel):
    """The finalize-table unit's payload, once every chunk of `table` has ended.

    `failed_chunks` are the executor's outcomes of chunks that did not complete (the first few are
    enough): they say which failure to report first. With `merge` false the table stops after its
    raw files (what the extraction benchmark measures): no canonical table, no watermark."""

    table: TableRef
    failed_chunks: list[ChunkOutcome] = Field(default_factory=list)
    merge: bool = True


class FinishRunRequest(BaseModel):
    """The finish-run unit's payload. The run's tables are read from the ledger, not passed: a run
    of thousands of tables stays a small payload."""

    run_id: str
    hand_back_to: str | None = None
    seconds: float | None = None
    http: dict[str, int] = Field(default_factory=dict)
    """The executor's request counters (requests, retries, 429s, bytes), for the run's log."""


class RunEnd(BaseModel):
    """How a run ended: its ledger status ("complete", "failed", "cancelled", or "interrupted" when
    it was handed back), and its tables as the ledger counts them."""

    run_id: str
    status: str
    tables: int = 0
    failed_tables: int = 0
    records: int = 0
