"""What the pipeline needs from a source connector, whatever the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record as the API returned it, with the two fields the engine needs pulled out."""

    record_id: str
    updated_at: datetime
    body: dict


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # 1-based position inside the chunk, for error messages
    records: list[SourceRecord]
    last_id: str | None  # the keyset cursor after this page


class SourceConnector(Protocol):
    async def check(self) -> None:
        """Prove the credentials work with one cheap live call; raise AuthenticationError if not."""

    async def count(self, table: str, start: datetime | None, end: datetime) -> int:
        """Records whose change timestamp is in `[start, end)` (no lower bound when start is None)."""

    async def earliest_change(self, table: str) -> datetime | None:
        """The oldest change timestamp of the table, or None when it is empty."""

    def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        """Records with change timestamp in `[start, end)` and id > after_id, by id ascending."""

    def list_ids(self, table: str) -> AsyncIterator[list[str]]:
        """Every id currently in the table, in batches; used to find deletes by reconciliation."""

    async def aclose(self) -> None: ...
