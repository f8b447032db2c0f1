"""Paginators a service spec names: given the page just read, where the next one is.

``keyset`` asks again with ``id > last id`` (the chunk contract's own paging: changes during
extraction can neither skip nor repeat a record); the others follow what the API hands back — a
page number, an offset, a next link in the body or in the ``Link`` header, or an opaque cursor.
Every state is a string, so a chunk checkpoints it after each file and resumes from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from avesa.catalog.models import PaginatorSpec

_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class NextPage:
    """Where the next page is: a URL to GET as is, or parameters to add to the first request's."""

    url: str | None = None
    params: dict[str, Any] | None = None
    cursor: str | None = None
    """What a checkpoint stores to resume here."""


def next_link_header(headers: httpx.Headers) -> str | None:
    match = _NEXT_LINK.search(headers.get("link") or "")
    return match.group(1) if match else None


END = "~end"
"""The cursor of a chunk whose last page has landed: resuming it reads nothing more."""


class Paginator:
    """Keyset paging puts the cursor into the window query itself (``id > cursor``), so its pages
    carry no parameters of their own; the query builder reads ``NextPage.cursor``."""

    def __init__(self, spec: PaginatorSpec) -> None:
        self.spec = spec

    @property
    def keyset(self) -> bool:
        return self.spec.type == "keyset"

    def _param(self, name: str | None) -> str:
        """The spec's parameter for its type: PaginatorSpec's validator refuses a spec without it."""
        if name is None:
            raise ValueError(f"paginator {self.spec.type!r} has no parameter for its page position")
        return name

    def resume(self, cursor: str | None) -> NextPage | None:
        """Where a chunk starts: its checkpointed cursor, or the first page (None: nothing left)."""
        spec = self.spec
        if cursor == END:
            return None
        if cursor is None:
            first = {self._param(spec.page_param): 1} if spec.type == "page_number" else {}
            return NextPage(params=first)
        if spec.type == "keyset":
            return NextPage(params={}, cursor=cursor)
        if spec.type == "page_number":
            return NextPage(params={self._param(spec.page_param): int(cursor)}, cursor=cursor)
        if spec.type == "offset":
            return NextPage(params={self._param(spec.offset_param): int(cursor)}, cursor=cursor)
        if spec.type == "cursor":
            return NextPage(params={self._param(spec.cursor_param): cursor}, cursor=cursor)
        return NextPage(url=cursor, cursor=cursor)  # next_link, link_header: the cursor is the URL

    def next(self, current: NextPage, *, received: int, page_size: int, last_id: str | None,
             headers: httpx.Headers, extras: dict[str, Any]) -> NextPage | None:
        """The page after ``current``, or None at the end of the list."""
        spec = self.spec
        if spec.type in ("keyset", "page_number", "offset"):
            link_says_more = next_link_header(headers)
            if received < page_size and link_says_more is None:
                return None
            if spec.type == "keyset":
                return NextPage(params={}, cursor=last_id) if last_id is not None else None
            if spec.type == "page_number":
                page_param = self._param(spec.page_param)
                number = int((current.params or {}).get(page_param, 1)) + 1
                return NextPage(params={page_param: number}, cursor=str(number))
            offset_param = self._param(spec.offset_param)
            offset = int((current.params or {}).get(offset_param, 0)) + received
            return NextPage(params={offset_param: offset}, cursor=str(offset))
        if spec.type == "link_header":
            link = next_link_header(headers)
            return NextPage(url=link, cursor=link) if link else None
        value = extras.get(spec.next_path or "")
        if not value:
            return None
        if spec.type == "cursor":
            return NextPage(params={self._param(spec.cursor_param): value}, cursor=str(value))
        return NextPage(url=str(value), cursor=str(value))


def has_more(headers: httpx.Headers, received: int, page_size: int) -> bool:
    """Whether a next page exists, by a navigable ``Link`` header where the API sends one (ConnectWise,
    ServiceNow): trusting it spares the empty request a full last page would otherwise cost, and a
    short page is not the end when Link says more (ServiceNow ACLs filter rows out of a page).
    Without a Link header only a short page proves the end."""
    if headers.get("link") is not None:
        return next_link_header(headers) is not None
    return received >= page_size


class LinkAwarePaginator(Paginator):
    """Keyset paging that also ends where the ``Link`` header shows no next page (see has_more)."""

    def next(self, current: NextPage, *, received: int, page_size: int, last_id: str | None,
             headers: httpx.Headers, extras: dict[str, Any]) -> NextPage | None:
        if not has_more(headers, received, page_size):
            return None
        return super().next(current, received=received, page_size=page_size, last_id=last_id, headers=headers,
                            extras=extras)
