"""Field names in queries and ``sysparm_fields``: columns of a table, or dot-walks through references.

``caller_id.company.name`` follows ``incident.caller_id`` into ``sys_user`` and ``company`` into
``core_company``. Only references into tables the sandbox holds can be walked (``task`` references
walk into whichever task table holds the record); a name that resolves to no column is unknown,
which the platform silently ignores.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.servicenow.schema import Column, columns
from avesa_sandbox.servicenow.tables import TABLES

Record = dict[str, Any]
Getter = Callable[[Record, Lookup], str]


@dataclass(frozen=True)
class FieldPath:
    """A column of the table, or one reached by dot-walking references (``caller_id.company.name``)."""

    table: str
    """Table of the final column."""
    column: Column
    getter: Getter
    """Raw value of the final column ("" when empty or unreachable; a reference gives its sys_id)."""


def raw_value(value: Any) -> str:
    """The stored value as text: a reference's sys_id, "" for anything that is not a string."""
    if isinstance(value, dict):
        return value.get("value", "")
    return value if isinstance(value, str) else ""


def _walkable(col: Column) -> str | None:
    """The table a reference column can be dot-walked into, if the sandbox holds it."""
    target = col.reference if col.internal_type == "reference" else None
    if target == "task" or target in TABLES:
        return target
    return None


@functools.lru_cache(maxsize=4096)
def resolve(table: str, name: str) -> FieldPath | None:
    """The column ``name`` denotes in ``table`` (dot-walks included), or None if there is none."""
    parts = name.split(".")
    current = table
    hops: list[tuple[str, str]] = []
    for depth, part in enumerate(parts):
        col = columns(current).get(part)
        if col is None:
            return None
        if depth == len(parts) - 1:
            return FieldPath(current, col, _getter(tuple(hops), part))
        target = _walkable(col)
        if target is None:
            return None
        hops.append((target, part))
        current = target
    return None


def _getter(hops: tuple[tuple[str, str], ...], name: str) -> Getter:
    if not hops:
        return lambda record, lookup: raw_value(record.get(name, ""))

    def walk(record: Record, lookup: Lookup) -> str:
        current: Record | None = record
        for target, column in hops:
            current = lookup.record(target, raw_value(current.get(column, ""))) if current is not None else None
        return raw_value(current.get(name, "")) if current is not None else ""

    return walk
