"""How a stored record is served: ``sysparm_fields``, ``sysparm_display_value`` and reference links.

Stored records hold the default representation (``sysparm_display_value=false``: values, references
as ``{"link", "value"}``). The other forms are derived per request:

- ``sysparm_exclude_reference_link=true``: a reference is its sys_id (or display value) alone;
- ``sysparm_display_value=true``: display values: choice labels (``state`` "2" -> "In Progress"),
  integers with thousands separators, durations in words, references as
  ``{"display_value", "link"}`` (the display value alone without links);
- ``sysparm_display_value=all``: ``{"display_value", "value"}`` for every field, plus ``link`` for
  references;
- ``sysparm_fields``: only the named fields, in that order; dot-walked names (``caller_id.email``)
  are served under that name; unknown names are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from avesa_sandbox.servicenow import vocab
from avesa_sandbox.servicenow.lookup import Lookup
from avesa_sandbox.servicenow.paths import FieldPath, resolve
from avesa_sandbox.servicenow.schema import Column, columns
from avesa_sandbox.servicenow.tables import TABLES
from avesa_sandbox.servicenow.timefmt import duration_display

Record = dict[str, Any]

_CLASS_LABELS = {cls: label for cls, label, *_ in vocab.CI_CLASSES} | {
    name: definition.label for name, definition in TABLES.items()
}


@dataclass(frozen=True)
class View:
    """The representation a request asked for."""

    display: str = "false"
    """``false``, ``true`` or ``all``."""
    exclude_links: bool = False
    fields: tuple[str, ...] | None = None

    @property
    def is_default(self) -> bool:
        return self.display == "false" and not self.exclude_links and self.fields is None


def display_value(table: str, col: Column, raw: Any, lookup: Lookup) -> str:
    """What the platform displays for a stored value of column ``col``."""
    if isinstance(raw, dict):
        return lookup.display(col.link_table or "", raw.get("value", ""))
    if not isinstance(raw, str) or raw == "":
        return ""
    label = vocab.choice_label(table, col.name, raw)
    if label is not None:
        return label
    kind = col.internal_type
    if kind == "integer":
        try:
            return f"{int(raw):,}"
        except ValueError:
            return raw
    if kind == "currency":
        try:
            return f"${float(raw):,.2f}"
        except ValueError:
            return raw
    if kind == "glide_duration":
        return duration_display(raw)
    if kind == "sys_class_name":
        return _CLASS_LABELS.get(raw, raw)
    if kind == "glide_list" and col.reference:
        return ", ".join(lookup.display(col.reference, part) or part for part in raw.split(",") if part)
    return raw


def _render(table: str, col: Column, raw: Any, view: View, lookup: Lookup) -> Any:
    if view.display == "false":
        if view.exclude_links and isinstance(raw, dict):
            return raw.get("value", "")
        return raw
    shown = display_value(table, col, raw, lookup)
    if view.display == "true":
        if isinstance(raw, dict) and not view.exclude_links:
            return {"display_value": shown, "link": raw.get("link", "")}
        return shown
    if isinstance(raw, dict):
        out = {"display_value": shown, "value": raw.get("value", "")}
        if not view.exclude_links:
            out["link"] = raw.get("link", "")
        return out
    return {"display_value": shown, "value": raw}


_TEXT = Column(name="", internal_type="string")
"""How columns the dictionary does not know (ad-hoc ``u_`` fields) are rendered."""


class Renderer:
    """Turns stored records of one table into served dicts for one view."""

    def __init__(self, table: str, view: View, lookup: Lookup) -> None:
        self.table = table
        self.view = view
        self.lookup = lookup
        self._paths: list[tuple[str, FieldPath]] | None = None
        if view.fields is not None:
            self._paths = [(name, path) for name in view.fields if (path := resolve(table, name)) is not None]

    def render(self, record: Record) -> Record:
        view, lookup, table = self.view, self.lookup, self.table
        if self._paths is None:
            cols = columns(table)
            out: Record = {}
            for name, raw in record.items():
                col = cols.get(name)
                out[name] = _render(table, col or _TEXT, raw, view, lookup)
            return out
        out = {}
        for name, path in self._paths:
            raw = record.get(name, "") if "." not in name else self._walk(record, name)
            out[name] = _render(path.table, path.column, raw, view, lookup)
        return out

    def _walk(self, record: Record, name: str) -> Any:
        """Stored value at a dot-walked path (a reference object for a reference), "" if unreachable."""
        current: Record | None = record
        table = self.table
        parts = name.split(".")
        for part in parts[:-1]:
            col = columns(table).get(part)
            value = current.get(part) if current is not None else None
            if col is None or not isinstance(value, dict):
                return ""
            found = self.lookup.find(col.reference or "", value.get("value", ""))
            if found is None:
                return ""
            table = col.reference or ""
            current = found[1]
        return current.get(parts[-1], "") if current is not None else ""
