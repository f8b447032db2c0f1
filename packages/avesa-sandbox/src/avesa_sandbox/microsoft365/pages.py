"""Serving collection pages cheaply: cached projections, keyset page selection, body assembly.

The benchmarks share two cores between the sandbox and the pipeline, so a page must cost little
CPU. A record's full JSON is cached by the store; a projection (Graph's default user properties, or
a client's ``$select``) is cached here per record version (a record is replaced, never mutated, when
it changes, so an identity check tells a stale entry), for the few property sets clients repeat
page after page. A response body is then a join of cached byte strings.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from avesa_sandbox.microsoft365.query import project
from avesa_sandbox.store import TableStore

Record = dict[str, Any]

_VARIANTS = 6
"""Property sets cached at once (per simulator, i.e. per tenant)."""


class Projections:
    """Serialized projections of records, cached per (table, property set) and record version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._caches: OrderedDict[tuple[str, tuple[str, ...]], dict[int, tuple[Record, bytes]]] = OrderedDict()

    def clear(self) -> None:
        with self._lock:
            self._caches.clear()

    def _cache(self, table: str, names: tuple[str, ...]) -> dict[int, tuple[Record, bytes]]:
        key = (table, names)
        with self._lock:
            cache = self._caches.get(key)
            if cache is None:
                cache = self._caches[key] = {}
                while len(self._caches) > _VARIANTS:
                    self._caches.popitem(last=False)
            else:
                self._caches.move_to_end(key)
            return cache

    def many(self, store: TableStore, keys: list[int], names: tuple[str, ...] | None) -> list[bytes]:
        """JSON of each record projected on ``names`` (None: the whole record)."""
        if names is None:
            return [store.json_bytes(key) for key in keys]
        cache = self._cache(store.name, names)
        out = []
        records = store.records

        def render(record: Record) -> bytes:
            return orjson.dumps(project(record, names))

        for key in keys:
            spliced = store.spliced(key, render)
            if spliced is not None:
                out.append(spliced)
                continue
            record = records[key]
            hit = cache.get(key)
            if hit is None or hit[0] is not record:
                hit = (record, orjson.dumps(project(record, names)))
                cache[key] = hit
            out.append(hit[1])
        return out


def keyset_page(
    store: TableStore, after: int | None, size: int, predicate: Callable[[Record], bool] | None
) -> tuple[list[int], bool]:
    """Keys of up to ``size`` records after key ``after`` (in key order) and whether more follow."""
    ids = store.ids
    start = 0 if after is None else bisect.bisect_right(ids, after)
    if predicate is None:
        page = ids[start : start + size]
        return page, start + size < len(ids)
    records = store.records
    page = []
    index = start
    while index < len(ids) and len(page) < size:
        if predicate(records[ids[index]]):
            page.append(ids[index])
        index += 1
    more = any(predicate(records[ids[i]]) for i in range(index, len(ids)))
    return page, more


def count(store: TableStore, predicate: Callable[[Record], bool] | None) -> int:
    if predicate is None:
        return len(store)
    return sum(1 for record in store.records.values() if predicate(record))


def collection(
    context: str,
    items: list[bytes],
    *,
    count: int | None = None,
    next_link: str | None = None,
    delta_link: str | None = None,
) -> bytes:
    """A Graph collection response body assembled around pre-serialized items."""
    parts = [b'{"@odata.context":', orjson.dumps(context)]
    if count is not None:
        parts += [b',"@odata.count":', str(count).encode()]
    if next_link is not None:
        parts += [b',"@odata.nextLink":', orjson.dumps(next_link)]
    if delta_link is not None:
        parts += [b',"@odata.deltaLink":', orjson.dumps(delta_link)]
    parts += [b',"value":[', b",".join(items), b"]}"]
    return b"".join(parts)


def entity(context: str, item: bytes) -> bytes:
    """A single-entity response: the object with ``@odata.context`` first."""
    if item == b"{}":
        return b'{"@odata.context":' + orjson.dumps(context) + b"}"
    return b'{"@odata.context":' + orjson.dumps(context) + b"," + item[1:]
