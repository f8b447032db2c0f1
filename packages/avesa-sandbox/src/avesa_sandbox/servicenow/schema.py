"""Column definitions of the simulated ServiceNow tables: what a record holds and how each value is typed.

ServiceNow's Table API returns every column of a table in every record (empty ones as ``""``), all
values as strings, reference columns as ``{"link", "value"}``. So the sandbox needs each table's full
column list with its internal type and referenced table: it takes them from the reference schema
file (``tables-subset.json``, the ServiceNow SDK's table definitions, shipped unchanged) and, for the
tables that file lacks (``sys_user_group``, ``time_card``, ``task_time_worked``, ``customer_account``,
``customer_contact``, ``sys_audit_delete``), from ``extra_tables`` (modelled on ServiceNow's
documentation). Each table also gets a few ``u_`` custom columns, as real instances have.

Columns the dictionary marks inactive and one-way password columns are not served (the Table API
does not return them).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from avesa_sandbox.servicenow.extra_tables import CUSTOM_COLUMNS, EXTRA_TABLES

SCHEMA_FILE = "tables-subset.json"

REFERENCE_TYPES = frozenset({"reference", "domain_id"})
"""Internal types served as ``{"link", "value"}`` objects."""

NUMERIC_TYPES = frozenset({"integer", "decimal", "float", "currency", "longint", "price"})
DATE_TIME_TYPES = frozenset({"glide_date_time", "due_date", "calendar_date_time", "datetime"})
DATE_TYPES = frozenset({"glide_date", "date"})
BOOLEAN_TYPES = frozenset({"boolean"})

_HIDDEN_TYPES = frozenset({"password", "password2"})

DOMAIN_TABLE = "sys_user_group"
"""Domain references (``sys_domain``) link to ``sys_user_group`` records (``global``)."""


@dataclass(frozen=True)
class Column:
    """One served column."""

    name: str
    internal_type: str
    reference: str | None = None
    """Referenced table (reference and glide_list columns)."""
    default: str = ""
    """Value of a new record when nothing else sets it (``javascript:`` defaults are not evaluated: "")."""
    max_length: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def is_reference(self) -> bool:
        return self.internal_type in REFERENCE_TYPES

    @property
    def link_table(self) -> str | None:
        """Table a reference value's link points into."""
        if self.internal_type == "domain_id":
            return self.reference or DOMAIN_TABLE
        return self.reference if self.is_reference else None


@functools.cache
def reference_document() -> dict[str, Any]:
    """The packaged ServiceNow table definitions (parsed once)."""
    text = resources.files("avesa_sandbox.servicenow").joinpath(SCHEMA_FILE).read_text("utf-8")
    return json.loads(text)


def _default(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = str(raw)
    return "" if text.startswith("javascript:") else text


def _column(spec: dict[str, Any]) -> Column:
    choices = spec.get("choices")
    default = _default(spec.get("default"))
    if spec["internal_type"] == "domain_id" and not default:
        default = "global"  # records without a domain of their own live in the global domain
    return Column(
        name=spec["name"],
        internal_type=spec["internal_type"],
        reference=spec.get("reference"),
        default=default,
        max_length=spec.get("max_length"),
        choices=tuple(choices) if isinstance(choices, dict) else (),
    )


def _reference_columns(table: str) -> list[dict[str, Any]]:
    definition = reference_document()["tables"][table]
    return list(definition.get("effective_columns") or definition["own_columns"])


@functools.cache
def columns(table: str) -> dict[str, Column]:
    """Served columns of ``table`` by name (reference file or extra definitions, plus custom columns)."""
    if table in reference_document()["tables"]:
        specs = _reference_columns(table)
    else:
        extra = EXTRA_TABLES[table]
        specs = list(columns_of_parent(extra.get("extends"))) + list(extra["columns"])
    served: dict[str, Column] = {}
    for spec in specs:
        if spec.get("active") is False or spec["internal_type"] in _HIDDEN_TYPES:
            continue
        served[spec["name"]] = _column(spec)
    for spec in CUSTOM_COLUMNS.get(table, ()):
        served[spec["name"]] = _column(spec)
    return served


def columns_of_parent(parent: str | None) -> list[dict[str, Any]]:
    """Raw column specs a table inherits (``customer_account`` extends ``core_company``...), custom ones included."""
    if parent is None:
        return []
    own = (
        _reference_columns(parent)
        if parent in reference_document()["tables"]
        else list(EXTRA_TABLES[parent]["columns"])
    )
    return own + list(CUSTOM_COLUMNS.get(parent, ()))


def column(table: str, name: str) -> Column | None:
    """One column of a table, or None if the table has no such (served) column."""
    return columns(table).get(name)


@functools.cache
def blank_record(table: str) -> dict[str, Any]:
    """Every column at its default: the base every generated record starts from (copy before use)."""
    return {name: col.default for name, col in columns(table).items()}
