"""The ServiceNow tables the sandbox serves, their display fields and numbers, and sizes per scale.

Table names are the real ones (``incident``, ``sys_user``...): they are the URL path segment, the
admin API's table names and the change log's. ``sys_audit_delete`` is served read-only: it is filled
from the change log (one row per deleted record), never generated or mutated.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.scales import grown, scale_counts
from avesa_sandbox.servicenow.extra_tables import EXTRA_TABLES
from avesa_sandbox.servicenow.schema import reference_document


@dataclass(frozen=True)
class TableDef:
    """One served table."""

    name: str
    label: str
    display_field: str
    """Column whose value is the record's display value (references show it)."""
    number_prefix: str | None = None
    """Auto-number prefix (``INC``) and first number, for tables that number their records."""
    first_number: int = 0
    parent: str | None = None
    """The table it extends, if any (for links and choice lists)."""


def _label(name: str) -> str:
    definition = reference_document()["tables"].get(name)
    return definition["label"] if definition else EXTRA_TABLES[name]["label"]


TABLES: dict[str, TableDef] = {
    t.name: t
    for t in (
        TableDef("core_company", _label("core_company"), "name"),
        TableDef("sys_user", _label("sys_user"), "name"),
        TableDef("sys_user_group", _label("sys_user_group"), "name"),
        TableDef("customer_account", _label("customer_account"), "name", "ACC", 1000, "core_company"),
        TableDef("customer_contact", _label("customer_contact"), "name", parent="sys_user"),
        TableDef("cmdb_ci", _label("cmdb_ci"), "name"),
        TableDef("change_request", _label("change_request"), "number", "CHG", 30000, "task"),
        TableDef("problem", _label("problem"), "number", "PRB", 40000, "task"),
        TableDef("incident", _label("incident"), "number", "INC", 10000, "task"),
        TableDef("time_card", _label("time_card"), "sys_created_on"),
        TableDef("task_time_worked", _label("task_time_worked"), "sys_created_on"),
        TableDef("sys_audit_delete", _label("sys_audit_delete"), "display_value"),
    )
}
"""Table -> definition, in generation order (referenced tables first)."""

DATA_TABLES = tuple(name for name in TABLES if name != "sys_audit_delete")
"""Tables with generated data that mutate and the admin API change."""

AUDIT_TABLE = "sys_audit_delete"

TASK_TABLES = ("incident", "problem", "change_request")
"""Served tables that extend ``task``: a ``task`` reference (``time_card.task``) points into one of them."""

_BASE = {
    "core_company": 120,
    "sys_user": 600,
    "sys_user_group": 14,
    "customer_account": 80,
    "customer_contact": 400,
    "cmdb_ci": 800,
    "change_request": 250,
    "problem": 100,
    "incident": 2000,
    "time_card": 5000,
    "task_time_worked": 3000,
}

SCALES: dict[str, dict[str, int]] = grown(
    tiny={
        "core_company": 10,
        "sys_user": 40,
        "sys_user_group": 6,
        "customer_account": 8,
        "customer_contact": 30,
        "cmdb_ci": 30,
        "change_request": 15,
        "problem": 10,
        "incident": 80,
        "time_card": 150,
        "task_time_worked": 90,
    },
    small=_BASE,
    medium={"sys_user_group": 14},
    large={"sys_user_group": 14},
)
"""Record counts per table for each scale preset (``medium`` has 25,000 time cards)."""


def resolve_table(name: str) -> str:
    """The table of a name; KeyError naming the known tables otherwise."""
    if name in TABLES:
        return name
    raise KeyError(f"unknown ServiceNow table {name!r}; known: {', '.join(sorted(TABLES))}")


def table_counts(scale: str, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Counts for a scale preset, with per-table overrides."""
    return scale_counts(SCALES, scale, overrides, _counted_table)


def _counted_table(name: str) -> str:
    """The table of a name given a count; ValueError for the audit table, which is never generated."""
    table = resolve_table(name)
    if table not in DATA_TABLES:
        raise ValueError(f"{table} is filled from the change log; it has no count")
    return table
