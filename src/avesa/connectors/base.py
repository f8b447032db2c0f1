"""What the pipeline needs from a source connector, whatever the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol

from avesa.domain.pages import Page


class SourceConnector(Protocol):
    async def check(self) -> None:
        """Prove the credentials work with one cheap live call; raise AuthenticationError if not."""

    async def count(self, table: str, start: datetime | None, end: datetime) -> int | None:
        """Records whose change timestamp is in `[start, end)` (no lower bound when start is None);
        None when the API cannot count."""

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        """(earliest change stamp, record count) of `[start, end)`; start None means no lower bound.
        Either may be None when the API cannot tell."""

    def pages(self, table: str, start: datetime, end: datetime, after_id: str | None) -> AsyncIterator[Page]:
        """Records with change timestamp in `[start, end)` after the cursor `after_id` (the last id for
        keyset paging, the API's next link otherwise). Tables read whole (snapshot) or by delta link
        ignore the range and stamp records with `end`, the time they were observed."""

    def list_ids(self, table: str) -> AsyncIterator[list[str]]:
        """Every id currently in the table, in batches; used to find deletes by reconciliation."""

    async def aclose(self) -> None: ...
