"""Records in the shape the Table API serves them: every column, every value a string, references as objects.

A reference value is ``{"link": "{instance}/api/now/table/{table}/{sys_id}", "value": sys_id}`` (or
``""`` when empty); the link names the table the column references (``task`` for
``time_card.task``, even though the record is an incident), as ServiceNow's do. Reference objects
are interned per instance (records never change them in place), so ten thousand incidents of one
caller share one dict.

``Shaper.normalize`` turns what an admin or a mutation writes (numbers, booleans, bare sys_ids,
``None`` for "clear") into the served shape, so every stored version is one the real API could
return.
"""

from __future__ import annotations

from typing import Any

from avesa_sandbox.servicenow.schema import BOOLEAN_TYPES, Column, blank_record, columns

Record = dict[str, Any]


def text(value: Any) -> str:
    """A value as the Table API shows it: ``"true"``, ``"3"``, ``"12.5"``, ``""`` for nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


class Shaper:
    """Builds served values for one instance (its links carry the instance's address)."""

    def __init__(self, api_base: str) -> None:
        self.api_base = api_base.rstrip("/")
        self._refs: dict[tuple[str, str], dict[str, str]] = {}
        self._blanks: dict[str, Record] = {}

    def ref(self, table: str, sys_id: str) -> dict[str, str] | str:
        """The reference object to record ``sys_id`` of ``table`` ("" for no record)."""
        if not sys_id:
            return ""
        key = (table, sys_id)
        cached = self._refs.get(key)
        if cached is None:
            cached = self._refs[key] = {"link": f"{self.api_base}/table/{table}/{sys_id}", "value": sys_id}
        return cached

    def blank(self, table: str) -> Record:
        """A new dict with every column of ``table`` at its default (domain references resolved)."""
        cached = self._blanks.get(table)
        if cached is None:
            cached = dict(blank_record(table))
            for name, col in columns(table).items():
                if col.is_reference and cached[name]:
                    cached[name] = self.ref(col.link_table or "", cached[name])
            self._blanks[table] = cached
        return dict(cached)

    def value(self, col: Column, raw: Any) -> Any:
        """``raw`` as column ``col`` serves it."""
        if col.is_reference:
            if isinstance(raw, dict):
                raw = raw.get("value", "")
            return self.ref(col.link_table or "", text(raw))
        if col.internal_type in BOOLEAN_TYPES and isinstance(raw, str) and raw.lower() in ("1", "0", "true", "false"):
            return "true" if raw.lower() in ("1", "true") else "false"
        return text(raw)

    def normalize(self, table: str, record: Record) -> Record:
        """Every column present, in served form; unknown ``u_`` fields kept as text, other unknown keys dropped."""
        cols = columns(table)
        out: Record = {}
        for name, col in cols.items():
            out[name] = self.value(col, record.get(name))
        for name, raw in record.items():
            if name not in cols and name.startswith("u_"):
                out[name] = text(raw)
        return out
