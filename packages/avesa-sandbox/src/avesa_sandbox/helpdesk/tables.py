"""The four Acme Helpdesk tables and how big each is per scale.

The table name is the URL segment (``/api/v2/time_entries``), the admin API's table and the change
log's table alike. Ids of generated records start at a per-table offset, as a real service that has
been running for a while has no record 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.scales import grown, scale_counts


@dataclass(frozen=True)
class TableDef:
    """One list endpoint."""

    name: str
    noun: str
    """How error messages name one record (``ticket 120031 not found``)."""
    first_id: int


TABLES: dict[str, TableDef] = {
    t.name: t
    for t in (
        TableDef("companies", "company", 1001),
        TableDef("contacts", "contact", 20001),
        TableDef("tickets", "ticket", 100001),
        TableDef("time_entries", "time entry", 500001),
    )
}
"""Name -> definition, in generation order (referenced tables first)."""

ALIASES = {"time-entries": "time_entries", "timeentries": "time_entries"}
"""Spellings the admin API also accepts (the HTTP API accepts only the canonical names)."""

_BASE = {"companies": 200, "contacts": 800, "tickets": 1500, "time_entries": 4000}

SCALES: dict[str, dict[str, int]] = grown(
    tiny={"companies": 12, "contacts": 40, "tickets": 80, "time_entries": 200}, small=_BASE
)
"""Record counts per table for each scale preset (``large`` has 50,000 time entries)."""

AGENTS: dict[str, int] = {"tiny": 6, "small": 15, "medium": 40, "large": 80}
"""Size of the agent roster (agents are embedded in tickets and time entries, not a table)."""


def resolve_table(name: str) -> str:
    """Canonical name for a name or alias; KeyError naming the known tables otherwise."""
    if name in TABLES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    raise KeyError(f"unknown Acme Helpdesk table {name!r}; known: {', '.join(TABLES)}")


def table_counts(scale: str, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Counts for a scale preset, with per-table overrides."""
    return scale_counts(SCALES, scale, overrides, resolve_table)
