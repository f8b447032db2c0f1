"""ServiceNow as a ``ServiceSimulator``: tables, sys_ids, credentials, shapes and stamping.

One simulator object serves one instance (``Instance`` makes its own), so it also holds that
instance's per-instance state: the OAuth tokens issued, the address its links carry, the
``sys_audit_delete`` sync position and a cache of records serialized without reference links.

``stamp`` is the single place a version gets its ``sys_updated_on`` / ``sys_updated_by`` /
``sys_mod_count`` (and, for an insert, ``sys_created_by``); it also normalizes whatever an admin or a
mutation wrote (numbers, booleans, bare sys_ids, removed fields) to the served shape.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from avesa_sandbox.service import SimulatorSkeleton
from avesa_sandbox.servicenow import mutate as mutations
from avesa_sandbox.servicenow.audit import AuditSync
from avesa_sandbox.servicenow.auth import INTEGRATION_USER, TokenStore, credentials_for
from avesa_sandbox.servicenow.builders import Factory
from avesa_sandbox.servicenow.generate import generate
from avesa_sandbox.servicenow.ids import SysIds, sys_id
from avesa_sandbox.servicenow.pool import Pool
from avesa_sandbox.servicenow.records import Shaper
from avesa_sandbox.servicenow.serialize import LinklessCache
from avesa_sandbox.servicenow.tables import AUDIT_TABLE, DATA_TABLES, TABLES, resolve_table, table_counts
from avesa_sandbox.servicenow.timefmt import format_datetime, parse_datetime
from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

API_PATH = "api/now"

POOL_TABLES = (
    "core_company",
    "sys_user",
    "sys_user_group",
    "customer_account",
    "customer_contact",
    "cmdb_ci",
    "change_request",
    "problem",
    "incident",
)
"""Tables new records reference (the pool is rebuilt when one of them changes)."""


class ServiceNowSimulator(SysIds, SimulatorSkeleton):
    """Service-specific behaviour of a simulated ServiceNow instance."""

    name = "servicenow"
    table_names = TABLES
    resolve_name = staticmethod(resolve_table)
    api_path = API_PATH
    mutations = mutations
    protected_fields: tuple[str, ...] = (
        "sys_id",
        "sys_created_on",
        "sys_created_by",
        "sys_updated_on",
        "sys_updated_by",
        "sys_mod_count",
        "sys_class_name",
    )

    def __init__(self) -> None:
        self.shaper = Shaper("")
        self.factory = Factory(self.shaper, INTEGRATION_USER)
        self.tokens = TokenStore()
        self.audit = AuditSync()
        self.linkless = LinklessCache()
        self.site = ""
        self._pool_cache: tuple[tuple[int, ...], Pool] | None = None
        self.pinned_pool: Pool | None = None
        """Set by ``mutate`` while it inserts: the pool it keeps up to date itself."""

    # -- identity -----------------------------------------------------------------------------------

    def credentials(self, instance: str) -> dict[str, Any]:
        return credentials_for(instance, self.site).to_dict()

    def table_of(self, record: Record) -> str:
        """The table a record belongs to (its sys_id's suffix says); ValueError if none."""
        value = record.get("sys_id", "")
        key = self.record_key(record)
        for table in TABLES:
            if sys_id(table, key) == value:
                return table
        raise ValueError(f"{value!r} is not a sys_id of any ServiceNow table")

    # -- data ---------------------------------------------------------------------------------------

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        if api_base != self.shaper.api_base:
            self.shaper = Shaper(api_base)
            self.factory = Factory(self.shaper, INTEGRATION_USER)
        self.site = api_base.removesuffix(f"/{API_PATH}")
        self.audit.reset()
        self.linkless.clear()
        self._pool_cache = None
        counts = table_counts(spec.scale, spec.counts)
        data = generate(self.factory, spec.seed, spec.name, counts)
        data[AUDIT_TABLE] = []
        return data

    def updated_epoch(self, record: Record) -> int:
        return parse_datetime(record["sys_updated_on"])

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        table = self.table_of(record)
        if table == AUDIT_TABLE:
            raise ValueError("sys_audit_delete rows are written by the platform when a record is deleted")
        when = format_datetime(epoch)
        initial = record.get("sys_updated_on") == when and record.get("sys_mod_count") in ("0", "", 0, None)
        stamped = self.shaper.normalize(table, record)
        if initial:
            stamped["sys_created_on"] = when
            stamped["sys_created_by"] = by
            stamped["sys_mod_count"] = "0"
        else:
            previous = str(record.get("sys_mod_count") or "0")
            stamped["sys_mod_count"] = str(int(previous) + 1 if previous.isdigit() else 1)
        stamped["sys_updated_on"] = when
        stamped["sys_updated_by"] = by
        if "sys_class_name" in stamped and not stamped["sys_class_name"]:
            stamped["sys_class_name"] = table
        return stamped

    def pool(self, instance: Instance) -> Pool:
        """Existing records new ones can reference (cached while the referenced tables are unchanged)."""
        if self.pinned_pool is not None:
            return self.pinned_pool
        key = tuple(instance.tables[t].generation for t in POOL_TABLES)
        if self._pool_cache is None or self._pool_cache[0] != key:
            live = {t: instance.tables[t].records for t in POOL_TABLES}
            self._pool_cache = (key, Pool.from_tables(live))
        return self._pool_cache[1]

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        if table not in DATA_TABLES:
            raise ValueError(f"{table} rows are written by the platform when a record is deleted; delete a record")
        pool = self.pool(instance)
        f = self.factory
        if table == "core_company":
            return f.company(rng, record_id, epoch, epoch, pool)
        if table == "sys_user":
            return f.user(rng, record_id, epoch, epoch, pool, pool.customer(rng), agent=rng.random() < 0.1)
        if table == "sys_user_group":
            return f.group(rng, record_id, epoch, epoch, pool)
        if table == "customer_account":
            return f.account(rng, record_id, epoch, epoch, pool)
        if table == "customer_contact":
            return f.contact(rng, record_id, epoch, epoch, pool)
        if table == "cmdb_ci":
            return f.ci(rng, record_id, epoch, epoch, pool)
        if table == "change_request":
            return f.change(rng, record_id, epoch, epoch, pool)
        if table == "problem":
            return f.problem(rng, record_id, epoch, epoch, pool)
        if table == "incident":
            return f.incident(rng, record_id, epoch, epoch, pool, window_end=epoch)
        if table == "time_card":
            active = [i for i in pool.incidents if i.get("active") == "true"] or pool.incidents
            task = rng.choice(active) if active else None
            return f.time_card(rng, record_id, epoch, epoch, pool, task=task, now=epoch)
        return f.time_worked(rng, record_id, epoch, epoch, pool)

    def sync_audit(self, instance: Instance) -> None:
        """Bring ``sys_audit_delete`` up to date with the change log (under the instance lock)."""
        with instance.lock:
            self.audit.sync(self.shaper, instance.changelog, instance.tables[AUDIT_TABLE])
