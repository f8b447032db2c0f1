"""Simulated instances and the registry that holds them.

An ``Instance`` is one tenant's system of one service: its tables, credentials, knobs, one-shot
faults, rate limiter, request statistics and ground-truth change log. Every change to its data
goes through ``insert`` / ``update`` / ``delete`` here, which stamp the record (strictly later
than its previous version) and append the version to the change log, so the log is complete by
construction. The service simulator supplies what differs per service (record shapes, how the
change timestamp is stored, realistic random changes).
"""

from __future__ import annotations

import contextlib
import gc
import random
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from avesa_sandbox.changelog import ChangeLog, Op
from avesa_sandbox.clock import Clock, format_epoch, wall_clock_iso
from avesa_sandbox.faults import FaultPlan
from avesa_sandbox.knobs import Knobs
from avesa_sandbox.ratelimit import TokenBucket
from avesa_sandbox.service import ServiceSimulator, simulator_for
from avesa_sandbox.spec import InstanceSpec
from avesa_sandbox.stats import RequestStats
from avesa_sandbox.store import Record, TableStore

SANDBOX_USER = "AVESA-Sandbox"
"""``updatedBy`` of changes made through the admin API without naming a user."""


class Instance:
    """One simulated tenant instance. Thread-safe: every operation holds ``lock``."""

    def __init__(self, spec: InstanceSpec, base_url: str, clock: Clock | None = None) -> None:
        self.spec = spec
        self.simulator: ServiceSimulator = simulator_for(spec.service)
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.knobs = Knobs.from_dict(spec.knobs.to_dict())
        self.faults = FaultPlan()
        self.bucket = TokenBucket(self.knobs.rate_limit_per_minute, self.knobs.rate_limit_burst)
        self.stats = RequestStats()
        self.changelog = ChangeLog()
        self.rng = random.Random(f"{spec.seed}/{spec.name}/behaviour")
        self.tables: dict[str, TableStore] = {}
        self._next_id: dict[str, int] = {}
        self.reset()

    # -- identity -------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def site_url(self) -> str:
        return self.simulator.site_url(self.base_url, self.name)

    @property
    def api_base(self) -> str:
        return self.simulator.api_base(self.base_url, self.name)

    def credentials(self) -> dict[str, Any]:
        return self.simulator.credentials(self.name)

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self) -> None:
        """Regenerate the initial data from the spec; clear log, faults, stats; knobs back to the spec's."""
        with self.lock, _gc_paused():
            data = self.simulator.generate(self.spec, self.api_base)
            changed_at = wall_clock_iso()
            self.changelog.clear()
            self.tables = {}
            for table in self.simulator.tables():
                store = TableStore(table, self.simulator.updated_epoch, self.simulator.record_key)
                records = data.get(table, [])
                store.load(records)
                store.prewarm()
                self.tables[table] = store
                self._next_id[table] = store.max_id() + 1
                keys = [self.simulator.record_key(record) for record in records]
                epochs = [store.updated[key] for key in keys]
                ids = [self.simulator.public_id(table, key) for key in keys]
                self.changelog.extend_initial(table, records, ids, epochs, changed_at)
            self.faults.clear()
            self.stats.reset()
            self.set_knobs(self.spec.knobs.to_dict())

    def set_knobs(self, changes: dict[str, Any]) -> Knobs:
        """Change knobs at run time (validated); the rate limiter is reconfigured if it changed."""
        with self.lock:
            self.knobs.update(changes)
            if "rate_limit_per_minute" in changes or "rate_limit_burst" in changes or not changes:
                self.bucket.configure(self.knobs.rate_limit_per_minute, self.knobs.rate_limit_burst)
            return self.knobs

    # -- data -----------------------------------------------------------------------------------

    def table(self, name: str) -> TableStore:
        """The store of a table by name or alias; KeyError if the service has no such table."""
        return self.tables[self.simulator.resolve_table(name)]

    def key(self, table: str, record_id: Any) -> int:
        """The store key of a public id (``5``, ``"5"``, a sys_id, a Salesforce Id); ValueError if malformed."""
        return self.simulator.parse_id(self.simulator.resolve_table(table), record_id)

    def public_id(self, table: str, key: int) -> Any:
        """The id the API shows for a store key."""
        return self.simulator.public_id(self.simulator.resolve_table(table), key)

    def get(self, table: str, record_id: Any) -> Record | None:
        with self.lock:
            return self.table(table).get(self.key(table, record_id))

    def insert(
        self, table: str, fields: dict[str, Any] | None = None, by: str | None = None, rng: random.Random | None = None
    ) -> Record:
        """Create a realistic record (``fields`` override generated values) stamped now."""
        with self.lock:
            store = self.table(table)
            table = store.name
            id_field = self.simulator.id_field
            protected = set(self.simulator.protected_fields) - {id_field}
            fields = {k: v for k, v in (fields or {}).items() if k not in protected}
            requested_id = fields.pop(id_field, None)
            record_id = self._next_id[table] if requested_id is None else self.key(table, requested_id)
            if record_id in store:
                raise ValueError(f"{table} already has a record with id {self.public_id(table, record_id)}")
            epoch = self.clock.now()
            record = self.simulator.new_record(self, table, rng or self.rng, record_id, epoch)
            record = _merge(record, fields)
            record = self.simulator.stamp(record, epoch, by or SANDBOX_USER)
            store.put(record)
            self._next_id[table] = max(self._next_id[table], record_id + 1)
            public = self.simulator.public_id(table, record_id)
            self.changelog.append(table, public, Op.INSERT, store.updated[record_id], wall_clock_iso(), record)
            return record

    def update(self, table: str, record_id: Any, changes: dict[str, Any], by: str | None = None) -> Record:
        """Apply partial field changes (None removes a field) and stamp a new version."""
        with self.lock:
            store = self.table(table)
            key = self.key(table, record_id)
            current = store.get(key)
            if current is None:
                raise KeyError(f"{store.name} has no record with id {record_id}")
            id_field = self.simulator.id_field
            if id_field in changes and changes[id_field] != current.get(id_field):
                raise ValueError(f"a record's {id_field} cannot change")
            changes = {k: v for k, v in changes.items() if k not in self.simulator.protected_fields}
            epoch = self.clock.next_stamp(store.updated[key])
            record = self.simulator.stamp(_merge(current, changes), epoch, by or SANDBOX_USER)
            store.put(record)
            public = self.simulator.public_id(store.name, key)
            self.changelog.append(store.name, public, Op.UPDATE, epoch, wall_clock_iso(), record)
            return record

    def splice_raw(self, table: str, record_id: Any, field: str, value: bytes, by: str | None = None) -> Record:
        """A new version of a record whose JSON on the wire holds ``value`` — raw bytes, not re-encoded —
        as ``field``: invalid UTF-8, ``NaN``, a number past int64, nesting a thousand levels deep.
        The change log keeps the version with a placeholder string in that field.

        The id field cannot change, so splicing it (``null``: a record without an id; another record's
        id: a duplicate) changes what the current version sends without a new version."""
        with self.lock:
            store = self.table(table)
            key = self.key(table, record_id)
            if field == self.simulator.id_field:
                record = store.get(key)
                if record is None:
                    raise KeyError(f"{store.name} has no record with id {record_id}")
            else:
                record = self.update(table, record_id, {field: "(raw bytes spliced in by the sandbox)"}, by=by)
            store.splice(key, field, value)
            return record

    def delete(self, table: str, record_id: Any) -> Record:
        """Remove a record; the log gets a delete entry holding its last version."""
        with self.lock:
            store = self.table(table)
            key = self.key(table, record_id)
            if key not in store:
                raise KeyError(f"{store.name} has no record with id {record_id}")
            epoch = self.clock.next_stamp(store.updated[key])
            record = store.delete(key)
            public = self.simulator.public_id(store.name, key)
            self.changelog.append(store.name, public, Op.DELETE, epoch, wall_clock_iso(), record)
            return record

    def mutate(self, request: dict[str, Any]) -> dict[str, Any]:
        """Bulk realistic random changes (see the service simulator)."""
        with self.lock:
            return self.simulator.mutate(self, request)

    def next_id(self, table: str) -> int:
        """The id the next insert into ``table`` gets (ids are never reused)."""
        return self._next_id[self.simulator.resolve_table(table)]

    # -- reporting ------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Admin-API view: identity, credentials, site URL, counts, knobs."""
        with self.lock:
            counts = {name: len(store) for name, store in self.tables.items()}
            bounds = {
                name: [format_epoch(b[0]), format_epoch(b[1])]
                for name, store in self.tables.items()
                if (b := store.updated_bounds()) is not None
            }
        return {
            "name": self.name,
            "service": self.spec.service,
            "seed": self.spec.seed,
            "scale": self.spec.scale,
            "site_url": self.site_url,
            "api_base": self.api_base,
            "credentials": self.credentials(),
            "counts": counts,
            "last_updated_range": bounds,
            "knobs": self.knobs.to_dict(),
            "pending_faults": self.faults.pending(),
            "changes": len(self.changelog),
        }


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Generation allocates hundreds of thousands of objects that all live on: collecting while
    building them only costs time (about a fifth of it), so the cyclic collector waits."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _merge(record: Record, changes: dict[str, Any]) -> Record:
    merged = dict(record)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class Registry:
    """All instances of one sandbox server, by name."""

    def __init__(self, base_url: str = "http://127.0.0.1", clock: Clock | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.clock = clock or Clock()
        self._instances: dict[str, Instance] = {}
        self._lock = threading.Lock()

    def create(self, spec: InstanceSpec) -> Instance:
        """Create and generate an instance; ValueError if the name is taken."""
        with self._lock:
            if spec.name in self._instances:
                raise ValueError(f"instance {spec.name!r} already exists")
        instance = Instance(spec, self.base_url, self.clock)
        with self._lock:
            if spec.name in self._instances:
                raise ValueError(f"instance {spec.name!r} already exists")
            self._instances[spec.name] = instance
        return instance

    def create_all(self, specs: Iterable[InstanceSpec]) -> list[Instance]:
        return [self.create(spec) for spec in specs]

    def get(self, name: str) -> Instance | None:
        return self._instances.get(name)

    def remove(self, name: str) -> None:
        with self._lock:
            del self._instances[name]

    def names(self) -> list[str]:
        return sorted(self._instances)

    def all(self) -> list[Instance]:
        return [self._instances[name] for name in self.names()]
