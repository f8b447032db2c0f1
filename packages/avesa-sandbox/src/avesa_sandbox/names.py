"""Vocabulary and small value makers shared by the simulated services: people, companies, phones, addresses.

Each service's ``vocab.py`` keeps what is its own (picklists, lookup tables, its tenants' flavour)
and builds its name lists from these where they are the same. Order is data here: generation draws
with ``rng.choice``, which picks by position, so reordering a list, or adding to it anywhere but in
a service's own extension, changes every seeded instance of each service that uses it. The helpers
draw in a fixed order too (left to right as written), and callers keep them where the draws were.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

US_FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
    "Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie",
)  # fmt: skip
"""The fifty most common US given names."""

FIRST_NAMES = (
    *US_FIRST_NAMES,
    "Priya", "Wei", "Carlos", "Fatima", "Hiroshi", "Olga", "Mateo", "Aisha", "Lars", "Sofia",
)  # fmt: skip
"""Given names of an MSP's clients' staff: mostly US, some from elsewhere."""

US_LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
)  # fmt: skip
"""The fifty most common US surnames."""

LAST_NAMES = (
    *US_LAST_NAMES,
    "Patel", "Chen", "O'Brien", "Kowalski", "Yamamoto", "Ivanova", "Okafor", "Lindqvist", "Rossi", "Dubois",
)  # fmt: skip
"""Surnames to go with ``FIRST_NAMES``."""

COMPANY_WORDS = (
    "Apex", "Summit", "Harbor", "Pioneer", "Granite", "Cedar", "Lakeside", "Northwind", "Bluebird", "Redwood",
    "Silverline", "Ironbridge", "Maple", "Evergreen", "Keystone", "Beacon", "Sterling", "Meridian", "Horizon",
    "Riverbend", "Oakridge", "Crescent", "Falcon", "Trident", "Liberty", "Cobalt", "Prairie", "Coastal",
    "Highland", "Union", "Frontier", "Vertex", "Sequoia", "Atlas", "Juniper", "Westfield", "Brightwater",
)  # fmt: skip
"""First words of small businesses' names (``Summit Dental Group``)."""

TLDS = (".com", ".com", ".com", ".net", ".org", ".us")
"""Top-level domains of small US businesses, weighted: most are ``.com``."""


def phone_number(rng: random.Random, area_codes: Sequence[str]) -> str:
    """A US number as people type it into a form: ``(512) 555-0142``."""
    return f"({rng.choice(area_codes)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"


def street_line(rng: random.Random, streets: Sequence[str]) -> str:
    """A US street address's first line: ``4120 Commerce Dr``."""
    return f"{rng.randint(10, 9899)} {rng.choice(streets)}"


def zip_code(rng: random.Random, prefix: str) -> str:
    """A ZIP code in the area of a city's three-digit ZIP prefix."""
    return f"{prefix}{rng.randint(0, 99):02d}"


def domain_stem(word: str, kind: str) -> str:
    """A company's domain name before the TLD: its first word and kind's first word (``summitdental``)."""
    return f"{word}{kind.split()[0]}".lower().replace(" ", "").replace("&", "")
