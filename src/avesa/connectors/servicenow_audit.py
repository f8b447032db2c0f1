"""ServiceNow's ``sys_audit_delete``: one row per deleted record (``tablename``, ``documentkey`` = the
deleted sys_id, ``sys_created_on`` = when it was deleted). Read per chunk window, it lets an
incremental run close deleted keys at their real deletion time instead of waiting for the next id
reconciliation.

The audit row's ``payload`` is the whole deleted record as XML — password hashes included on
``sys_user`` — so it is never asked for (``sysparm_fields``), and what lands is rebuilt from the four
fields read: a tombstone carries the deleted key and when, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson

AUDIT_TABLE = "sys_audit_delete"
AUDIT_FIELDS = ("sys_id", "tablename", "documentkey", "sys_created_on")
AUDIT_CURSOR_PREFIX = "audit:"
"""A chunk cursor in the audit phase: ``audit:`` (table done, audit from the start) or ``audit:<sys_id>``."""


class _AuditRow(msgspec.Struct):
    sys_id: str = ""
    tablename: str = ""
    documentkey: str = ""
    sys_created_on: str = ""


class _AuditBody(msgspec.Struct):
    result: list[_AuditRow] | None = None


_DECODE = msgspec.json.Decoder(_AuditBody)


@dataclass(frozen=True, slots=True)
class AuditRow:
    audit_id: str
    table: str
    deleted_id: str
    deleted_at: str

    def tombstone(self) -> bytes:
        """The record that lands: the audit row's own fields, never its payload."""
        return orjson.dumps({"sys_id": self.audit_id, "tablename": self.table, "documentkey": self.deleted_id,
                             "sys_created_on": self.deleted_at})


def read_audit(body: bytes) -> list[AuditRow]:
    """Raises msgspec.DecodeError / ValidationError / ValueError when the body is not an audit list."""
    try:
        decoded = _DECODE.decode(body)
    except RecursionError:
        raise ValueError("JSON nested deeper than the decoder's limit") from None
    if decoded.result is None:
        raise ValueError("the body has no 'result' list")
    return [AuditRow(r.sys_id, r.tablename, r.documentkey, r.sys_created_on) for r in decoded.result]


def audit_query(table: str, start: str | None, end: str, after: str | None) -> str:
    """``tablename=T^sys_created_on>=A^sys_created_on<B^sys_id>C^ORDERBYsys_id``: documented columns and
    operators only, as for every query (an ignored part would widen the answer silently)."""
    parts = [f"tablename={table}", *([f"sys_created_on>={start}"] if start else []), f"sys_created_on<{end}"]
    if after:
        parts.append(f"sys_id>{after}")
    parts.append("ORDERBYsys_id")
    return "^".join(parts)


def audit_params(table: str, start: str | None, end: str, after: str | None, page_size: int,
                 fields: tuple[str, ...] = AUDIT_FIELDS) -> dict[str, Any]:
    return {"sysparm_query": audit_query(table, start, end, after), "sysparm_fields": ",".join(fields),
            "sysparm_limit": page_size, "sysparm_exclude_reference_link": "true"}


def problem(rows: list[AuditRow], table: str, start: datetime, end: datetime, after: str | None,
            parse: Any) -> str | None:
    """Why a page breaks the query it answers (wrong table, outside the window, not past the cursor,
    not ascending), or None. ``parse`` reads a ServiceNow timestamp."""
    previous = after
    for row in rows:
        if not row.audit_id or not row.deleted_id:
            return f"an audit row without sys_id or documentkey ({row.audit_id!r}, {row.deleted_id!r})"
        if row.table != table:
            return f"audit row {row.audit_id} is for table {row.table!r}, not {table!r}"
        try:
            stamp = parse(row.deleted_at)
        except (TypeError, ValueError):
            return f"audit row {row.audit_id}: sys_created_on {row.deleted_at!r} is not a timestamp"
        if not start <= stamp < end:
            return f"audit row {row.audit_id} deleted at {row.deleted_at}, outside the requested range"
        if previous is not None and row.audit_id <= previous:
            return f"audit sys_ids not ascending past the cursor ({row.audit_id} <= {previous})"
        previous = row.audit_id
    return None
