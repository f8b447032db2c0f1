"""Acme Helpdesk as a ``ServiceSimulator``: tables, credentials, record shapes and stamping."""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any

from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.helpdesk import mutate as mutations
from avesa_sandbox.helpdesk.agents import roster
from avesa_sandbox.helpdesk.auth import api_key_for
from avesa_sandbox.helpdesk.builders import HOUR, RecordFactory
from avesa_sandbox.helpdesk.generate import generate
from avesa_sandbox.helpdesk.pool import LivePool
from avesa_sandbox.helpdesk.schema import normalize, table_of
from avesa_sandbox.helpdesk.tables import TABLES, resolve_table, table_counts
from avesa_sandbox.service import IntegerIds, SimulatorSkeleton
from avesa_sandbox.spec import InstanceSpec

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance

Record = dict[str, Any]

SERVICE = "helpdesk"


class HelpdeskSimulator(IntegerIds, SimulatorSkeleton):
    """Service-specific behaviour of one simulated Acme Helpdesk account (one per instance)."""

    name = SERVICE
    protected_fields: tuple[str, ...] = ("id", "created_at", "updated_at")
    table_names = TABLES
    resolve_name = staticmethod(resolve_table)  # the API root a user configures is the site URL:
    # endpoints are {root}/api/v2/{table}
    mutations = mutations

    def __init__(self) -> None:
        self.root: str | None = None
        """The API root of the instance (known once its data is generated)."""
        self._factory: RecordFactory | None = None
        self.pool = LivePool()

    # -- identity -----------------------------------------------------------------------------------

    def credentials(self, instance: str) -> dict[str, Any]:
        return {"api_url": self.root or f"/helpdesk/{instance}", "api_key": api_key_for(instance)}

    # -- data ---------------------------------------------------------------------------------------

    @property
    def record_factory(self) -> RecordFactory:
        if self._factory is None:
            raise RuntimeError("the simulator has not generated its data yet")
        return self._factory

    def generate(self, spec: InstanceSpec, api_base: str) -> dict[str, list[Record]]:
        self.root = api_base
        self._factory = RecordFactory(roster(spec.seed, spec.name, spec.scale))
        self.pool = LivePool()
        return generate(spec.seed, spec.name, table_counts(spec.scale, spec.counts), self._factory)

    def updated_epoch(self, record: Record) -> int:
        return int(datetime.fromisoformat(record["updated_at"]).timestamp())

    def stamp(self, record: Record, epoch: int, by: str) -> Record:
        # every field present and in schema order, whatever the change removed; the author is not
        # part of a record in this API, so ``by`` is not shown
        stamped = normalize(table_of(record), record)
        stamped["updated_at"] = format_epoch(epoch)
        if stamped.get("created_at") is None:
            stamped["created_at"] = stamped["updated_at"]
        return stamped

    def new_record(self, instance: Instance, table: str, rng: random.Random, record_id: int, epoch: int) -> Record:
        factory = self.record_factory
        if table == "companies":
            return factory.company(rng, record_id, epoch, epoch, _names(instance), new=True)
        company = self.pool.company(instance, rng)
        if company is None:
            raise ValueError(f"cannot create a {table} record: the instance has no companies to reference")
        if table == "contacts":
            is_primary = not self.pool.contacts_of(instance, company["id"])
            return factory.contact(rng, record_id, company, is_primary, epoch, epoch)
        if table == "tickets":
            contacts = self.pool.contacts_of(instance, company["id"])
            contact = rng.choice(contacts) if contacts and rng.random() < 0.95 else None
            return factory.ticket(rng, record_id, company, contact, epoch, epoch)
        ticket = self.pool.ticket(instance, rng, opened_before=format_epoch(epoch - 2 * HOUR))
        if ticket is None:
            raise ValueError("cannot create a time_entries record: the instance has no tickets to reference")
        work_type, hours = factory.entry_shape(rng)
        started = epoch - round(hours * HOUR) - rng.randrange(60, HOUR)
        opened = parse_epoch(ticket["created_at"])
        if started < opened:  # only brand-new tickets to log time on: the work began when it was opened
            started = opened
            minutes = max(1, min(round(hours * 60), (epoch - opened) // 60))
            hours = round(minutes / 60, 2)
        return factory.time_entry(rng, record_id, ticket, started, epoch, epoch, work_type, hours)


def _names(instance: Instance) -> set[str]:
    """Company names in use (a new company gets another)."""
    return {record["name"] for record in instance.tables["companies"].records.values()}
