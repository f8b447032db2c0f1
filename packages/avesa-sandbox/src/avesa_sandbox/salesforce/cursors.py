"""Query cursors (query locators): the result of a query that spans several batches.

Like Salesforce, a query's result set is fixed when the query runs: the cursor snapshots the
matching record keys in order, and ``nextRecordsUrl`` (``/services/data/vXX.X/query/01g...-2000``)
reads the next batch from that snapshot, so records inserted or changed meanwhile do not shift
the batches. Field values are read when a batch is served (a record changed since shows its new
values; one deleted since is left out of a ``query`` batch and shows as deleted in a ``queryAll``).

Limits as documented for the real API: a cursor expires after 15 minutes without use
(``INVALID_QUERY_LOCATOR``), and one user has at most 10 open cursors: opening an eleventh releases
the oldest. Cursors whose last batch has been served are released first (they stay readable
until then, so a client may retry a last batch that failed in transit).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from avesa_sandbox.salesforce import ids

CURSOR_TTL_SECONDS = 15 * 60
MAX_OPEN_CURSORS = 10


@dataclass
class Cursor:
    """The snapshot of one query's result."""

    locator: str
    obj: str
    keys: list[int]
    columns: tuple[str, ...]
    include_deleted: bool
    batch_size: int
    last_used: float = field(default=0.0)
    finished: bool = False
    """Its last batch has been served: the first to go when too many cursors are open."""


class CursorStore:
    """Open cursors of one org (the sandbox has one API user per org)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._counter = 0x1F40_0000
        self._lock = threading.Lock()
        self.ttl_seconds: float = CURSOR_TTL_SECONDS
        self.max_open: int = MAX_OPEN_CURSORS

    def open(
        self, obj: str, keys: list[int], columns: tuple[str, ...], include_deleted: bool, batch_size: int
    ) -> Cursor:
        """A new cursor (releasing the oldest if too many are open)."""
        with self._lock:
            self._counter += 1
            cursor = Cursor(
                locator=ids.encode("01g", self._counter),
                obj=obj,
                keys=keys,
                columns=columns,
                include_deleted=include_deleted,
                batch_size=batch_size,
                last_used=self._monotonic(),
            )
            self._cursors[cursor.locator] = cursor
            while len(self._cursors) > self.max_open:
                finished = next((c.locator for c in self._cursors.values() if c.finished), None)
                if finished is not None:
                    del self._cursors[finished]
                else:
                    self._cursors.popitem(last=False)
            return cursor

    def get(self, locator: str) -> Cursor | None:
        """The live cursor of a locator (its idle time restarts), or None if unknown or expired."""
        now = self._monotonic()
        with self._lock:
            cursor = self._cursors.get(locator)
            if cursor is None:
                return None
            if now - cursor.last_used > self.ttl_seconds:
                del self._cursors[locator]
                return None
            cursor.last_used = now
            return cursor

    def release(self, locator: str) -> None:
        with self._lock:
            self._cursors.pop(locator, None)

    def clear(self) -> None:
        with self._lock:
            self._cursors.clear()

    def __len__(self) -> int:
        return len(self._cursors)
