"""Response bodies of the Table API, built as cheaply as the request allows.

The benchmarks run the sandbox and the pipeline on the same two cores, so the two representations a
connector pages through most are served from cached bytes: the default one (the store's own cache)
and the one without reference links (``sysparm_exclude_reference_link=true``), cached here per
record object (a changed record is a new object, so a stale entry can never match). Display values
and field selections depend on other records or on the request and are rendered per request.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from avesa_sandbox.servicenow.display import Renderer, View
from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.store import TableStore

Record = dict[str, Any]


def _without_links(record: Record) -> Record:
    return {k: (v.get("value", "") if isinstance(v, dict) else v) for k, v in record.items()}


class LinklessCache:
    """Serialized link-free records of one instance: (table, key) -> (record object, bytes)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int], tuple[Record, bytes]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, table: str, key: int, record: Record) -> bytes:
        entry = self._cache.get((table, key))
        if entry is not None and entry[0] is record:
            return entry[1]
        body = bytes(memoryview(orjson.dumps(_without_links(record))))
        self._cache[(table, key)] = (record, body)
        return body


def _linkless_bytes(record: Record) -> bytes:
    return orjson.dumps(_without_links(record))


def _join(parts: list[bytes]) -> bytes:
    return b"[" + b",".join(parts) + b"]"


def list_body(store: TableStore, keys: Iterable[int], view: View, lookup: Lookup, linkless: LinklessCache) -> bytes:
    """``{"result": [...]}`` of the records at ``keys`` in ``view``."""
    if view.is_default:
        array = store.json_array(keys)
    elif view.display == "false" and view.exclude_links and view.fields is None:
        records = store.records
        array = _join([store.spliced(key, _linkless_bytes) or linkless.get(store.name, key, records[key])
                       for key in keys])
    else:
        renderer = Renderer(store.name, view, lookup)
        records = store.records
        array = orjson.dumps([renderer.render(records[key]) for key in keys])
    return b'{"result":' + array + b"}"


def record_body(store: TableStore, key: int, view: View, lookup: Lookup, linkless: LinklessCache) -> bytes:
    """``{"result": {...}}`` of one record in ``view``."""
    if view.is_default:
        item = store.json_bytes(key)
    elif view.display == "false" and view.exclude_links and view.fields is None:
        item = store.spliced(key, _linkless_bytes) or linkless.get(store.name, key, store.records[key])
    else:
        item = orjson.dumps(Renderer(store.name, view, lookup).render(store.records[key]))
    return b'{"result":' + item + b"}"
