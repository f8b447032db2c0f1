"""SOQL text for the Salesforce connector: window pages, span, count and id listing of one sObject.

Written here rather than from ``queries.Soql`` because Salesforce needs three things that builder
does not say:

- **Exact millisecond bounds.** ``SystemModstamp`` has millisecond precision. A window bound is
  rounded *up* to the millisecond before it is written: for a millisecond stamp ``s``,
  ``s >= t`` exactly when ``s >= ceil_ms(t)`` and ``s < t`` exactly when ``s < ceil_ms(t)``, so
  ``[start, end)`` stays exact whatever precision the planner's bounds carry. Truncating (the
  ``iso`` format) would read records from before ``start`` and drop those just before ``end``.
  Datetime literals are unquoted (a quoted one is ``INVALID_FIELD``).
- **Orderings other than by Id**: the earliest change of a window is ``ORDER BY SystemModstamp ASC,
  Id ASC LIMIT 1``.
- **Live-only id listing**: ``IsDeleted = false`` (with ``queryAll``, see the connector).

Ids are compared as quoted strings (``Id > '0015g000000f7QWAAY'``), which Salesforce orders like
``ORDER BY Id``. A cursor comes back from a checkpoint, so it is checked to be an id before it enters
a query; names come from the catalog and are checked to be plain SOQL identifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from avesa.catalog.models import TableSpec
from avesa.domain.timeutil import parse_utc

_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_MILLI = timedelta(milliseconds=1)


def soql_datetime(value: datetime) -> str:
    """``2024-01-01T09:30:00.001Z``: the bound rounded up to the millisecond (see the module docstring)."""
    stamp = parse_utc(value)
    if stamp.microsecond % 1000:
        stamp = stamp - timedelta(microseconds=stamp.microsecond % 1000) + _MILLI
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def is_record_id(value: str) -> bool:
    """A 15- or 18-character Salesforce id (nothing that could change a query it is put into)."""
    return bool(_ID.match(value))


def is_name(value: str) -> bool:
    """A plain SOQL identifier: an object or field name, custom ones (``SLA__c``) included."""
    return bool(_NAME.match(value))


@dataclass(frozen=True)
class ObjectQueries:
    """The queries the connector sends for one table (an sObject)."""

    obj: str
    id_field: str
    change_field: str
    deleted_field: str | None = None

    @classmethod
    def for_table(cls, table: TableSpec) -> ObjectQueries:
        assert table.change_field is not None, "Salesforce tables are read by window over their change field"
        return cls(obj=table.path, id_field=table.id_field, change_field=table.change_field,
                   deleted_field=table.deleted_field)

    def _where(self, start: datetime | None, end: datetime | None, after: str | None,
               live_only: bool = False, through: str | None = None) -> str:
        parts = []
        if start is not None:
            parts.append(f"{self.change_field} >= {soql_datetime(start)}")
        if end is not None:
            parts.append(f"{self.change_field} < {soql_datetime(end)}")
        if live_only and self.deleted_field:
            parts.append(f"{self.deleted_field} = false")
        if after is not None:
            if not is_record_id(after):
                raise ValueError(f"{after[:80]!r} is not a Salesforce id")
            parts.append(f"{self.id_field} > '{after}'")
        if through is not None:
            if not is_record_id(through):
                raise ValueError(f"{through[:80]!r} is not a Salesforce id")
            parts.append(f"{self.id_field} <= '{through}'")
        return f" WHERE {' AND '.join(parts)}" if parts else ""

    def page(self, fields: list[str], start: datetime | None, end: datetime | None, after: str | None,
             limit: int) -> str:
        """One keyset page of the window: the records after ``after``, in Id order."""
        return (f"SELECT {', '.join(fields)} FROM {self.obj}{self._where(start, end, after)} "
                f"ORDER BY {self.id_field} ASC LIMIT {limit}")

    def earliest(self, start: datetime | None, end: datetime | None) -> str:
        """The window's earliest change (ties broken by Id, so the answer is stable)."""
        return (f"SELECT {self.id_field}, {self.change_field} FROM {self.obj}{self._where(start, end, None)} "
                f"ORDER BY {self.change_field} ASC, {self.id_field} ASC LIMIT 1")

    def count(self, start: datetime | None, end: datetime | None) -> str:
        return f"SELECT COUNT() FROM {self.obj}{self._where(start, end, None)}"

    def ids(self, after: str | None, limit: int, through: str | None = None) -> str:
        """A page of live ids, whatever their change time (at most ``through``: one range of a listing)."""
        where = self._where(None, None, after, live_only=True, through=through)
        return (f"SELECT {self.id_field} FROM {self.obj}{where} "
                f"ORDER BY {self.id_field} ASC LIMIT {limit}")
