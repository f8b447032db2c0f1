"""Deterministic ServiceNow data for one instance: every table from (seed, instance name, counts).

Creation times are spread over a fixed past window (2024-01-01 .. 2025-12-31), so the data does not
depend on today's date; the last update of a record follows what happened to it (an incident's
``sys_updated_on`` is around its closing). Keys (and so sys_ids) are drawn at random from a wide
range: sys_id order is unrelated to creation order, as in a real instance. References point at
records that exist; records that reference each other both ways (a company's primary contact, a
problem's first incident) are linked once both sides exist.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.servicenow.builders import DAY, HOUR, Factory
from avesa_sandbox.servicenow.pool import Pool, ref_value
from avesa_sandbox.servicenow.timefmt import format_datetime, parse_datetime

Record = dict[str, Any]

WINDOW_START = parse_epoch("2024-01-01T00:00:00Z")
WINDOW_END = parse_epoch("2025-12-31T23:59:59Z")

SETUP_DAYS = 14
"""The MSP's agents and groups are created in the window's first two weeks."""
TASKS_AFTER_DAYS = 30
"""Incidents, changes and problems start a month into the window (once clients have users)."""

KEY_LOW = 0x00100000
KEY_HIGH = 0x60000000
"""Generated keys lie in [KEY_LOW, KEY_HIGH): inserts continue above, well inside 31 bits."""


def rng_for(seed: int | str, instance: str, purpose: str) -> random.Random:
    """A random generator determined by (seed, instance, purpose) alone."""
    return random.Random(f"{seed}/{instance}/servicenow/{purpose}")


def _keys(rng: random.Random, count: int) -> list[int]:
    """Distinct keys in random order (so sys_id order is not creation order)."""
    return rng.sample(range(KEY_LOW, KEY_HIGH), count)


def _times(rng: random.Random, count: int, start: int, end: int) -> list[int]:
    return sorted(rng.randint(start, end) for _ in range(count))


def _later(rng: random.Random, entered: int, end: int, max_days: int, unchanged: float = 0.3) -> int:
    """When a record was last updated: never for some, else some time after it was entered."""
    if rng.random() < unchanged:
        return entered
    return min(end, entered + rng.randint(60, max_days * DAY))


def _touch(record: Record, updated: int, by: str, rng: random.Random) -> Record:
    """Move a generated record's last update to ``updated`` (after its lifecycle fields were set)."""
    if updated <= parse_datetime(record["sys_updated_on"]):
        return record
    record["sys_updated_on"] = format_datetime(updated)
    record["sys_updated_by"] = by
    record["sys_mod_count"] = str(max(int(record["sys_mod_count"] or 0), rng.randint(2, 15)))
    return record


def _last_event(record: Record, fields: tuple[str, ...]) -> int:
    return max(parse_datetime(record[f]) for f in ("sys_created_on", *fields) if record.get(f))


