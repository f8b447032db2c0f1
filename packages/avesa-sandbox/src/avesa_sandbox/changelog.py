"""Ground truth: every version of every record the sandbox ever served.

Tests and benchmarks compare what the pipeline landed with this log. The initial generated data is
version 1 (op ``insert``) of each record; each later insert, update and delete appends one entry
holding the full record as it was (records are never mutated in place, so entries can share the
record objects with the live store at no copying cost).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from avesa_sandbox.clock import format_epoch, parse_timestamp


class Op(StrEnum):
    """Kind of change."""

    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(slots=True, frozen=True)
class ChangeEntry:
    """One version of one record."""

    seq: int
    """1-based position in the instance's log: a stable cursor for incremental reads."""
    table: str
    id: Any
    """The public id (an integer for ConnectWise, text for services with string ids)."""
    op: Op
    version: int
    """1 for the first version of the record, then 2, 3, ..."""
    last_updated: int
    """Source change timestamp (epoch seconds). For a delete: when it was deleted, after the last version."""
    changed_at: str
    """Wall-clock time the change was made (ISO 8601, microseconds, UTC)."""
    record: dict[str, Any]
    """The full record as served (for a delete: its last served version)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the admin API."""
        return {
            "seq": self.seq,
            "table": self.table,
            "id": self.id,
            "op": self.op.value,
            "version": self.version,
            "last_updated": format_epoch(self.last_updated),
            "changed_at": self.changed_at,
            "record": self.record,
        }


class ChangeLog:
    """Append-only list of versions, filterable by table, sequence and wall-clock time."""

    def __init__(self) -> None:
        self._entries: list[ChangeEntry] = []
        self._versions: dict[tuple[str, Any], int] = {}
        self._lock = threading.Lock()

    def append(
        self, table: str, record_id: Any, op: Op, last_updated: int, changed_at: str, record: dict[str, Any]
    ) -> ChangeEntry:
        """Record one change and return its entry."""
        with self._lock:
            key = (table, record_id)
            version = self._versions.get(key, 0) + 1
            self._versions[key] = version
            entry = ChangeEntry(
                seq=len(self._entries) + 1,
                table=table,
                id=record_id,
                op=op,
                version=version,
                last_updated=last_updated,
                changed_at=changed_at,
                record=record,
            )
            self._entries.append(entry)
            return entry

    def extend_initial(
        self, table: str, records: list[dict[str, Any]], ids: list[Any], epochs: list[int], changed_at: str
    ) -> None:
        """Version 1 (insert) of many records at once: the initial data of an instance (``ids``: public ids)."""
        with self._lock:
            seq = len(self._entries)
            versions = self._versions
            entries = self._entries
            for record, record_id, epoch in zip(records, ids, epochs, strict=True):
                seq += 1
                key = (table, record_id)
                versions[key] = versions.get(key, 0) + 1
                entries.append(ChangeEntry(seq, table, record_id, Op.INSERT, versions[key], epoch, changed_at, record))

    def entries(
        self,
        table: str | None = None,
        since: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        record_id: Any = None,
    ) -> list[ChangeEntry]:
        """Entries after ``after_seq``, optionally only one table / record and ``changed_at >= since``.

        ``since`` is an ISO 8601 time (any precision or offset); ValueError if it is not one.
        """
        with self._lock:
            selected = self._entries[max(after_seq, 0) :]
        if table is not None:
            selected = [e for e in selected if e.table == table]
        if record_id is not None:
            selected = [e for e in selected if e.id == record_id]
        if since is not None:
            threshold = parse_timestamp(since)
            selected = [e for e in selected if parse_timestamp(e.changed_at) >= threshold]
        if limit is not None:
            selected = selected[:limit]
        return selected

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget everything (instance reset)."""
        with self._lock:
            self._entries.clear()
            self._versions.clear()
