"""Deterministic, realistic data of a whole simulated Salesforce org.

``generate(seed, instance, counts)`` builds every object from (seed, instance name, counts) alone:
the same inputs always give the same records. Keys (and so Ids) grow with ``CreatedDate``, with
occasional gaps (records deleted before the sandbox's history began), and every stamp lies in a
fixed past window (2024-01-01 .. 2025-12-31), so the data does not depend on today's date. Users
exist first, accounts during the first two thirds of the window, everything else throughout;
references point at records created earlier.
"""

from __future__ import annotations

import random

from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.salesforce.builders import Pool, Record, RecordFactory
from avesa_sandbox.salesforce.tables import OBJECTS

WINDOW_START = parse_epoch("2024-01-01T00:00:00Z")
WINDOW_END = parse_epoch("2025-12-31T23:59:59Z")

_DAY = 86400

EDIT_DAYS = {"User": 600, "Account": 400, "Contact": 300, "Opportunity": 120, "Lead": 90, "Case": 20, "Task": 10}
"""How long after creation a record of each object may still have been edited, at most."""

UNEDITED_SHARE = {"Task": 0.55, "Event": 0.6, "Case": 0.1}
"""Share of records never edited after creation (the rest: 35%)."""


def rng_for(seed: int | str, instance: str, purpose: str) -> random.Random:
    """A random generator determined by (seed, instance, purpose) alone (string seeds hash stably)."""
    return random.Random(f"{seed}/{instance}/salesforce/{purpose}")


def keys_for(rng: random.Random, first: int, count: int) -> list[int]:
    """Increasing keys with occasional gaps."""
    keys, current = [], first
    for _ in range(count):
        keys.append(current)
        current += 1 if rng.random() < 0.9 else rng.randint(2, 6)
    return keys


def _span(obj: str, start: int, end: int) -> tuple[int, int]:
    """When records of ``obj`` were created."""
    if obj == "User":
        return start, start + (end - start) // 8
    if obj == "Account":
        return start, start + 2 * (end - start) // 3
    return start, end


def generate(
    seed: int | str, instance: str, counts: dict[str, int], window: tuple[int, int] = (WINDOW_START, WINDOW_END)
) -> dict[str, list[Record]]:
    """Every object of an org: name -> records sorted by key. Deterministic in its inputs."""
    start, end = window
    factory = RecordFactory(instance)
    pool = Pool()
    out: dict[str, list[Record]] = {}
    for obj, definition in OBJECTS.items():
        count = counts.get(obj, 0)
        records: list[Record] = []
        out[obj] = records
        if not count:
            continue
        rng = rng_for(seed, instance, obj)
        low, high = _span(obj, start, end)
        created_times = sorted(rng.randint(low, high) for _ in range(count))
        unedited = UNEDITED_SHARE.get(obj, 0.35)
        edit_days = EDIT_DAYS.get(obj, 30)
        for key, created in zip(keys_for(rng, definition.first_key, count), created_times, strict=True):
            if obj == "User" and not pool.users:
                created = start  # the integration user exists from the start
            updated = created if rng.random() < unedited else min(end, created + rng.randint(60, edit_days * _DAY))
            record = factory.build(obj, rng, key, created, updated, pool)
            records.append(record)
            pool.add(obj, record)
    return out
