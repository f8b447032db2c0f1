"""Choosing the records of one page: index ranges first, predicate second, sort only when needed.

Every list request comes down to: records within id bounds and change-time bounds, that satisfy a
residual predicate, in some order, page ``offset``..``offset+limit``, plus either the total count
(navigable paging needs ``last``) or just whether more follow (forward-only paging).

The executor starts from the smaller of the two index ranges (a bisect each), streams candidates
when the index order is the requested order (id asc/desc, or lastUpdated asc then id asc) and
stops as soon as the page is known; it sorts only for other orders. A bare id range is sliced
without looking at a single record. This keeps a 1000-record keyset page over a 50,000-record
table at a few milliseconds of CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from itertools import islice
from typing import Any

from avesa_sandbox.store import TableStore

Record = dict[str, Any]
Predicate = Callable[[Record], bool]
SortKey = Callable[[Record], Any]


class IndexOrder(Enum):
    """Orders an index can produce without sorting."""

    ID_ASC = "id asc"
    ID_DESC = "id desc"
    UPDATED_ASC = "lastUpdated asc, id asc"


@dataclass(frozen=True)
class Ordering:
    """Requested order: an index order, or sort keys (applied last to first, stable)."""

    index: IndexOrder | None
    keys: tuple[tuple[SortKey, bool], ...] = ()
    """(key function, descending) pairs, used when ``index`` is None."""


@dataclass(frozen=True)
class Selection:
    """One page of ids, and what is known about the rest."""

    ids: list[int]
    total: int | None
    """Number of matching records (only when requested)."""
    has_more: bool
    """Whether records follow this page."""


@dataclass(frozen=True)
class Query:
    """What to select. Bounds are inclusive; None means unbounded."""

    id_low: int | None = None
    id_high: int | None = None
    updated_low: int | None = None
    updated_high: int | None = None
    residual: Predicate | None = None
    ordering: Ordering = Ordering(IndexOrder.ID_ASC)
    offset: int = 0
    limit: int | None = None
    want_total: bool = False


def select(store: TableStore, query: Query) -> Selection:
    """Run ``query`` against ``store``."""
    total_records = len(store)
    id_start, id_end = store.id_span(query.id_low, query.id_high)
    has_updated_bounds = query.updated_low is not None or query.updated_high is not None
    if has_updated_bounds:
        up_start, up_end = store.updated_span(query.updated_low, query.updated_high)
    else:
        up_start, up_end = 0, total_records
    if id_end <= id_start or up_end <= up_start:
        return Selection([], 0 if query.want_total else None, False)
    id_vacuous = id_start == 0 and id_end == total_records
    updated_vacuous = up_start == 0 and up_end == total_records
    use_updated_index = not updated_vacuous and (id_vacuous or up_end - up_start < id_end - id_start)

    checks = _extra_checks(store, query, use_updated_index, id_vacuous, updated_vacuous)
    ordering = query.ordering.index
    streams = (not use_updated_index and ordering in (IndexOrder.ID_ASC, IndexOrder.ID_DESC)) or (
        use_updated_index and ordering is IndexOrder.UPDATED_ASC
    )
    if streams and checks is None and not use_updated_index:
        return _slice_id_range(store.ids, id_start, id_end, ordering is IndexOrder.ID_DESC, query)

    if use_updated_index and not streams and query.residual is None:
        # the common keyset case (lastUpdated window + id > N, id order): one comprehension, one sort
        matched = store.ids_by_updated_list(
            up_start, up_end, None if id_vacuous else query.id_low, None if id_vacuous else query.id_high
        )
        return _page(iter(_sort(store, matched, query.ordering)), query)
    if use_updated_index:
        candidates: Iterable[int] = store.ids_by_updated(up_start, up_end)
    elif ordering is IndexOrder.ID_DESC:
        candidates = reversed(store.ids[id_start:id_end])
    else:
        candidates = store.ids[id_start:id_end]
    matches = candidates if checks is None else filter(checks, candidates)

    if streams:
        return _page(matches, query)
    matched = list(matches)
    ordered = _sort(store, matched, query.ordering)
    return _page(iter(ordered), query)


def _extra_checks(
    store: TableStore, query: Query, use_updated_index: bool, id_vacuous: bool, updated_vacuous: bool
) -> Callable[[int], bool] | None:
    """Per-id filter for the bound not used to pick candidates, plus the residual predicate."""
    records = store.records
    residual = query.residual
    check_id = use_updated_index and not id_vacuous
    check_updated = not use_updated_index and not updated_vacuous
    id_low = -1 if query.id_low is None else query.id_low
    id_high = 1 << 62 if query.id_high is None else query.id_high
    up_low = -(1 << 62) if query.updated_low is None else query.updated_low
    up_high = 1 << 62 if query.updated_high is None else query.updated_high
    updated = store.updated
    if check_id and residual is None:
        return lambda rid: id_low <= rid <= id_high
    if check_id and residual is not None:
        return lambda rid: id_low <= rid <= id_high and residual(records[rid])
    if check_updated and residual is None:
        return lambda rid: up_low <= updated[rid] <= up_high
    if check_updated and residual is not None:
        return lambda rid: up_low <= updated[rid] <= up_high and residual(records[rid])
    if residual is not None:
        return lambda rid: residual(records[rid])
    return None


def _slice_id_range(ids: list[int], start: int, end: int, descending: bool, query: Query) -> Selection:
    count = end - start
    offset = query.offset
    stop = count if query.limit is None else min(count, offset + query.limit)
    if descending:
        page = ids[end - stop : end - offset][::-1] if offset < stop else []
    else:
        page = ids[start + offset : start + stop] if offset < stop else []
    return Selection(page, count if query.want_total else None, stop < count)


def _page(matches: Iterator[int] | Iterable[int], query: Query) -> Selection:
    iterator = iter(matches)
    offset, limit = query.offset, query.limit
    if query.want_total:
        everything = list(iterator)
        end = len(everything) if limit is None else offset + limit
        return Selection(everything[offset:end], len(everything), end < len(everything))
    if offset:
        next(islice(iterator, offset - 1, offset), None)
    if limit is None:
        return Selection(list(iterator), None, False)
    page = list(islice(iterator, limit))
    more = next(iterator, None) is not None
    return Selection(page, None, more)


def _sort(store: TableStore, ids: list[int], ordering: Ordering) -> list[int]:
    index = ordering.index
    if index is IndexOrder.ID_ASC:
        ids.sort()
        return ids
    if index is IndexOrder.ID_DESC:
        ids.sort(reverse=True)
        return ids
    updated = store.updated
    if index is IndexOrder.UPDATED_ASC:
        ids.sort(key=lambda rid: (updated[rid], rid))
        return ids
    records = store.records
    ids.sort()
    for key, descending in reversed(ordering.keys):
        ids.sort(key=id_key(records.__getitem__, key), reverse=descending)
    return ids


def id_key(record: Callable[[int], Record], key: SortKey) -> Callable[[int], Any]:
    """A sort key over record ids: `key` of the id's record (one function per sort key, bound now)."""
    return lambda rid: key(record(rid))
