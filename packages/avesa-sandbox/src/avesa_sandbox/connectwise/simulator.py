"""ConnectWise Manage as a ``ServiceSimulator``: tables, credentials, shapes and stamping."""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any

from avesa_sandbox.clock import format_epoch
from avesa_sandbox.connectwise import mutate as mutations
from avesa_sandbox.connectwise.auth import credentials_for
from avesa_sandbox.connectwise.builders import Pool, RecordFactory
from avesa_sandbox.connectwise.generate import generate
from avesa_sandbox.connectwise.references import References
from avesa_sandbox.connectwise.tables import TABLES, resolve_table, table_counts
from avesa_sandbox.service import IntegerIds, SimulatorSkeleton
from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

API_PATH = "v4_6_release/apis/3.0"
"""Codebase and API version segment of the URL (``/v4_6_release/apis/3.0/``)."""


class ConnectWiseSimulator(IntegerIds, SimulatorSkeleton):
    """Service-specific behaviour of a simulated ConnectWise Manage instance."""

    name = "connectwise"
    protected_fields: tuple[str, ...] = ("id", "_info")
    table_names = TABLES
    resolve_name = staticmethod(resolve_table)
    api_path = API_PATH
    mutations = mutations

    def __init__(self) -> None:
        self._factories: dict[str, RecordFactory] = {}
        self._pool_cache: tuple[tuple[int, ...], Pool] | None = None

    def credentials(self, instance: str) -> dict[str, Any]:
        return credentials_for(instance).to_dict()

    def factory(self, api_base: str) -> RecordFactory:
        """Record builder for an instance (one per API base, so references are interned per instance)."""
        factory = self._factories.get(api_base)
        if factory is None:
            factory = self._factories[api_base] = RecordFactory(References(api_base))
        return factory

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        counts = table_counts(spec.scale, spec.counts)
        self._pool_cache = None
        return generate(spec.seed, spec.name, counts, self.factory(api_base).refs)

    def updated_epoch(self, record: Record) -> int:
        return int(datetime.fromisoformat(record["_info"]["lastUpdated"]).timestamp())

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        stamped = dict(record)
        stamped["_info"] = {**record.get("_info", {}), "lastUpdated": format_epoch(epoch), "updatedBy": by}
        return stamped

    def pool(self, instance: Instance) -> Pool:
        """Existing records new ones can reference (cached while the referenced tables are unchanged)."""
        key = tuple(instance.tables[t].generation for t in mutations.POOL_TABLES)
        if self._pool_cache is None or self._pool_cache[0] != key:
            live = {t: instance.tables[t].records for t in mutations.POOL_TABLES}
            self._pool_cache = (key, Pool.from_tables(live))
        return self._pool_cache[1]

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        pool = self.pool(instance)
        if table != "system/members" and not pool.companies:
            raise ValueError(f"cannot create a {table} record: the instance has no companies to reference")
        return self.factory(instance.api_base).build(table, rng, record_id, epoch, epoch, pool)
