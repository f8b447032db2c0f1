"""A page of source records as connectors hand it to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, column by column (a page holds up to thousands of records: per-record
    objects would cost more CPU than everything else extraction does).

    `raws` are the records' JSON bytes exactly as the API returned them; `sensitive` lists the
    positions of records holding a field on the service's deny-list, to strip before landing;
    `deleted` the positions of records that announce a deletion (a Graph delta's `@removed` item, a
    Salesforce row with `IsDeleted`): they land like any record and close the key in SCD2."""

    number: int  # 1-based position inside the chunk, for error messages
    record_ids: list[str]
    updated_at: list[datetime]
    raws: list[bytes]
    sensitive: list[int]
    last_id: str | None  # the cursor after this page: the last id (keyset) or the API's next link
    deleted: list[int] = field(default_factory=list)
    remaining: int | None = None
    """Records the page's query matched, this page included (None: the API did not say). A chunk
    whose first page says it is far bigger than one chunk's worth splits itself (pipeline/extract)."""

    def __len__(self) -> int:
        return len(self.record_ids)
