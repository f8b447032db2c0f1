"""Microsoft Graph as a ``ServiceSimulator``: tables, ids, credentials, generation, change times.

Graph objects have no "last modified" property (users have none in v1.0), yet the shared store and
change log need every record's change time. Each ``Instance`` gets its own simulator object, so
the simulator keeps that time beside the data, by object id (ids are unique across tables): the
generated time for initial records, the stamp ``Instance.insert/update`` asks for afterwards. It
never appears in a served record. The simulator also holds what the API keeps per tenant: revoked
access tokens, the version index for delta queries and cached projections.
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING, Any

from avesa_sandbox.microsoft365 import ids
from avesa_sandbox.microsoft365 import mutate as mutations
from avesa_sandbox.microsoft365.auth import GRAPH_PATH, Credentials, credentials_for
from avesa_sandbox.microsoft365.builders import Pool, RecordFactory, make_tenant, tenant_id_for
from avesa_sandbox.microsoft365.generate import generate
from avesa_sandbox.microsoft365.history import VersionIndex
from avesa_sandbox.microsoft365.pages import Projections
from avesa_sandbox.microsoft365.query import served_properties
from avesa_sandbox.microsoft365.tables import RESOURCES, resolve_table, table_counts
from avesa_sandbox.microsoft365.vocab import SKUS_BY_ID_ORDER
from avesa_sandbox.service import SimulatorSkeleton
from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

SKU_TABLE = "subscribedSkus"


class Microsoft365Simulator(SimulatorSkeleton):
    """Service-specific behaviour of one simulated Microsoft 365 tenant."""

    name = "microsoft365"
    table_names = RESOURCES
    resolve_name = staticmethod(resolve_table)
    mutations = mutations
    id_field = "id"
    protected_fields: tuple[str, ...] = ("id",)

    def __init__(self) -> None:
        self._instance: str | None = None
        self._salt = ""
        self._tenant_id = ""
        self._base_url = ""
        self._factory: RecordFactory | None = None
        self._changed: dict[str, int] = {}
        self._pool_cache: tuple[tuple[int, ...], Pool] | None = None
        self._pending: tuple[str, Record] | None = None
        self.data_generation = ""
        """Changes on every (re)generation: paging and delta tokens from before a reset are refused."""
        self.history = VersionIndex()
        self.projections = Projections()
        self.revoked: set[str] = set()
        """``uti`` claims of access tokens revoked by the ``token-expired`` fault."""

    # -- identity -------------------------------------------------------------------------------

    def _bind(self, instance: str) -> None:
        if self._instance != instance:
            self._instance = instance
            self._salt = ids.instance_salt(instance)
            self._tenant_id = tenant_id_for(instance)

    @property
    def tenant_id(self) -> str:
        if self._instance is None:
            raise RuntimeError("the simulator is not bound to an instance yet")
        return self._tenant_id

    def record_key(self, record: Record) -> int:
        record_id = record["id"]
        if "_" in record_id:
            return ids.sku_key(record_id.partition("_")[2])
        return int(record_id[:8], 16)

    def public_id(self, table: str, key: int) -> Any:
        if table == SKU_TABLE:
            return ids.subscribed_sku_id(self.tenant_id, key)
        return ids.guid_for(self._salt, table, key)

    def parse_id(self, table: str, value: Any) -> int:
        if table == SKU_TABLE:
            return ids.key_of_subscribed_sku(self.tenant_id, value)
        return ids.key_of_guid(self._salt, table, value.lower() if isinstance(value, str) else value)

    def site_url(self, base_url: str, instance: str) -> str:
        return f"{base_url.rstrip('/')}/{GRAPH_PATH}"

    def api_base(self, base_url: str, instance: str) -> str:
        self._bind(instance)
        self._base_url = base_url.rstrip("/")
        return f"{self._base_url}/{GRAPH_PATH}"

    def credentials_object(self, instance: str) -> Credentials:
        return credentials_for(instance, self._base_url)

    def credentials(self, instance: str) -> dict[str, Any]:
        return self.credentials_object(instance).to_dict()

    # -- data -----------------------------------------------------------------------------------

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        self._bind(spec.name)
        self._factory = RecordFactory(make_tenant(spec.seed, spec.name), self._salt)
        generated = generate(spec.seed, spec.name, table_counts(spec.scale, spec.counts), self._factory)
        self._changed = generated.changed
        self._pool_cache = None
        self.data_generation = uuid.uuid4().hex[:12]
        self.history.clear()
        self.projections.clear()
        return generated.tables

    def updated_epoch(self, record: Record) -> int:
        return self._changed[record["id"]]

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        # Graph records carry no change stamp nor author: the time is kept beside the data. A change
        # that cleared a property (admin updates remove a field set to null) leaves it null, as Graph
        # shows a cleared property.
        self._changed[record["id"]] = epoch
        table = self._table_of(record["id"])
        if table is None:
            return record
        missing = [name for name in served_properties(RESOURCES[table]) if name not in record]
        return {**record, **dict.fromkeys(missing)} if missing else record

    def _table_of(self, record_id: str) -> str | None:
        """The table an id belongs to (ids encode it: the GUID tail is a hash of table and key)."""
        if "_" in record_id:
            return SKU_TABLE
        try:
            key = int(record_id[:8], 16)
        except ValueError:
            return None
        return next((t for t in RESOURCES if ids.guid_for(self._salt, t, key) == record_id.lower()), None)

    @property
    def factory(self) -> RecordFactory:
        if self._factory is None:
            raise RuntimeError("the simulator has not generated its data yet")
        return self._factory

    def pool(self, instance: Instance) -> Pool:
        """Existing records new ones can reference, cached while the referenced tables are unchanged.

        A bulk ``mutate`` inserts hundreds of records: the record just built by ``new_record`` is added
        to the cached pool instead of rebuilding it from every table after each insert."""
        key = tuple(instance.tables[t].generation for t in mutations.POOL_TABLES)
        cached, pending, self._pending = self._pool_cache, self._pending, None
        if cached is not None and cached[0] != key and pending is not None:
            index = mutations.POOL_TABLES.index(pending[0])
            if key == tuple(g + 1 if i == index else g for i, g in enumerate(cached[0])):
                cached[1].add(*pending)
                cached = self._pool_cache = (key, cached[1])
        if cached is None or cached[0] != key:
            live = {t: instance.tables[t].records for t in mutations.POOL_TABLES}
            cached = self._pool_cache = (key, Pool.from_tables(live))
        return cached[1]

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        if table == "organization":
            raise ValueError("a tenant has exactly one organization record; it cannot be created")
        if table == SKU_TABLE and record_id > len(SKUS_BY_ID_ORDER):
            raise ValueError("the tenant already subscribes to every SKU the sandbox knows after its last one")
        record = self.factory.build(table, rng, record_id, epoch, self.pool(instance))
        if table in mutations.POOL_TABLES:
            self._pending = (table, record)
        return record