class Generator:
    """Builds every table of one instance, in dependency order."""

    def __init__(
        self, factory: Factory, seed: int | str, instance: str, counts: dict[str, int], window: tuple[int, int]
    ) -> None:
        self.f = factory
        self.seed = seed
        self.instance = instance
        self.counts = counts
        self.start, self.end = window
        self.pool = Pool()
        self.out: dict[str, list[Record]] = {}

    def rng(self, purpose: str) -> random.Random:
        return rng_for(self.seed, self.instance, purpose)

    def run(self) -> dict[str, list[Record]]:
        # the MSP's own setup (company, agents, groups) exists from the start; clients, their people and
        # assets arrive over time; tickets start once there is someone to raise them
        start, end, span = self.start, self.end, self.end - self.start
        self.companies(start, start + span * 2 // 3)
        self.users(start, end)
        self.plain("sys_user_group", self.f.group, start, start + SETUP_DAYS * DAY, indexed=True)
        self.pool.groups = self.out["sys_user_group"]
        self.plain("customer_account", self.f.account, start, start + span * 2 // 3, into=self.pool.accounts)
        self.contacts(start, end)
        self.plain("cmdb_ci", self.f.ci, start + 7 * DAY, end, max_days=300)
        for ci in self.out["cmdb_ci"]:
            self.pool.cis_by_company[ref_value(ci["company"])].append(ci)
        tasks_from = start + TASKS_AFTER_DAYS * DAY
        self.plain("change_request", self.f.change, tasks_from, end - 3 * DAY, max_days=30, into=self.pool.changes)
        self.plain("problem", self.f.problem, tasks_from, end - 3 * DAY, max_days=90, into=self.pool.problems)
        self.incidents()
        self.time_cards()
        self.time_worked()
        self.link_back()
        return self.out

    # -- tables --------------------------------------------------------------------------------------

    def plain(
        self,
        table: str,
        build: Callable[..., Record],
        start: int,
        end: int,
        max_days: int = 400,
        indexed: bool = False,
        into: list[Record] | None = None,
    ) -> None:
        """Records entered in [start, end], edited for a while after."""
        count = self.counts.get(table, 0)
        rng = self.rng(table)
        records: list[Record] = []
        for index, (key, entered) in enumerate(zip(_keys(rng, count), _times(rng, count, start, end), strict=True)):
            updated = _later(rng, entered, self.end, max_days)
            extra = {"index": index} if indexed else {}
            record = build(rng, key, entered, updated, self.pool, **extra)
            records.append(record)
            if into is not None:
                into.append(record)
            if indexed:
                self.pool.groups.append(record)
        self.out[table] = records

    def companies(self, start: int, end: int) -> None:
        count = self.counts.get("core_company", 0)
        rng = self.rng("core_company")
        records: list[Record] = []
        vendors = min(8, max(0, count - 2))
        for index, (key, entered) in enumerate(zip(_keys(rng, count), _times(rng, count, start, end), strict=True)):
            kind = "msp" if index == 0 else "vendor" if index <= vendors else "customer"
            if index <= vendors + 1:
                entered = start + index * 60  # the MSP, its vendors and its first client exist from the start
            record = self.f.company(rng, key, entered, _later(rng, entered, self.end, 500), self.pool, kind)
            records.append(record)
            if kind == "msp":
                self.pool.msp = record
            elif kind == "vendor":
                self.pool.vendors.append(record)
            else:
                self.pool.customers.append(record)
        self.out["core_company"] = records

    def users(self, start: int, end: int) -> None:
        count = self.counts.get("sys_user", 0)
        rng = self.rng("sys_user")
        keys, times = _keys(rng, count), _times(rng, count, start, end)
        agents = min(max(3, count // 12), max(0, count - 1))
        records: list[Record] = []
        for index, (key, entered) in enumerate(zip(keys, times, strict=True)):
            if index == 0:
                record = self.f.integration(key, start, self.pool)
            elif index <= agents:
                entered = start + (entered - start) * SETUP_DAYS * DAY // max(1, end - start)
                record = self.f.user(
                    rng, key, entered, _later(rng, entered, self.end, 600), self.pool, self.pool.msp, True
                )
            else:
                entered = start + int((end - start) * ((entered - start) / max(1, end - start)) ** 1.6)
                company = self.pool.customer(rng, entered)
                record = self.f.user(rng, key, entered, _later(rng, entered, self.end, 400), self.pool, company)
            records.append(record)
            if index:
                self.pool.add_user(record)
        self.out["sys_user"] = records

    def contacts(self, start: int, end: int) -> None:
        count = self.counts.get("customer_contact", 0)
        rng = self.rng("customer_contact")
        accounts = self.pool.accounts
        records: list[Record] = []
        for index, (key, entered) in enumerate(zip(_keys(rng, count), _times(rng, count, start, end), strict=True)):
            account = accounts[index % len(accounts)] if accounts and index < len(accounts) else None
            if account is None and accounts:
                account = rng.choice(accounts)
            if account is not None:
                entered = max(entered, parse_datetime(account["sys_created_on"]))
            record = self.f.contact(rng, key, entered, _later(rng, entered, self.end, 400), self.pool, account)
            records.append(record)
            self.pool.contacts_by_account[ref_value(record["account"])].append(record)
        self.out["customer_contact"] = records

    def incidents(self) -> None:
        count = self.counts.get("incident", 0)
        rng = self.rng("incident")
        records: list[Record] = []
        times = _times(rng, count, self.start + TASKS_AFTER_DAYS * DAY, self.end - HOUR)
        for key, entered in zip(_keys(rng, count), times, strict=True):
            record = self.f.incident(rng, key, entered, entered, self.pool, window_end=self.end)
            last = _last_event(record, ("resolved_at", "closed_at"))
            updated = min(self.end, last + rng.randint(0, 2 * HOUR)) if record["state"] != "1" else entered
            records.append(_touch(record, updated, self.f.actor(rng, self.pool), rng))
        self.pool.incidents = records
        self.out["incident"] = records

    def time_cards(self) -> None:
        count = self.counts.get("time_card", 0)
        rng = self.rng("time_card")
        worked = [i for i in self.pool.incidents if i["state"] != "1"] or self.pool.incidents
        users = {u["sys_id"]: u for u in self.pool.agents}
        plans = []
        for _ in range(count if worked else 0):
            incident = rng.choice(worked)
            opened = parse_datetime(incident["opened_at"])
            finished = _last_event(incident, ("resolved_at",))
            entered = min(self.end, rng.randint(opened, max(opened, finished)) + rng.randint(HOUR, 2 * DAY))
            user = users.get(ref_value(incident["assigned_to"])) or self.pool.agent(rng, entered)
            plans.append((entered, incident, user))
        plans.sort(key=lambda plan: plan[0])
        records: list[Record] = []
        self.cards_by_task_user: dict[tuple[str, str], Record] = {}
        for key, (entered, incident, user) in zip(_keys(rng, len(plans)), plans, strict=True):
            record = self.f.time_card(rng, key, entered, entered, self.pool, incident, user, now=self.end)
            if record["state"] != "Pending":
                updated = min(self.end, entered + rng.randint(HOUR, 10 * DAY))
                _touch(record, updated, self.f.actor(rng, self.pool), rng)
            records.append(record)
            self.cards_by_task_user[(incident["sys_id"], ref_value(record["user"]))] = record
        self.out["time_card"] = records

    def time_worked(self) -> None:
        count = self.counts.get("task_time_worked", 0)
        rng = self.rng("task_time_worked")
        cards = self.out.get("time_card", [])
        incidents = {i["sys_id"]: i for i in self.pool.incidents}
        users = {u["sys_id"]: u for u in self.pool.agents}
        tasks_exist = bool(self.pool.incidents or self.pool.problems or self.pool.changes)
        plans: list[tuple[int, Any, Any, Any]] = []
        for _ in range(count if tasks_exist else 0):
            card = rng.choice(cards) if cards and rng.random() < 0.5 else None
            if card is not None:
                task = ("incident", incidents[ref_value(card["task"])])
                entered = min(self.end, parse_datetime(card["sys_created_on"]) + rng.randint(60, DAY))
                plans.append((entered, task, users.get(ref_value(card["user"])), card))
            else:
                plans.append((rng.randint(self.start + (TASKS_AFTER_DAYS + 1) * DAY, self.end), None, None, None))
        plans.sort(key=lambda plan: plan[0])
        records = []
        for key, (entered, task, user, card) in zip(_keys(rng, len(plans)), plans, strict=True):
            record = self.f.time_worked(rng, key, entered, entered, self.pool, task, user, card)
            records.append(
                _touch(record, _later(rng, entered, self.end, 5, unchanged=0.8), self.f.actor(rng, self.pool), rng)
            )
        self.out["task_time_worked"] = records

    def link_back(self) -> None:
        """References that need both sides: company contacts, account primary contacts, problem incidents."""
        companies = self.out.get("core_company", [])
        for index, company in enumerate(companies):
            contact: Record | None
            if company.get("primary") == "true" and self.pool.agents:
                contact = self.pool.agents[0]
            else:
                users = self.pool.users_by_company.get(company["sys_id"], [])
                contact = users[0] if users else None
            if contact is not None and contact["sys_created_on"] <= company["sys_updated_on"]:
                companies[index] = {**company, "contact": self.f.ref("sys_user", contact)}
        accounts = self.out.get("customer_account", [])
        for index, account in enumerate(accounts):
            contacts = self.pool.contacts_by_account.get(account["sys_id"], [])
            if contacts and contacts[0]["sys_created_on"] <= account["sys_updated_on"]:
                accounts[index] = {**account, "primary_contact": self.f.ref("customer_contact", contacts[0])}
        by_problem: dict[str, list[Record]] = {}
        for incident in self.out.get("incident", []):
            problem_id = ref_value(incident["problem_id"])
            if problem_id:
                by_problem.setdefault(problem_id, []).append(incident)
        problems = self.out.get("problem", [])
        for index, problem in enumerate(problems):
            linked = [
                i for i in by_problem.get(problem["sys_id"], []) if i["sys_created_on"] <= problem["sys_updated_on"]
            ]
            if linked:
                problems[index] = {
                    **problem,
                    "first_reported_by_task": self.f.s.ref("task", linked[0]["sys_id"]),
                    "related_incidents": str(len(linked)),
                }


def generate(
    factory: Factory,
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    window: tuple[int, int] = (WINDOW_START, WINDOW_END),
) -> dict[str, list[Record]]:
    """Every table of an instance: table -> records. Deterministic in its inputs."""
    return Generator(factory, seed, instance, counts, window).run()
