"""Existing records new ones reference: filled while generating, or rebuilt from an instance's live tables.

Generation and run-time inserts both build records against a ``Pool``: an incident needs a caller
(an end user of a customer company), an assignment group and an agent; a time card needs an
incident and an agent. The pool also hands out the next record number (``INC0012345``) and unique
user names.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox.servicenow.tables import TABLES
from avesa_sandbox.servicenow.timefmt import format_datetime

Record = dict[str, Any]


def ref_value(value: Any) -> str:
    """The sys_id a reference value holds ("" when empty)."""
    return value.get("value", "") if isinstance(value, dict) else ""


def pick(rng: random.Random, records: list[Record], when: int | None = None) -> Record | None:
    """A random record among those that existed at ``when`` (the oldest one if none did yet).

    Generated lists are in creation order, so "existed" is a bisect on ``sys_created_on``; at run
    time ``when`` is now and every record qualifies, whatever the list's order."""
    if not records:
        return None
    if when is None:
        return rng.choice(records)
    existing = bisect.bisect_right(records, format_datetime(when), key=lambda r: r.get("sys_created_on", ""))
    return records[rng.randrange(existing)] if existing else records[0]


def is_agent(user: Record) -> bool:
    """Fulfillers have the ``itil`` role (the integration user has none)."""
    return "itil" in user.get("roles", "").split(",")


@dataclass
class Pool:
    """Records by role, for picking references."""

    msp: Record | None = None
    customers: list[Record] = field(default_factory=list)
    vendors: list[Record] = field(default_factory=list)
    agents: list[Record] = field(default_factory=list)
    users_by_company: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    groups: list[Record] = field(default_factory=list)
    accounts: list[Record] = field(default_factory=list)
    contacts_by_account: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    cis_by_company: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    changes: list[Record] = field(default_factory=list)
    problems: list[Record] = field(default_factory=list)
    incidents: list[Record] = field(default_factory=list)
    user_names: set[str] = field(default_factory=set)
    next_number: dict[str, int] = field(default_factory=dict)

    def number(self, table: str) -> str:
        """The next auto-number of a table (``INC0010001``)."""
        definition = TABLES[table]
        value = self.next_number.get(table, definition.first_number + 1)
        self.next_number[table] = value + 1
        return f"{definition.number_prefix}{value:07d}"

    def unique_user_name(self, first: str, last: str) -> str:
        """``first.last`` made unique the way admins do (``first.last2``)."""
        base = f"{first}.{last}".lower().replace("'", "").replace(" ", "")[:36]
        name, suffix = base, 1
        while name in self.user_names:
            suffix += 1
            name = f"{base}{suffix}"
        self.user_names.add(name)
        return name

    def agent(self, rng: random.Random, when: int | None = None) -> Record | None:
        return pick(rng, self.agents, when)

    def group(self, rng: random.Random, when: int | None = None) -> Record | None:
        return pick(rng, self.groups, when)

    def customer(self, rng: random.Random, when: int | None = None) -> Record | None:
        return pick(rng, self.customers, when)

    def end_user(self, rng: random.Random, company: Record | None, when: int | None = None) -> Record | None:
        """A user of ``company`` that existed at ``when`` (else one of another client; None if there is none)."""
        moment = format_datetime(when) if when is not None else None
        for candidate in [company] + [self.customer(rng, when) for _ in range(10)]:
            users = self.users_by_company.get(candidate["sys_id"], []) if candidate else []
            if users and (moment is None or users[0].get("sys_created_on", "") <= moment):
                return pick(rng, users, when)
        return None

    def add_user(self, user: Record) -> None:
        """Index a user by company and role."""
        self.user_names.add(user.get("user_name", ""))
        if is_agent(user):
            self.agents.append(user)
        company = ref_value(user.get("company"))
        if company and (self.msp is None or company != self.msp["sys_id"]):
            self.users_by_company[company].append(user)

    @classmethod
    def from_tables(cls, tables: dict[str, dict[int, Record]]) -> Pool:
        """A pool over live tables (table -> key -> record)."""
        pool = cls()
        for company in tables.get("core_company", {}).values():
            if company.get("primary") == "true":
                pool.msp = company
            elif company.get("customer") == "true":
                pool.customers.append(company)
            elif company.get("vendor") == "true" or company.get("manufacturer") == "true":
                pool.vendors.append(company)
        for user in tables.get("sys_user", {}).values():
            pool.add_user(user)
        for contact in tables.get("customer_contact", {}).values():
            pool.user_names.add(contact.get("user_name", ""))
            pool.contacts_by_account[ref_value(contact.get("account"))].append(contact)
        pool.groups = list(tables.get("sys_user_group", {}).values())
        pool.accounts = list(tables.get("customer_account", {}).values())
        for ci in tables.get("cmdb_ci", {}).values():
            pool.cis_by_company[ref_value(ci.get("company"))].append(ci)
        pool.changes = list(tables.get("change_request", {}).values())
        pool.problems = list(tables.get("problem", {}).values())
        pool.incidents = list(tables.get("incident", {}).values())
        for table in ("incident", "problem", "change_request", "customer_account"):
            numbers = [r.get("number", "") for r in tables.get(table, {}).values()]
            digits = [int(n[3:]) for n in numbers if n[3:].isdigit()]
            if digits:
                pool.next_number[table] = max(digits) + 1
        return pool
