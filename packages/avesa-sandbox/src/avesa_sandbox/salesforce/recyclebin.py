"""The recycle bin: soft-deleted records, as ``queryAll`` and ``sobjects/{Object}/deleted`` show them.

Deleting a Salesforce record moves it to the recycle bin: ``query`` no longer returns it,
``queryAll`` does, with ``IsDeleted = true`` and a ``SystemModstamp`` of the deletion, and the
``deleted`` resource lists its id and deletion date. After 15 days the bin is emptied of it for
good (``earliestDateAvailable`` then moves past its deletion).

Every deletion in the sandbox goes through the shared ``Instance.delete`` (admin API and
``mutate`` alike), which writes a delete entry to the ground-truth change log. The bin is built
from that log (read incrementally, from the last entry seen), so it is complete by construction
and the log and the API agree on every deletion's time. Objects without ``IsDeleted`` (User:
users are deactivated, not deleted) have no bin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa_sandbox.changelog import Op
from avesa_sandbox.salesforce.schema import object_def
from avesa_sandbox.salesforce.timefmt import format_datetime
from avesa_sandbox.store import TableStore

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

RETENTION_SECONDS = 15 * 86400


def deleted_version(record: Record, deleted_at: int) -> Record:
    """The recycle-bin form of a record's last version."""
    return {**record, "IsDeleted": True, "SystemModstamp": format_datetime(deleted_at)}


class RecycleBin:
    """Soft-deleted records per object, kept in stores like the live tables (so queries use the same engine)."""

    def __init__(self, updated_epoch: Callable[[Record], int], key_of: Callable[[Record], int]) -> None:
        self._updated_epoch = updated_epoch
        self._key_of = key_of
        self._lock = threading.Lock()
        self.stores: dict[str, TableStore] = {}
        self.purged_until: dict[str, int] = {}
        """Per object: deletion time of the last record purged for good (``earliestDateAvailable``)."""
        self._seen = 0

    def reset(self, objects: list[str]) -> None:
        """Empty bins for the deletable objects (instance reset: the change log starts over too)."""
        with self._lock:
            self.stores = {
                name: TableStore(name, self._updated_epoch, self._key_of)
                for name in objects
                if object_def(name).deletable
            }
            self.purged_until = {}
            self._seen = 0

    def sync(self, instance: Instance) -> None:
        """Take in the deletions logged since the last call, and purge what is past retention."""
        with self._lock:
            if len(instance.changelog) < self._seen:  # the log was cleared behind our back
                self._seen = 0
            for entry in instance.changelog.entries(after_seq=self._seen):
                store = self.stores.get(entry.table)
                if store is not None:
                    if entry.op is Op.DELETE:
                        store.put(deleted_version(entry.record, entry.last_updated))
                    elif len(store) and (key := self._key_of(entry.record)) in store:
                        store.delete(key)  # the same Id inserted again: no longer in the bin
                self._seen = entry.seq
            self._purge(instance.clock.now() - RETENTION_SECONDS)

    def _purge(self, before: int) -> None:
        for name, store in self.stores.items():
            start, end = store.updated_span(None, before - 1)
            if end <= start:
                continue
            expired = list(store.ids_by_updated(start, end))
            self.purged_until[name] = max(store.updated[key] for key in expired)
            for key in expired:
                store.delete(key)

    def store(self, obj: str) -> TableStore | None:
        """The bin of an object (None for objects that cannot be deleted)."""
        return self.stores.get(obj)
