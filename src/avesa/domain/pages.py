"""A page of source records as connectors hand it to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Page:
    """One page of records, column by column (a page holds up to thousands of records: per-record
    objects would cost more CPU than everything else extraction does).

    `raws` are the records' JSON bytes exactly as the API returned them; `sensitive` lists the
    positions of records holding a field on the service's deny-list, to strip before landing."""

    number: int  # 1-based position inside the chunk, for error messages
    record_ids: list[str]
    updated_at: list[datetime]
    raws: list[bytes]
    sensitive: list[int]
    last_id: str | None  # the keyset cursor after this page

    def __len__(self) -> int:
        return len(self.record_ids)
