"""In-memory record store of one table, built to serve pages cheaply.

The benchmarks run the sandbox and the pipeline on the same two cores, so serving a page must cost
little CPU. The store therefore keeps:

- ids sorted, so keyset conditions (``id > N``) are a bisect, not a scan;
- an index of ``(lastUpdated, id)`` as one sorted list of composite integers
  ``epoch << 32 | id``, so a ``lastUpdated`` window is a bisect too;
- each record's serialized JSON (orjson) cached until the record changes, so a response body is a
  join of cached byte strings.

Records are treated as immutable: a change replaces the dict (the change log keeps the old one).
Records are indexed by an integer key (positive, 31 bits) the service simulator derives from the
record: the id itself for ConnectWise, a number encoded in the sys_id / Id / GUID for the others.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson

_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
_MAX_ID = (1 << 31) - 1

Record = dict[str, Any]


def _serialize(record: Record) -> bytes:
    """orjson output, copied to an exactly sized object: orjson's own buffer keeps about twice the
    memory it needs, which for a cache of every record of every instance adds up."""
    return bytes(memoryview(orjson.dumps(record)))


class TableStore:
    """Records of one table keyed by integer key, with key and change-time indexes."""

    def __init__(
        self, name: str, updated_epoch: Callable[[Record], int], key_of: Callable[[Record], int] | None = None
    ) -> None:
        self.name = name
        self._updated_epoch = updated_epoch
        self._key_of = key_of or (lambda record: record.get("id"))  # type: ignore[return-value]
        self.ids: list[int] = []
        self.records: dict[int, Record] = {}
        self.updated: dict[int, int] = {}
        """id -> change timestamp (epoch seconds)."""
        self._updated_keys: list[int] = []
        self._bytes: dict[int, bytes] = {}
        self._splices: dict[int, tuple[str, bytes]] = {}
        """id -> (field, raw bytes) served in place of the field's value (tests' hostile records)."""
        self.generation = 0
        """Bumped on every change: lets callers cache query results per table state."""

    # -- loading and changing -------------------------------------------------------------------

    def load(self, records: Iterable[Record]) -> None:
        """Replace the contents with ``records`` (bulk: one sort instead of many inserts)."""
        self.records = {}
        for record in records:
            record_id = self._check_id(record)
            if record_id in self.records:
                raise ValueError(f"{self.name}: duplicate id {record_id}")
            self.records[record_id] = record
        self.ids = sorted(self.records)
        self._splices = {}
        self.updated = {rid: self._updated_epoch(rec) for rid, rec in self.records.items()}
        self._updated_keys = sorted((epoch << _ID_BITS) | rid for rid, epoch in self.updated.items())
        self._bytes = {}
        self.generation += 1

    def put(self, record: Record) -> Record | None:
        """Insert or replace a record; returns the previous version (None for an insert)."""
        record_id = self._check_id(record)
        previous = self.records.get(record_id)
        epoch = self._updated_epoch(record)
        if previous is None:
            bisect.insort(self.ids, record_id)
        else:
            self._remove_updated_key(record_id)
        self.records[record_id] = record
        self.updated[record_id] = epoch
        bisect.insort(self._updated_keys, (epoch << _ID_BITS) | record_id)
        self._bytes.pop(record_id, None)
        self._splices.pop(record_id, None)
        self.generation += 1
        return previous

    def delete(self, record_id: int) -> Record:
        """Remove a record and return it; KeyError if absent."""
        record = self.records.pop(record_id)
        index = bisect.bisect_left(self.ids, record_id)
        del self.ids[index]
        self._remove_updated_key(record_id)
        del self.updated[record_id]
        self._bytes.pop(record_id, None)
        self._splices.pop(record_id, None)
        self.generation += 1
        return record

    def _remove_updated_key(self, record_id: int) -> None:
        key = (self.updated[record_id] << _ID_BITS) | record_id
        index = bisect.bisect_left(self._updated_keys, key)
        del self._updated_keys[index]

    def _check_id(self, record: Record) -> int:
        record_id = self._key_of(record)
        if not isinstance(record_id, int) or isinstance(record_id, bool) or not 0 < record_id <= _MAX_ID:
            raise ValueError(f"{self.name}: record key must be a positive 31-bit integer, got {record_id!r}")
        return record_id

    # -- reading --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self.records

    def get(self, record_id: int) -> Record | None:
        """The current version of a record, or None."""
        return self.records.get(record_id)

    def max_id(self) -> int:
        """Largest id ever present now (0 when empty)."""
        return self.ids[-1] if self.ids else 0

    def json_bytes(self, record_id: int) -> bytes:
        """Serialized JSON of a record, cached until it changes."""
        cached = self._bytes.get(record_id)
        if cached is None:
            cached = self.spliced(record_id) or _serialize(self.records[record_id])
            self._bytes[record_id] = cached
        return cached

    def json_array(self, record_ids: Iterable[int]) -> bytes:
        """A JSON array of the given records, assembled from cached bytes with a single copy."""
        cache = self._bytes
        parts = [cache.get(record_id) or self.json_bytes(record_id) for record_id in record_ids]
        if not parts:
            return b"[]"
        # bracket the first and last element (small copies) so the big join is the only full copy
        parts[0] = b"[" + parts[0]
        parts[-1] = parts[-1] + b"]"
        return b",".join(parts)

    def splice(self, record_id: int, field: str, value: bytes) -> None:
        """Serve the record with ``value`` — raw bytes, not re-encoded — as ``field``, until it changes:
        how tests make the API send what no serializer would (invalid UTF-8, ``NaN``, nesting past any
        parser's limit) while the record stays indexed under its id and change stamp."""
        if record_id not in self.records:
            raise KeyError(f"{self.name} has no record with id {record_id}")
        self._splices[record_id] = (field, value)
        self._bytes.pop(record_id, None)

    def spliced(self, record_id: int, render: Callable[[Record], bytes] = _serialize) -> bytes | None:
        """The record's bytes as ``render`` makes them, with its splice in place (None: no splice)."""
        splice = self._splices.get(record_id)
        if splice is None:
            return None
        field, value = splice
        placeholder = f"__sandbox_splice_{record_id}__"
        return render({**self.records[record_id], field: placeholder}).replace(orjson.dumps(placeholder), value)

    def prewarm(self) -> None:
        """Serialize every record now, so the first pages served cost no serialization."""
        self._bytes = {rid: _serialize(rec) for rid, rec in self.records.items()}

    # -- index ranges ---------------------------------------------------------------------------

    def id_span(self, low: int | None, high: int | None) -> tuple[int, int]:
        """Positions ``[i, j)`` in ``ids`` of the ids with ``low <= id <= high`` (None: unbounded)."""
        start = 0 if low is None else bisect.bisect_left(self.ids, low)
        end = len(self.ids) if high is None else bisect.bisect_right(self.ids, high)
        return start, max(start, end)

    def updated_span(self, low: int | None, high: int | None) -> tuple[int, int]:
        """Positions ``[a, b)`` in the change-time index of records with ``low <= epoch <= high``."""
        keys = self._updated_keys
        start = 0 if low is None else bisect.bisect_left(keys, max(low, 0) << _ID_BITS)
        if high is None:
            end = len(keys)
        elif high < 0:
            end = 0
        else:
            end = bisect.bisect_right(keys, (high << _ID_BITS) | _ID_MASK)
        return start, max(start, end)

    def ids_by_updated(self, start: int, end: int) -> Iterator[int]:
        """Ids at positions ``[start, end)`` of the change-time index, in (lastUpdated, id) order."""
        keys = self._updated_keys
        for index in range(start, end):
            yield keys[index] & _ID_MASK

    def ids_by_updated_list(
        self, start: int, end: int, id_low: int | None = None, id_high: int | None = None
    ) -> list[int]:
        """Like ``ids_by_updated`` but materialised, optionally keeping only ids in [id_low, id_high]."""
        keys = self._updated_keys[start:end]
        if id_low is None and id_high is None:
            return [key & _ID_MASK for key in keys]
        low = 0 if id_low is None else id_low
        high = _MAX_ID if id_high is None else id_high
        return [rid for key in keys if low <= (rid := key & _ID_MASK) <= high]

    def updated_bounds(self) -> tuple[int, int] | None:
        """Smallest and largest change timestamps present, or None when empty."""
        if not self._updated_keys:
            return None
        return self._updated_keys[0] >> _ID_BITS, self._updated_keys[-1] >> _ID_BITS
