"""Rows of the run ledger as the state store returns them (the brief's ProcessingJobs, ChunkProgress)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from avesa.domain.work import ChunkStatus, RunStatus, TableStatus


class RunRecord(BaseModel):
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: RunStatus
    request: dict
    owner: str
    lease_expires: datetime | None = None
    """Until when the owner last said it is working on the run (renewed while it runs); None
    before its first renewal, and once the run finished."""

    @property
    def kind(self) -> str:
        """"sync" (`avesa run`) or "backfill" (`avesa backfill`), as the run's request says."""
        return str(self.request.get("kind", "sync"))


class TableRunRecord(BaseModel):
    run_id: str
    tenant_id: str
    service: str
    table: str
    mode: str
    status: TableStatus
    range_start: datetime | None
    range_end: datetime | None
    estimate: int | None
    records: int
    """What the table's chunks checkpointed, summed: what landed in the raw lake, even for a run
    that was interrupted before it finalized."""
    versions_created: int
    deletes: int
    chunks_total: int
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    nulled_values: dict[str, int] = {}
    """Canonical column -> source values that could not be converted to its type and became null
    (the raw record keeps them as sent): the table's data-quality count for this run."""
    source_count: int | None = None
    """After a full sync: how many records the source said it holds (its own count), None when the
    run was not full or the API cannot count."""
    canonical_count: int | None = None
    """After a full sync: the live (current, not deleted) rows of this source table in the canonical
    table, to set beside `source_count`."""

    @property
    def count_difference(self) -> int | None:
        """Source count less live canonical rows: positive when the lake holds fewer."""
        if self.source_count is None or self.canonical_count is None:
            return None
        return self.source_count - self.canonical_count


class TableRunUpdate(BaseModel):
    """What a unit changes of a table run: only the fields given are written (None included, e.g.
    an error cleared); a name that is not a table run's field is refused when the update is made,
    not when it reaches the store."""

    model_config = ConfigDict(extra="forbid")

    status: TableStatus | None = None
    range_start: datetime | None = None
    range_end: datetime | None = None
    estimate: int | None = None
    records: int | None = None
    versions_created: int | None = None
    deletes: int | None = None
    chunks_total: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    nulled_values: dict[str, int] | None = None
    source_count: int | None = None
    canonical_count: int | None = None

    def fields(self) -> dict[str, object]:
        """The fields given, statuses as their stored text."""
        given = self.model_dump(exclude_unset=True)
        if isinstance(given.get("status"), TableStatus):
            given["status"] = given["status"].value
        return given


class ChunkRecord(BaseModel):
    chunk_id: str
    run_id: str
    tenant_id: str
    service: str
    table: str
    idx: int
    range_start: datetime
    range_end: datetime
    status: ChunkStatus
    cursor: str | None
    seq: int
    records: int
    pages: int
    files: int
    max_updated_at: datetime | None
    estimate: int | None
    attempts: int
    last_error: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    seconds: float = 0.0


class QueuedBackfill(BaseModel):
    """A backfill asked for with `avesa backfill --queue`, waiting for `avesa serve` to run it."""

    queue_id: int
    request: dict
    """The BackfillRequest as typed (JSON), so running it finds an unfinished run of it."""
    queued_at: datetime
    queued_by: str
