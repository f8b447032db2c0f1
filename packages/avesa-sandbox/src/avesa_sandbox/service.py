"""What every simulated service provides to the shared machinery.

The shared modules (instances, change log, knobs, faults, admin API) are service-neutral; a
service (ConnectWise today; ServiceNow, Salesforce and Graph later) plugs in by implementing
``ServiceSimulator`` and being listed in ``simulator_for``. Its HTTP routes live in its own
subpackage and are mounted under ``/{service}/`` by ``server.build_app``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Protocol

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


def simulator_for(service: str) -> ServiceSimulator:
    """The simulator of a service name; ValueError for services not simulated (yet)."""
    if service == "connectwise":
        from avesa_sandbox.connectwise.simulator import ConnectWiseSimulator

        return ConnectWiseSimulator()
    if service == "microsoft365":
        from avesa_sandbox.microsoft365.simulator import Microsoft365Simulator

        return Microsoft365Simulator()
    if service == "servicenow":
        from avesa_sandbox.servicenow.simulator import ServiceNowSimulator

        return ServiceNowSimulator()
    if service == "salesforce":
        from avesa_sandbox.salesforce.simulator import SalesforceSimulator

        return SalesforceSimulator()
    if service == "helpdesk":
        from avesa_sandbox.helpdesk.simulator import HelpdeskSimulator

        return HelpdeskSimulator()
    raise ValueError(
        f"service {service!r} is not simulated; available: connectwise, helpdesk, microsoft365, salesforce, servicenow"
    )
