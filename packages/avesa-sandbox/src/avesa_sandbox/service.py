"""What every simulated service provides to the shared machinery.

The shared modules (instances, change log, knobs, faults, admin API) are service-neutral; a
service plugs in by implementing ``ServiceSimulator`` — most of it comes from ``SimulatorSkeleton``
— and being listed in ``SIMULATORS``. Each service's subpackage has the same modules for the same
roles: ``tables`` (its tables and their sizes), ``generate`` (an instance's initial data),
``builders`` (one record of a table), ``mutate`` (realistic changes), ``auth``, ``routes`` (its
HTTP API, mounted under ``/{service}/`` by ``server.build_app``) and ``simulator``.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]


class ServiceSimulator(Protocol):
    """Service-specific behaviour the shared ``Instance`` delegates to."""

    name: str
    id_field: str
    """The record field holding the id the API shows (``id``, ``sys_id``, ``Id``)."""
    protected_fields: tuple[str, ...]
    """Fields an admin update may not set (the id, the change-stamp block)."""

    def record_key(self, record: Record) -> int:
        """The record's internal key: a positive integer ordered like the API orders ids.

        The shared store indexes records by it, so keyset paging and id lookups are bisects for every
        service, whatever its public ids look like (integers, sys_ids, Salesforce Ids, GUIDs)."""
        ...

    def public_id(self, table: str, key: int) -> Any:
        """The id the API (and the change log) shows for a key."""
        ...

    def parse_id(self, table: str, value: Any) -> int:
        """A public id as given to the admin API (text or JSON) back to its key; ValueError if malformed."""
        ...

    def tables(self) -> list[str]:
        """Table names (endpoint paths) in dependency order."""
        ...

    def resolve_table(self, name: str) -> str:
        """Canonical table name for a name or alias; KeyError if unknown."""
        ...

    def site_url(self, base_url: str, instance: str) -> str:
        """What a user configures as the instance's address."""
        ...

    def api_base(self, base_url: str, instance: str) -> str:
        """Base URL of the instance's REST API (record links point under it)."""
        ...

    def credentials(self, instance: str) -> dict[str, Any]:
        """Connection settings and secrets of the instance (deterministic)."""
        ...

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        """Initial data: table -> records. Deterministic in (spec, api_base)."""
        ...

    def updated_epoch(self, record: Record) -> int:
        """The record's change timestamp as epoch seconds."""
        ...

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        """A copy of ``record`` with its change timestamp and author set."""
        ...

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        """A realistic new record (references to existing records) with key ``record_id``, entered at ``epoch``."""
        ...

    def mutate(self, instance: Instance, request: dict[str, Any]) -> dict[str, Any]:
        """Realistic random inserts/updates/deletes; returns what was done."""
        ...


class SimulatorSkeleton:
    """What every simulated service does the same way. A simulator names its parts as class
    attributes — its tables, how a name or alias resolves to one, the API's path under the
    instance's site, its mutate module — and overrides a method only where its API differs (Graph
    lives at one root for every tenant, not under ``/{service}/{instance}``)."""

    name: ClassVar[str]
    table_names: ClassVar[Iterable[str]]
    """The tables (endpoint paths or object names) in dependency order."""
    api_path: ClassVar[str] = ""
    """The API's base under the site URL (ConnectWise's ``v4_6_release/apis/3.0``), or none."""
    mutations: ModuleType
    """The service's mutate module: ``mutate(instance, simulator, request)``."""

    @staticmethod
    def resolve_name(name: str) -> str:
        """A table's name or alias → its name; KeyError if unknown (the service's own function)."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        return list(self.table_names)

    def resolve_table(self, name: str) -> str:
        return self.resolve_name(name)

    def site_url(self, base_url: str, instance: str) -> str:
        return f"{base_url}/{self.name}/{instance}"

    def api_base(self, base_url: str, instance: str) -> str:
        site = self.site_url(base_url, instance)
        return f"{site}/{self.api_path}" if self.api_path else site

    def mutate(self, instance: Instance, request: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.mutations.mutate(instance, self, request)
        return result


class IntegerIds:
    """Ids as ConnectWise has them: the public id is the integer key itself, in field ``id``."""

    id_field = "id"

    def record_key(self, record: Record) -> int:
        return record["id"]

    def public_id(self, table: str, key: int) -> Any:
        return key

    def parse_id(self, table: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"id must be a positive integer, got {value!r}")
        try:
            key = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"id must be a positive integer, got {value!r}") from None
        if key <= 0:
            raise ValueError(f"id must be a positive integer, got {value!r}")
        return key


SIMULATORS: dict[str, str] = {
    "connectwise": "avesa_sandbox.connectwise.simulator:ConnectWiseSimulator",
    "helpdesk": "avesa_sandbox.helpdesk.simulator:HelpdeskSimulator",
    "microsoft365": "avesa_sandbox.microsoft365.simulator:Microsoft365Simulator",
    "salesforce": "avesa_sandbox.salesforce.simulator:SalesforceSimulator",
    "servicenow": "avesa_sandbox.servicenow.simulator:ServiceNowSimulator",
}
"""Every simulated service: its name → `module:class` of its simulator, imported on first use (a
server that simulates ConnectWise alone never loads the others)."""


def simulator_for(service: str) -> ServiceSimulator:
    """A new simulator of a service name; ValueError naming the simulated ones for any other."""
    target = SIMULATORS.get(service)
    if target is None:
        raise ValueError(f"service {service!r} is not simulated; available: {', '.join(sorted(SIMULATORS))}")
    module, _, name = target.partition(":")
    simulator: ServiceSimulator = getattr(importlib.import_module(module), name)()
    return simulator
