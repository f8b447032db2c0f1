"""The service-neutral part of the admin API's bulk ``mutate``: request, table draws, loops, report.

Every service answers the same request (``{updates, inserts, deletes, seed, tables}``) with the same
report, and walks the same three loops: inserts into tables drawn by size, updates of a random
record of a table drawn by size, deletes of random records nothing references. What differs per
service is what a change looks like, who makes it, whether a save can change nothing, and which
records must not be deleted; each service's ``mutate.py`` supplies those as callbacks to a
``Mutation``.

Determinism matters more than elegance here: tests and benchmarks replay a seeded ``mutate`` and
expect byte-for-byte the same records, so the order of draws from the random stream is part of the
contract. Per insert: the table, then whatever the service's ``insert`` callback draws. Per update:
the table, the record, the no-op roll (only for services with no-op saves), the change, the actor.
Per delete attempt: the table, then the record. Reordering any of these changes every seeded run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]
Changes = dict[str, Any]

REQUEST_FIELDS = ("updates", "inserts", "deletes", "seed", "tables")
"""What a mutate request may hold; anything else is a caller's typo, refused rather than ignored."""

NOOP_SHARE = 0.1
"""Share of updates that change no field, for services whose records carry a change stamp: real
systems save without changes (a workflow touching a record) and pipelines must cope with it."""

DELETE_ATTEMPTS = 20
"""Records drawn per delete before it gives up: where nearly every record is referenced, a delete may find none."""


def weighted_table(
    instance: Instance, tables: Sequence[str], rng: random.Random, allow_empty: bool = False
) -> str | None:
    """A table drawn in proportion to its size, as busy tables change most; None if all are empty.

    ``allow_empty`` counts an empty table as one record, so inserts can fill a table that has none.
    No draw is made when there is nothing to choose from, so an exhausted loop leaves the stream alone.
    """
    sizes = [len(instance.tables[t]) for t in tables]
    if allow_empty:
        sizes = [max(size, 1) for size in sizes]
    if not any(sizes):
        return None
    return rng.choices(tables, weights=sizes)[0]


def pick_actor(rng: random.Random, people: Sequence[Record], field: str, fallback: str, share: float = 0.8) -> str:
    """Who made a change: mostly one of ``people`` (their ``field``), otherwise ``fallback`` (an integration)."""
    if people and rng.random() < share:
        return str(rng.choice(people)[field])
    return fallback


def referencing_ids(
    instance: Instance,
    references: Iterable[tuple[str, str]],
    value_of: Callable[[Record, str], Any] | None = None,
) -> set[Any]:
    """Ids that live records hold in the given (table, field) references: records that must not be deleted.

    ``value_of`` reads a reference out of a record (default: the field's value); empty values are skipped.
    """
    read = value_of or (lambda record, field: record.get(field))
    ids: set[Any] = set()
    for table, field in references:
        for record in instance.tables[table].records.values():
            value = read(record, field)
            if value:
                ids.add(value)
    return ids


