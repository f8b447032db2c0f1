"""Salesforce as a ``ServiceSimulator``: objects, Ids, credentials, record shapes and stamping.

Each ``Instance`` gets its own simulator object, so it also holds what a Salesforce org keeps
besides its records: issued access tokens, open query cursors, the recycle bin, the day's API
usage and cached serialized projections.

Stamping follows Salesforce: every change sets ``SystemModstamp``; a change made by a user (or
the API) also sets ``LastModifiedDate`` and ``LastModifiedById``. A change made by the system
(``by="system"``: roll-ups, workflow, sharing recalculation) moves ``SystemModstamp`` only — which
is why connectors must track ``SystemModstamp``. ``by`` is a User Id (``005...``); any other name
means the API's integration user.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from avesa_sandbox.salesforce import ids
from avesa_sandbox.salesforce import mutate as mutations
from avesa_sandbox.salesforce.auth import TokenStore, credentials_for
from avesa_sandbox.salesforce.builders import SYSTEM_ACTOR, Pool, RecordFactory, integration_user_id
from avesa_sandbox.salesforce.cursors import CursorStore
from avesa_sandbox.salesforce.derived import derive
from avesa_sandbox.salesforce.generate import generate
from avesa_sandbox.salesforce.recyclebin import RecycleBin
from avesa_sandbox.salesforce.render import Renderer
from avesa_sandbox.salesforce.schema import SYSTEM_FIELDS, object_def
from avesa_sandbox.salesforce.tables import OBJECTS, object_counts, resolve_object
from avesa_sandbox.salesforce.timefmt import format_datetime, parse_datetime
from avesa_sandbox.salesforce.usage import DailyUsage
from avesa_sandbox.service import SimulatorSkeleton
from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

_PROTECTED_LOWER = {name.lower() for name in SYSTEM_FIELDS}


class SalesforceSimulator(SimulatorSkeleton):
    """Service-specific behaviour and per-org state of one simulated Salesforce org."""

    name = "salesforce"
    id_field = "Id"
    protected_fields: tuple[str, ...] = SYSTEM_FIELDS
    table_names = OBJECTS
    resolve_name = staticmethod(resolve_object)
    mutations = mutations

    def __init__(self) -> None:
        self.instance_name = ""
        self.login_url = ""
        self.tokens = TokenStore("")
        self.cursors = CursorStore()
        self.bin = RecycleBin(self.updated_epoch, self.record_key)
        self.usage = DailyUsage()
        self.renderer = Renderer()
        self._factory: RecordFactory | None = None
        self._pool_cache: tuple[tuple[int, ...], Pool] | None = None

    # -- identity -------------------------------------------------------------------------------

    def record_key(self, record: Record) -> int:
        return ids.key_of(record["Id"])

    def public_id(self, table: str, key: int) -> Any:
        return ids.encode(OBJECTS[table].key_prefix, key)

    def parse_id(self, table: str, value: Any) -> int:
        if not isinstance(value, str):
            raise ValueError(f"a {table} Id is a 15- or 18-character string, got {value!r}")
        try:
            return ids.decode(value.strip(), OBJECTS[table].key_prefix)
        except ValueError:
            raise ValueError(f"{value!r} is not a valid {table} Id (prefix {OBJECTS[table].key_prefix})") from None

    def credentials(self, instance: str) -> dict[str, Any]:
        login = self.login_url if instance == self.instance_name and self.login_url else f"/salesforce/{instance}"
        return {"login_url": login, **credentials_for(instance).to_dict()}

    # -- data -----------------------------------------------------------------------------------

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        if spec.name != self.instance_name:
            self.instance_name = spec.name
            self.tokens = TokenStore(spec.name)
            self._factory = RecordFactory(spec.name)
        self.login_url = api_base
        self.cursors.clear()
        self.bin.reset(self.tables())
        self.usage.reset()
        self.renderer.clear()
        self._pool_cache = None
        return generate(spec.seed, spec.name, object_counts(spec.scale, spec.counts))

    def updated_epoch(self, record: Record) -> int:
        return parse_datetime(record["SystemModstamp"])

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        obj = _object_of(record)
        stamped = _normalized(obj, record)
        derive(obj, stamped)
        when = format_datetime(epoch)
        stamped["SystemModstamp"] = when
        if "IsDeleted" in stamped:
            stamped["IsDeleted"] = False
        if stamped.get("CreatedById") is None:  # a new record: its creator
            actor = _actor_id(by)
            stamped["CreatedById"] = actor
            stamped["CreatedDate"] = when
            stamped["LastModifiedById"] = actor
            stamped["LastModifiedDate"] = when
        elif by != SYSTEM_ACTOR:
            stamped["LastModifiedById"] = _actor_id(by)
            stamped["LastModifiedDate"] = when
        return stamped

    def factory(self) -> RecordFactory:
        if self._factory is None:
            self._factory = RecordFactory(self.instance_name or "org")
        return self._factory

    def pool(self, instance: Instance) -> Pool:
        """Existing records new ones can reference (cached while the tables are unchanged)."""
        names = ("User", "Account", "Contact", "Opportunity", "Lead", "Case")
        key = tuple(instance.tables[name].generation for name in names)
        if self._pool_cache is None or self._pool_cache[0] != key:
            self._pool_cache = (key, Pool.from_tables({name: instance.tables[name].records for name in names}))
        return self._pool_cache[1]

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        record = self.factory().build(table, rng, record_id, epoch, epoch, self.pool(instance))
        record["CreatedById"] = None  # set by stamp() from the actor of the insert
        return record


def _object_of(record: Record) -> str:
    record_id = record.get("Id")
    prefix = record_id[:3] if isinstance(record_id, str) else ""
    for name, definition in OBJECTS.items():
        if definition.key_prefix == prefix:
            return name
    raise ValueError(f"record Id {record_id!r} is not an Id of a served object")


def _normalized(obj: str, record: Record) -> Record:
    """Every field of the object in describe order, any spelling mapped to the API name; None where missing.

    The shared ``Instance`` removes a field updated to None: in Salesforce the field stays, null.
    A field the object does not have is refused (ValueError -> 400 from the admin API)."""
    definition = object_def(obj)
    given: Record = {}
    for name, value in record.items():
        field = definition.field(name)
        if field is None:
            raise ValueError(f"{obj} has no field {name!r}")
        if field.name != name and name.lower() in _PROTECTED_LOWER:
            continue  # a system field under another spelling: the stamps decide it
        given[field.name] = value
    return {
        field.name: given.get(field.name, False if field.type == "boolean" else None) for field in definition.fields
    }


def _actor_id(by: str | None) -> str:
    if isinstance(by, str) and by[:3] == "005" and ids.is_valid(by):
        return ids.to18(by)
    return integration_user_id()
