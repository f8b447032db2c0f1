"""Following references inside one instance: dot-walked fields, display values, ``task`` records.

A reference column names the table it points into (``sys_user``); ``task`` references (a time
card's task) point into whichever task table holds the sys_id (incident, problem, change_request).
References into tables the sandbox does not serve (departments, locations, the global domain)
resolve to fixed display names and no record.
"""

from __future__ import annotations

from typing import Any

from avesa_sandbox.servicenow.builders import STATIC_NAMES
from avesa_sandbox.servicenow.ids import key_or_none
from avesa_sandbox.servicenow.tables import TABLES, TASK_TABLES
from avesa_sandbox.store import TableStore

Record = dict[str, Any]


class Lookup:
    """Record and display-value lookups over an instance's stores (use under the instance lock)."""

    def __init__(self, stores: dict[str, TableStore]) -> None:
        self.stores = stores

    def find(self, table: str, sys_id: str) -> tuple[str, Record] | None:
        """(actual table, record) of a reference target, or None if it does not exist (here)."""
        if not sys_id:
            return None
        candidates = TASK_TABLES if table == "task" else (table,)
        for name in candidates:
            store = self.stores.get(name)
            if store is None:
                continue
            key = key_or_none(name, sys_id)
            if key is not None and (record := store.get(key)) is not None:
                return name, record
        return None

    def record(self, table: str, sys_id: str) -> Record | None:
        found = self.find(table, sys_id)
        return found[1] if found else None

    def display(self, table: str, sys_id: str) -> str:
        """The display value of the record a reference points at ("" if there is none)."""
        static = STATIC_NAMES.get((table, sys_id))
        if static is not None:
            return static
        found = self.find(table, sys_id)
        if found is None:
            return ""
        actual, record = found
        value = record.get(TABLES[actual].display_field, "")
        return value if isinstance(value, str) else ""
