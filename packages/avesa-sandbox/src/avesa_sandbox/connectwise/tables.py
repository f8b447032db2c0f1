"""The ConnectWise endpoints the sandbox serves, and how big each table is per scale.

The endpoint path (``service/tickets``) is a table's name everywhere in the sandbox, as it is in
the pipeline's catalog; a short alias (``tickets``) is accepted by the admin API for convenience.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.scales import grown, scale_counts


@dataclass(frozen=True)
class TableDef:
    """One ConnectWise list endpoint."""

    endpoint: str
    schema: str
    """Record schema name in the OpenAPI document."""
    alias: str
    noun: str
    """How ConnectWise names the entity in error messages."""
    first_id: int
    """Ids of generated records start here (real ConnectWise ids are not small)."""
    optional: bool
    """Not one of the four tables the pipeline enables by default."""


TABLES: dict[str, TableDef] = {
    t.endpoint: t
    for t in (
        TableDef("system/members", "Member", "members", "Member", 140, True),
        TableDef("company/companies", "Company", "companies", "Company", 250, False),
        TableDef("company/contacts", "Contact", "contacts", "Contact", 1200, False),
        TableDef("finance/agreements", "Agreement", "agreements", "Agreement", 30, True),
        TableDef("project/projects", "Project", "projects", "Project", 12, True),
        TableDef("service/tickets", "Ticket", "tickets", "Ticket", 180000, False),
        TableDef("time/entries", "TimeEntry", "time_entries", "TimeEntry", 2400000, False),
        TableDef("procurement/products", "ProductItem", "products", "ProductItem", 5000, True),
        # generated after the eight above, each from its own random stream (see extra_tables)
        TableDef("service/boards", "Board", "boards", "Board", 1, True),
        TableDef("company/configurations", "Company.Configuration", "configurations", "Configuration", 4100, True),
        TableDef("sales/opportunities", "Opportunity", "opportunities", "Opportunity", 420, True),
        TableDef("project/tickets", "Ticket", "project_tickets", "ProjectTicket", 600000, True),
        TableDef("schedule/entries", "ScheduleEntry", "schedule_entries", "ScheduleEntry", 52000, True),
    )
}
"""Endpoint -> definition, in generation order (referenced tables first)."""

ALIASES: dict[str, str] = {t.alias: t.endpoint for t in TABLES.values()}

_BASE = {
    "company/companies": 200,
    "company/contacts": 800,
    "service/tickets": 1500,
    "time/entries": 4000,
    "system/members": 25,
    "finance/agreements": 120,
    "project/projects": 40,
    "procurement/products": 300,
    "service/boards": 10,
    "company/configurations": 1000,
    "sales/opportunities": 150,
    "project/tickets": 300,
    "schedule/entries": 1200,
}

SCALES: dict[str, dict[str, int]] = grown(
    tiny={
        "company/companies": 12,
        "company/contacts": 40,
        "service/tickets": 80,
        "time/entries": 200,
        "system/members": 6,
        "finance/agreements": 8,
        "project/projects": 4,
        "procurement/products": 20,
        "service/boards": 7,
        "company/configurations": 30,
        "sales/opportunities": 10,
        "project/tickets": 16,
        "schedule/entries": 40,
    },
    small=_BASE,
    medium={"system/members": 60, "service/boards": 16},
    large={"system/members": 150, "service/boards": 30},
)
"""Record counts per table for each scale preset. ``large`` has 50,000 time entries."""


def resolve_table(name: str) -> str:
    """Endpoint for an endpoint or alias; KeyError naming the known tables otherwise."""
    if name in TABLES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    known = ", ".join(sorted(TABLES))
    raise KeyError(f"unknown ConnectWise table {name!r}; known: {known}")


def table_counts(scale: str, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Counts for a scale preset, with per-table overrides (endpoint or alias keys)."""
    return scale_counts(SCALES, scale, overrides, resolve_table)
