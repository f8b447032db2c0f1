"""Bodies of list and single-record answers, assembled from the store's cached JSON bytes.

A page is the store's index work (bisects over ids and change times, see ``selection``) plus one
join of pre-serialised records: ``{"data": [...], "total": N, "has_more": bool}``. ``total`` counts
the records matching the change-time filters, ignoring ``after_id`` and ``limit`` — a bisect on the
change-time index, so it costs nothing however large the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import orjson

from avesa_sandbox.helpdesk.params import ListParams
from avesa_sandbox.selection import IndexOrder, Ordering, Query, select
from avesa_sandbox.store import TableStore

Record = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One answered page."""

    body: bytes
    records: int


def _project(record: Record, fields: tuple[str, ...]) -> Record:
    return {name: record.get(name) for name in fields}


def total(store: TableStore, params: ListParams) -> int:
    """Records whose change time is within the requested bounds."""
    if params.updated_low is None and params.updated_high is None:
        return len(store)
    start, end = store.updated_span(params.updated_low, params.updated_high)
    return end - start


def _by_id(store: TableStore, params: ListParams, descending: bool = False) -> tuple[list[int], bool]:
    query = Query(
        id_low=None if params.after_id is None else params.after_id + 1,
        updated_low=params.updated_low,
        updated_high=params.updated_high,
        ordering=Ordering(IndexOrder.ID_DESC if descending else IndexOrder.ID_ASC),
        limit=params.limit,
    )
    selection = select(store, query)
    return selection.ids, selection.has_more


def _by_updated(store: TableStore, params: ListParams) -> tuple[list[int], bool]:
    """Walk the change-time index from the window's start: ``sort=updated_at&limit=1`` (the window's
    earliest change) costs a bisect, not a sort of the table."""
    start, end = store.updated_span(params.updated_low, params.updated_high)
    keys: Iterator[int] = store.ids_by_updated(start, end)
    if params.after_id is not None:
        after = params.after_id
        keys = (key for key in keys if key > after)
    page = list(islice(keys, params.limit + 1))
    return page[: params.limit], len(page) > params.limit


def list_page(store: TableStore, params: ListParams, *, descending: bool = False) -> Page:
    """The page a list request asks for (the caller holds the instance lock); `descending`: by id,
    largest first, whatever ``sort`` says (the ``ids-descending`` fault)."""
    if descending:
        ids, has_more = _by_id(store, params, descending=True)
    else:
        ids, has_more = _by_updated(store, params) if params.sort == "updated_at" else _by_id(store, params)
    if params.fields is None:
        data = store.json_array(ids)
    else:
        data = orjson.dumps([_project(store.records[key], params.fields) for key in ids])
    tail = b',"total":%d,"has_more":%s}' % (total(store, params), b"true" if has_more else b"false")
    return Page(b'{"data":' + data + tail, len(ids))


def record_body(store: TableStore, key: int, fields: tuple[str, ...] | None) -> bytes:
    """``{"data": {...}}`` of one record that exists."""
    data = store.json_bytes(key) if fields is None else orjson.dumps(_project(store.records[key], fields))
    return b'{"data":' + data + b"}"
