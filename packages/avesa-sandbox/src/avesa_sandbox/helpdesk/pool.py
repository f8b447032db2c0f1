"""Existing records that new records (admin inserts, ``mutate``) reference, picked from the live tables.

A bulk ``mutate`` inserts hundreds of records into tables of up to 50,000: rebuilding an index of
every table after each insert would cost more than the inserts. Companies and tickets are therefore
sampled straight from the store (a few random draws, preferring ones still in business or still
being worked on); only contacts-by-company needs an index, rebuilt when the contacts table changed.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
_DRAWS = 12


def _sample(
    instance: Instance, table: str, rng: random.Random, prefer: Any, accept: Any = None
) -> Record | None:
    """A random record of ``table``: one satisfying ``prefer`` if a few draws find one, else one
    satisfying ``accept``, else any."""
    store = instance.tables[table]
    if not store.ids:
        return None
    record = fallback = None
    for _ in range(_DRAWS):
        record = store.records[store.ids[rng.randrange(len(store.ids))]]
        if prefer(record):
            return record
        if fallback is None and accept is not None and accept(record):
            fallback = record
    return fallback or record


class LivePool:
    """Picks referenced records for one instance's inserts."""

    def __init__(self) -> None:
        self._contacts: tuple[int, dict[int, list[int]]] | None = None

    def company(self, instance: Instance, rng: random.Random) -> Record | None:
        """A company, preferably an active one (new work comes from current clients)."""
        return _sample(instance, "companies", rng, lambda c: c.get("status") == "active")

    def ticket(self, instance: Instance, rng: random.Random, opened_before: str) -> Record | None:
        """A ticket opened before ``opened_before`` (an ISO stamp), preferably one still open: time is
        logged on tickets being worked on, and work takes a while."""

        def old_enough(t: Record) -> bool:
            return str(t.get("created_at")) < opened_before

        return _sample(
            instance, "tickets", rng, lambda t: old_enough(t) and t.get("status") in OPEN_STATUSES, old_enough
        )

    def contacts_of(self, instance: Instance, company_id: Any) -> list[Record]:
        """The company's active contacts (all of them if none is active)."""
        store = instance.tables["contacts"]
        if self._contacts is None or self._contacts[0] != store.generation:
            index: dict[int, list[int]] = defaultdict(list)
            for key, record in store.records.items():
                index[record.get("company_id")].append(key)  # type: ignore[index]
            self._contacts = (store.generation, index)
        contacts = [store.records[key] for key in self._contacts[1].get(company_id, ()) if key in store.records]
        active = [c for c in contacts if c.get("active")]
        return active or contacts
