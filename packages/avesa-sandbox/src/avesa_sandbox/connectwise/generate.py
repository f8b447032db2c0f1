"""Deterministic, realistic ConnectWise data with the real record shapes.

``generate(...)`` builds every table of an instance from (seed, instance name, counts): the same
inputs always give the same records. Ids grow with creation time and ``dateEntered`` /
``lastUpdated`` are spread over a fixed past window (2024-01-01 .. 2025-12-31 by default), so the
data does not depend on today's date. References point at records that exist: contacts at their
company, tickets at a company, one of its contacts, a board and members, time entries at a ticket
(``chargeToType = "ServiceTicket"``), its company and a member.

Each record is built by ``builders.RecordFactory``, which also makes new records for inserts at run
time.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.connectwise.builders import (
    _DAY,
    _HOUR,
    WINDOW_END,
    WINDOW_START,
    Pool,
    RecordFactory,
    rng_for,
)
from avesa_sandbox.connectwise.references import References
from avesa_sandbox.connectwise.tables import TABLES

Record = dict[str, Any]


# -- whole-instance generation -------------------------------------------------------------------


def _timeline(rng: random.Random, count: int, start: int, end: int, edit_days: int = 200) -> list[tuple[int, int]]:
    """``count`` (entered, updated) pairs, sorted by entered, within [start, end]."""
    entered = sorted(rng.randint(start, end) for _ in range(count))
    pairs = []
    for when in entered:
        if rng.random() < 0.35:
            pairs.append((when, when))
        else:
            pairs.append((when, min(end, when + rng.randint(60, edit_days * _DAY))))
    return pairs


def _ids(rng: random.Random, first: int, count: int) -> list[int]:
    """Increasing ids with occasional gaps (records deleted before the sandbox's history began)."""
    ids, current = [], first
    for _ in range(count):
        ids.append(current)
        current += 1 if rng.random() < 0.9 else rng.randint(2, 6)
    return ids


def generate(
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    refs: References,
    window: tuple[int, int] = (WINDOW_START, WINDOW_END),
) -> dict[str, list[Record]]:
    """Every table of an instance: endpoint -> records sorted by id. Deterministic in its inputs."""
    start, end = window
    third = (end - start) // 3
    factory = RecordFactory(refs)
    pool = Pool()
    out: dict[str, list[Record]] = {}
    # staff and clients exist early in the window; their records keep being edited until its end
    out["system/members"] = _plain(
        factory, "system/members", seed, instance, counts, pool, start, start + third // 2, update_end=end
    )
    pool.members = out["system/members"]
    out["company/companies"] = _plain(
        factory, "company/companies", seed, instance, counts, pool, start, start + 2 * third, update_end=end
    )
    pool.set_companies(out["company/companies"])
    out["company/contacts"] = _contacts(factory, seed, instance, counts, pool, start, end)
    _link_default_contacts(factory, out["company/companies"], pool)
    out["finance/agreements"] = _plain(factory, "finance/agreements", seed, instance, counts, pool, start, end)
    for agreement in out["finance/agreements"]:
        pool.agreements_by_company[agreement["company"]["id"]].append(agreement)
    out["project/projects"] = _plain(factory, "project/projects", seed, instance, counts, pool, start, end)
    out["service/tickets"], out["time/entries"] = _tickets_and_time(factory, seed, instance, counts, pool, start, end)
    pool.tickets = out["service/tickets"]
    out["procurement/products"] = _plain(factory, "procurement/products", seed, instance, counts, pool, start, end)
    # the five tables added later come last, each from its own random stream: the eight above are
    # the same as before they existed
    from avesa_sandbox.connectwise import extra_tables

    extra_tables.generate_into(factory, seed, instance, counts, pool, start, end, out)
    return out


def _plain(
    factory: RecordFactory,
    table: str,
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    pool: Pool,
    start: int,
    end: int,
    update_end: int | None = None,
) -> list[Record]:
    """Records entered in [start, end], edited for a while after (until ``update_end`` at most)."""
    count = counts.get(table, 0)
    if not count or (table not in ("system/members", "company/companies") and not pool.companies):
        return []
    rng = rng_for(seed, instance, table)
    ids = _ids(rng, TABLES[table].first_id, count)
    last = update_end if update_end is not None else end
    records = []
    for rid, entered in zip(ids, sorted(rng.randint(start, end) for _ in range(count)), strict=True):
        updated = entered if rng.random() < 0.35 else min(last, entered + rng.randint(60, 400 * _DAY))
        records.append(factory.build(table, rng, rid, entered, updated, pool))
        if table == "system/members":
            pool.members.append(records[-1])
    return records


def _contacts(
    factory: RecordFactory, seed: int | str, instance: str, counts: dict[str, int], pool: Pool, start: int, end: int
) -> list[Record]:
    count = counts.get("company/contacts", 0)
    companies = pool.companies
    if not count or not companies:
        return []
    rng = rng_for(seed, instance, "company/contacts")
    # every company gets a first contact (when there are enough), the rest go to random companies,
    # bigger companies more often
    owners = [companies[i % len(companies)] for i in range(min(count, len(companies)))]
    weights = [c.get("numberOfEmployees", 10) ** 0.5 for c in companies]
    owners += rng.choices(companies, weights=weights, k=count - len(owners))
    ids = _ids(rng, TABLES["company/contacts"].first_id, count)
    records = []
    timeline = _timeline(rng, count, start, end)
    company_entered = {c["id"]: parse_epoch(c["_info"]["dateEntered"]) for c in companies}
    for rid, (entered, updated), company in zip(ids, timeline, owners, strict=True):
        entered = max(entered, company_entered[company["id"]])
        updated = max(updated, entered)
        contact = factory.contact(rng, rid, entered, updated, pool, company=company)
        pool.contacts_by_company[company["id"]].append(contact)
        records.append(contact)
    return records


def _link_default_contacts(factory: RecordFactory, companies: list[Record], pool: Pool) -> None:
    """Each company's first contact is its default contact (and often its billing contact)."""
    for index, company in enumerate(companies):
        contacts = pool.contacts_by_company.get(company["id"])
        if not contacts:
            continue
        linked = dict(company)
        linked["defaultContact"] = factory.contact_ref(contacts[0])
        if len(contacts) > 1 and company["id"] % 3:
            linked["billingContact"] = factory.contact_ref(contacts[1])
        companies[index] = linked
    pool.set_companies(companies)


def _tickets_and_time(
    factory: RecordFactory, seed: int | str, instance: str, counts: dict[str, int], pool: Pool, start: int, end: int
) -> tuple[list[Record], list[Record]]:
    ticket_count = counts.get("service/tickets", 0)
    if not ticket_count or not pool.companies:
        return [], []
    rng = rng_for(seed, instance, "service/tickets")
    ids = _ids(rng, TABLES["service/tickets"].first_id, ticket_count)
    tickets = []
    for rid, entered in zip(ids, sorted(rng.randint(start, end - _HOUR) for _ in range(ticket_count)), strict=True):
        closed = None
        if rng.random() < 0.75 and end - entered > 2 * _HOUR:
            closed = min(end - 60, entered + rng.randint(_HOUR // 2, 14 * _DAY))
        updated = min(end, (closed or entered) + rng.randint(0, 3 * _DAY))
        tickets.append(factory.ticket(rng, rid, entered, updated, pool, closed=closed))

    time_count = counts.get("time/entries", 0)
    rng = rng_for(seed, instance, "time/entries")
    plans = []
    for _ in range(time_count):
        ticket = rng.choice(tickets)
        opened = parse_epoch(ticket["_info"]["dateEntered"])
        closes = parse_epoch(ticket["closedDate"]) if "closedDate" in ticket else min(end, opened + 30 * _DAY)
        hours = rng.choice((0.25, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0, 3.0, 4.0))
        latest = max(opened, closes - int(hours * _HOUR))
        time_start = rng.randint(opened, latest)
        entered = min(end, time_start + int(hours * _HOUR) + rng.randint(60, 4 * _HOUR))
        plans.append((entered, time_start, hours, ticket))
    plans.sort(key=lambda plan: plan[0])
    ids = _ids(rng, TABLES["time/entries"].first_id, time_count)
    entries = []
    hours_by_ticket: dict[int, float] = defaultdict(float)
    for rid, (entered, time_start, hours, ticket) in zip(ids, plans, strict=True):
        updated = entered if rng.random() < 0.6 else min(end, entered + rng.randint(60, 20 * _DAY))
        entries.append(
            factory.time_entry(rng, rid, entered, updated, pool, ticket=ticket, start=time_start, hours=hours)
        )
        hours_by_ticket[ticket["id"]] += hours
    for index, ticket in enumerate(tickets):
        if ticket["id"] in hours_by_ticket:
            tickets[index] = {**ticket, "actualHours": round(hours_by_ticket[ticket["id"]], 2)}
    return tickets, entries
