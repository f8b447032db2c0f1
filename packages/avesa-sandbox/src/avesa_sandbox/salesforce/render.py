"""Query result records as JSON bytes: ``{"attributes": {type, url}, <selected fields in order>}``.

The benchmarks share two cores between the sandbox and the pipeline, so a 2,000-record batch
must be cheap to serve. Two paths:

- every field in describe order (a connector that builds its SELECT from describe, or
  ``FIELDS(ALL)``): the projection is the stored record itself, so the store's cached JSON is
  spliced behind the ``attributes`` prefix — no serialization, no extra memory;
- any other column list: a record's projection is serialized once per (object, API version,
  column list) and reused until the record changes. Records are immutable in the store (a change
  replaces the dict), so the cache entry holds the record it was made from and an identity check
  tells whether it is still current. Only a few column lists are cached per object (a connector
  asks for the same ones over and over).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import orjson

from avesa_sandbox.salesforce.schema import object_def
from avesa_sandbox.store import TableStore

Record = dict[str, Any]

SHAPES_PER_OBJECT = 4


def record_url(version: str, obj: str, record_id: str) -> str:
    """``/services/data/v59.0/sobjects/Account/001...``: the record's REST resource."""
    return f"/services/data/v{version}/sobjects/{obj}/{record_id}"


def project(record: Record, obj: str, version: str, columns: tuple[str, ...]) -> Record:
    """The record as a query returns it."""
    out: Record = {"attributes": {"type": obj, "url": record_url(version, obj, record["Id"])}}
    for column in columns:
        out[column] = record.get(column)
    return out


class Renderer:
    """Serialized projections of one org's records, cached per query shape."""

    def __init__(self) -> None:
        self._shapes: dict[str, OrderedDict[tuple[str, tuple[str, ...]], dict[int, tuple[Record, bytes]]]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._shapes.clear()

    def _cache(self, obj: str, version: str, columns: tuple[str, ...]) -> dict[int, tuple[Record, bytes]]:
        with self._lock:
            shapes = self._shapes.setdefault(obj, OrderedDict())
            key = (version, columns)
            cache = shapes.get(key)
            if cache is None:
                cache = shapes[key] = {}
                while len(shapes) > SHAPES_PER_OBJECT:
                    shapes.popitem(last=False)
            else:
                shapes.move_to_end(key)
            return cache

    def records(
        self, obj: str, version: str, columns: tuple[str, ...], items: Iterable[tuple[int, Record, TableStore]]
    ) -> list[bytes]:
        """JSON of each (key, record, its store) projected onto ``columns``.

        Selecting every field in describe order (what a connector building its SELECT from describe,
        or ``FIELDS(ALL)``, asks for) is the stored record itself: its cached JSON from the store is
        reused behind the ``attributes`` prefix, with no serialization at all."""
        if columns == object_def(obj).field_names:
            prefix = b'{"attributes":{"type":"%s","url":"/services/data/v%s/sobjects/%s/' % (
                obj.encode(),
                version.encode(),
                obj.encode(),
            )
            return [
                b'%s%s"},%s' % (prefix, record["Id"].encode(), store.json_bytes(key)[1:])
                for key, record, store in items
            ]
        cache = self._cache(obj, version, columns)
        out = []
        for key, record, _ in items:
            cached = cache.get(key)
            if cached is None or cached[0] is not record:
                cached = (record, orjson.dumps(project(record, obj, version, columns)))
                cache[key] = cached
            out.append(cached[1])
        return out


def query_body(total: int, done: bool, next_url: str | None, records: list[bytes]) -> bytes:
    """``{"totalSize", "done", "nextRecordsUrl"?, "records"}`` assembled from serialized records."""
    head = b'{"totalSize":%d,"done":%s,' % (total, b"true" if done else b"false")
    if next_url is not None:
        head += b'"nextRecordsUrl":' + orjson.dumps(next_url) + b","
    return head + b'"records":[' + b",".join(records) + b"]}"