class Mutation:
    """One bulk ``mutate`` run: the checked request, its random stream, and the report of what it did.

    Call ``insert``, ``update`` and ``delete`` (each at most once, in that order, as every service
    does) and return ``report()``. Records are addressed by the simulator's public id field, which
    is also what the report shows.
    """

    def __init__(
        self, instance: Instance, request: dict[str, Any], default_tables: Iterable[str] | None = None
    ) -> None:
        """Check ``request`` and resolve its tables (when it names none: ``default_tables``, else all the service's).

        ValueError for unknown fields or negative counts; KeyError (from the simulator) for unknown tables.
        """
        unknown = sorted(set(request) - set(REQUEST_FIELDS))
        if unknown:
            raise ValueError(f"unknown mutate field(s): {', '.join(unknown)}")
        counts = {name: int(request.get(name) or 0) for name in ("updates", "inserts", "deletes")}
        if any(n < 0 for n in counts.values()):
            raise ValueError("updates, inserts and deletes must be >= 0")
        simulator = instance.simulator
        self.instance = instance
        self.updates, self.inserts, self.deletes = counts["updates"], counts["inserts"], counts["deletes"]
        seed = request.get("seed")
        self.rng = random.Random(f"mutate/{instance.name}/{seed}") if seed is not None else instance.rng
        """Seeded: the same request replays exactly; unseeded: the instance's own ongoing stream."""
        defaults = simulator.tables() if default_tables is None else default_tables
        self.tables = [simulator.resolve_table(t) for t in (request.get("tables") or defaults)]
        self._id_field = simulator.id_field
        self.inserted: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []
        self.deleted: list[dict[str, Any]] = []
        self.noops = 0

    def insert(self, make: Callable[[str], Record], tables: Sequence[str] | None = None) -> None:
        """``inserts`` new records, each into a table drawn by size; ``make(table)`` creates and returns one.

        ``tables`` narrows the request's tables to those the service can create records in.
        """
        tables = self.tables if tables is None else tables
        for _ in range(self.inserts):
            table = weighted_table(self.instance, tables, self.rng, allow_empty=True)
            if table is None:
                break
            record = make(table)
            self.inserted.append({"table": table, "id": record[self._id_field]})

    def update(
        self,
        change: Callable[[str, Record], Changes],
        actor: Callable[[bool], str | None] | None = None,
        noop_share: float = 0.0,
    ) -> None:
        """``updates`` changes of random records: ``change(table, record)`` returns the changed fields.

        With ``noop_share``, that share of updates changes nothing (only the change stamp moves).
        ``actor(noop)`` names who made the change (None: the sandbox's own user); it is asked after the
        change is drawn.
        """
        instance, rng = self.instance, self.rng
        for _ in range(self.updates):
            table = weighted_table(instance, self.tables, rng)
            if table is None:
                break
            store = instance.tables[table]
            current = store.records[store.ids[rng.randrange(len(store))]]
            noop = noop_share > 0 and rng.random() < noop_share
            changes: Changes = {} if noop else change(table, current)
            record_id = current[self._id_field]
            instance.update(table, record_id, changes, by=actor(noop) if actor is not None else None)
            self.noops += noop
            self.updated.append({"table": table, "id": record_id, "fields": sorted(changes), "noop": noop})

    def delete(
        self,
        referenced: Callable[[str], set[Any]] | None = None,
        keep: Callable[[Record], bool] | None = None,
        tables: Sequence[str] | None = None,
    ) -> None:
        """``deletes`` random records that nothing references, as the real services refuse the others.

        ``referenced(table)`` gives the ids of ``table`` other records point at; it is asked once per
        table, the first time the table is drawn, and not refreshed by the deletes that follow (a
        record freed by a delete stays protected until the next run). ``keep(record)`` protects a
        record for another reason. ``tables`` narrows the request's tables to deletable ones. A delete
        gives up after ``DELETE_ATTEMPTS`` protected draws.
        """
        instance, rng = self.instance, self.rng
        tables = self.tables if tables is None else tables
        protected: dict[str, set[Any]] = {}
        for _ in range(self.deletes):
            for _ in range(DELETE_ATTEMPTS):
                table = weighted_table(instance, tables, rng)
                if table is None:
                    break
                if table not in protected:
                    protected[table] = referenced(table) if referenced is not None else set()
                store = instance.tables[table]
                record = store.records[store.ids[rng.randrange(len(store))]]
                record_id = record[self._id_field]
                if record_id in protected[table] or (keep is not None and keep(record)):
                    continue
                instance.delete(table, record_id)
                self.deleted.append({"table": table, "id": record_id})
                break

    def report(self) -> dict[str, Any]:
        """What was done, as the admin API answers it (key order is part of the answer's bytes)."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "counts": {
                "inserted": len(self.inserted),
                "updated": len(self.updated),
                "noop_updates": self.noops,
                "deleted": len(self.deleted),
            },
        }
