"""The eight sObjects the sandbox serves, their key prefixes, and how many records each scale has.

The object's API name (``Account``) is the table name everywhere in the sandbox, as in SOQL;
any spelling (``account``, ``ACCOUNT``) is accepted, as Salesforce object names are
case-insensitive.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.scales import grown, scale_counts


@dataclass(frozen=True)
class SObjectDef:
    """One served sObject."""

    name: str
    key_prefix: str
    first_key: int
    """Key of the first generated record (real orgs' counters are not small)."""
    optional: bool
    """Not one of the three objects the pipeline enables by default."""


OBJECTS: dict[str, SObjectDef] = {
    o.name: o
    for o in (
        SObjectDef("User", "005", 4_100_000, True),
        SObjectDef("Account", "001", 9_800_000, False),
        SObjectDef("Contact", "003", 12_400_000, False),
        SObjectDef("Opportunity", "006", 5_600_000, True),
        SObjectDef("Lead", "00Q", 7_300_000, True),
        SObjectDef("Case", "500", 21_700_000, False),
        SObjectDef("Task", "00T", 88_000_000, True),
        SObjectDef("Event", "00U", 43_000_000, True),
    )
}
"""Object name -> definition, in generation order (referenced objects first)."""

BY_PREFIX: dict[str, str] = {o.key_prefix: o.name for o in OBJECTS.values()}
_BY_LOWER: dict[str, str] = {name.lower(): name for name in OBJECTS}

_BASE = {
    "User": 25,
    "Account": 200,
    "Contact": 800,
    "Opportunity": 400,
    "Lead": 500,
    "Case": 1500,
    "Task": 4000,
    "Event": 1500,
}

SCALES: dict[str, dict[str, int]] = grown(
    tiny={
        "User": 6,
        "Account": 12,
        "Contact": 40,
        "Opportunity": 20,
        "Lead": 25,
        "Case": 60,
        "Task": 80,
        "Event": 40,
    },
    small=_BASE,
    medium={"User": 60},
    large={"User": 150},
)
"""Record counts per object for each scale preset (``medium`` has 20,000 tasks, ``large`` 50,000)."""


def resolve_object(name: str) -> str:
    """Canonical object name for any spelling; KeyError naming the known objects otherwise."""
    canonical = _BY_LOWER.get(name.lower()) if isinstance(name, str) else None
    if canonical is None:
        raise KeyError(f"unknown Salesforce object {name!r}; known: {', '.join(OBJECTS)}")
    return canonical


def object_counts(scale: str, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Counts for a scale preset, with per-object overrides (any spelling of the name)."""
    return scale_counts(SCALES, scale, overrides, resolve_object)
