"""Running a bound plan: the ordered keys of every matching record, from the live table and the bin.

``query`` reads the live table; ``queryAll`` also reads the recycle bin (soft-deleted rows with
``IsDeleted = true``). Each store is searched with the shared selection engine (index bounds
first, predicate second); when both contribute, their results are merged in the requested order.
LIMIT and OFFSET apply to the merged result, as in Salesforce.
"""

from __future__ import annotations

import heapq
from typing import Any

from avesa_sandbox.salesforce.plan import Plan
from avesa_sandbox.selection import IndexOrder, Query, id_key, select
from avesa_sandbox.store import TableStore

Record = dict[str, Any]


def _query(plan: Plan, limit: int | None) -> Query:
    return Query(
        id_low=plan.id_low,
        id_high=plan.id_high,
        updated_low=plan.stamp_low,
        updated_high=plan.stamp_high,
        residual=plan.residual,
        ordering=plan.ordering,
        offset=0,
        limit=limit,
    )


def matching_keys(plan: Plan, live: TableStore, deleted: TableStore | None = None) -> list[int]:
    """Keys of the records ``plan`` selects, in its order, after OFFSET and LIMIT."""
    wanted = None if plan.limit is None else plan.offset + plan.limit
    keys = select(live, _query(plan, wanted)).ids
    if deleted is not None and len(deleted):
        extra = select(deleted, _query(plan, wanted)).ids
        if extra:
            keys = _merge(plan, live, deleted, keys, extra)
            if wanted is not None:
                keys = keys[:wanted]
    if plan.offset or plan.limit is not None:
        end = None if plan.limit is None else plan.offset + plan.limit
        keys = keys[plan.offset : end]
    return keys


def _merge(plan: Plan, live: TableStore, deleted: TableStore, first: list[int], second: list[int]) -> list[int]:
    index = plan.ordering.index
    if index is IndexOrder.ID_ASC:
        return list(heapq.merge(first, second))
    if index is IndexOrder.ID_DESC:
        return list(heapq.merge(first, second, reverse=True))
    if index is IndexOrder.UPDATED_ASC:
        stamps = {**{k: live.updated[k] for k in first}, **{k: deleted.updated[k] for k in second}}
        return list(heapq.merge(first, second, key=lambda key: (stamps[key], key)))

    def record(key: int) -> Record:
        found = live.records.get(key)
        return found if found is not None else deleted.records[key]

    merged = sorted(first + second)
    for key_fn, descending in reversed(plan.ordering.keys):
        merged.sort(key=id_key(record, key_fn), reverse=descending)
    return merged
