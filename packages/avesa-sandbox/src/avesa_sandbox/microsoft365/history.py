"""Per-record version history over the ground-truth change log, for delta queries.

A delta round started at change-log sequence ``s0`` and resumed at ``s1`` must know which records
changed in between and what each looked like at ``s0`` (to tell whether a tracked property really
changed, and to return only changed properties under ``Prefer: return=minimal``). The change log is
an append-only list of every version; this index files its entries by record, incrementally (each
call looks only at entries added since the last), so both questions are a lookup and a bisect.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from typing import Any

from avesa_sandbox.changelog import ChangeEntry, ChangeLog, Op

_ABSENT = object()


class VersionIndex:
    """Change-log entries grouped by (table, public id), kept up to date on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget everything (the instance was reset: its change log starts again)."""
        with self._lock:
            self._upto = 0
            self._by_record: dict[tuple[str, Any], list[ChangeEntry]] = {}
            self._changed: OrderedDict[tuple[str, int, int], list[Any]] = OrderedDict()

    def refresh(self, changelog: ChangeLog) -> None:
        """File the entries appended since the last call."""
        with self._lock:
            if len(changelog) < self._upto:  # the log was cleared behind our back
                self._upto = 0
                self._by_record = {}
                self._changed.clear()
            if len(changelog) == self._upto:
                return
            for entry in changelog.entries(after_seq=self._upto):
                self._by_record.setdefault((entry.table, entry.id), []).append(entry)
                self._upto = entry.seq

    def version_at(self, table: str, record_id: Any, seq: int) -> dict[str, Any] | None:
        """The record as it was right after entry ``seq`` (None if it did not exist then)."""
        entries = self._by_record.get((table, record_id), [])
        index = bisect.bisect_right(entries, seq, key=lambda e: e.seq)
        if index == 0:
            return None
        entry = entries[index - 1]
        return None if entry.op is Op.DELETE else entry.record

    def changed_ids(self, changelog: ChangeLog, table: str, after: int, upto: int) -> list[Any]:
        """Public ids of ``table`` with a change in ``(after, upto]``, sorted (ids sort like keys); cached
        per window because a round asks for it once per page."""
        window = (table, after, upto)
        with self._lock:
            cached = self._changed.get(window)
            if cached is not None:
                self._changed.move_to_end(window)
                return cached
        ids = sorted({e.id for e in changelog.entries(table=table, after_seq=after) if e.seq <= upto})
        with self._lock:
            self._changed[window] = ids
            while len(self._changed) > 32:
                self._changed.popitem(last=False)
        return ids
