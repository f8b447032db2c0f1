"""ConnectWise Manage connector: the spec-driven RestConnector plus the quirks of ConnectWise's ``Link``
header. Everything else is the spec (catalog/services/connectwise.json): Basic auth with a clientId
header, the ``connectwise_conditions`` window query, keyset paging, ``/count``.

Inside a chunk ``[start, end)`` pages are read by keyset: ``conditions=_info/lastUpdated>=[start] and
_info/lastUpdated<[end] and id>{last id}``, ``orderBy=id asc``, always page 1. Offsets would shift
while the source changes; an id cursor never does, so a record that changes mid-extraction is
neither lost nor read twice (its new version lands outside the range and is read next run).

The quirks, as hooks:

- **Navigable paging.** ``Link`` announces ``rel="next"`` when there is more: a full last page then
  costs no empty request (LinkAwarePaginator).
- **Remaining records.** With page=1 always, the ``rel="last"`` page number says how many pages of
  the query are left, so every page says about how much its chunk still holds: chunks split
  themselves, and planning needs no count request.
- **One request per span.** The earliest change and the count come from one request: pageSize=1,
  ``orderBy=_info/lastUpdated asc``; its first record is the earliest change and its last page number
  the count. Without a Link header ``/count`` answers instead.
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx

from avesa.catalog.models import ServiceSpec
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.paginators import LinkAwarePaginator, has_more
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.records import RawRecords
from avesa.connectors.rest import RestConnector

_LAST_PAGE = re.compile(r'<[^>]*[?&]page=(\d+)[^>]*>;\s*rel="last"')


def last_page_number(link: str | None) -> int | None:
    match = _LAST_PAGE.search(link) if link else None
    return int(match.group(1)) if match else None


class ConnectWiseConnector(RestConnector):
    """A ``SourceConnector`` for one tenant's ConnectWise Manage site."""

    reports_remaining = True
    """Pages say how much their query matched (the ``Link`` header): chunks split themselves, so
    planning needs no count request."""

    def __init__(self, *, spec: ServiceSpec, credentials: dict[str, str], tenant_id: str, budget: RateBudget,
                 options: HttpOptions, page_size: int = 1000) -> None:
        super().__init__(spec=spec, credentials=credentials, tenant_id=tenant_id, budget=budget, options=options,
                         page_size=page_size)
        self.paginator = LinkAwarePaginator(self.spec.paginator)

    def remaining(self, headers: httpx.Headers, records: RawRecords) -> int | None:
        """Records the page's query matched, from the ``rel="last"`` page number: the pages before the
        last are full, the last one half full on average. A chunk uses it to decide whether to split."""
        received = len(records.raws)
        last = last_page_number(headers.get("link"))
        if last is None or last <= 1:
            return received
        return (last - 1) * self.page_size + self.page_size // 2

    async def span(self, table: str, start: datetime | None, end: datetime) -> tuple[datetime | None, int | None]:
        """The earliest change stamp in ``[start, end)`` and how many records the range holds, with one
        request: the first record by stamp, and at pageSize=1 the ``Link`` header's last page number,
        which is the count. Without a Link header, a page without a next one holds all there is, and
        otherwise ``/count`` answers."""
        first = await self.first_by_change(table, start, end)
        if first is None:
            return await super().span(table, start, end)
        records, headers = first
        earliest = self.stamp(table, records.changes[0], 1, records.ids[0]) if records.changes else None
        count = last_page_number(headers.get("link"))
        if count is None:
            received = len(records.raws)
            count = received if not has_more(headers, received, 1) else await self.count(table, start, end)
        return earliest, count
