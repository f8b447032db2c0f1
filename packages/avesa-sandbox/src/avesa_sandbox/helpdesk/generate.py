"""Deterministic initial data of an instance: companies, contacts, tickets, time entries.

``generate(seed, instance, counts, factory)`` gives the same records for the same inputs, whatever
today's date. Creation times spread over a fixed past window (2024-01-01 .. 2025-12-31), ids grow
with creation time (with a few gaps, as records deleted long ago leave), and every reference points
at a record created before the referencing one: a contact's company, a ticket's contact (of the
ticket's company; none for monitoring alerts), a time entry's ticket (worked on after it was
answered, before it was solved).
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from typing import Any

from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.helpdesk.builders import DAY, HOUR, RecordFactory
from avesa_sandbox.helpdesk.tables import TABLES

Record = dict[str, Any]

WINDOW_START = parse_epoch("2024-01-01T00:00:00Z")
WINDOW_END = parse_epoch("2025-12-31T23:59:59Z")
_SPAN = WINDOW_END - WINDOW_START


def rng_for(seed: int, instance: str, purpose: str) -> random.Random:
    """A generator determined by (seed, instance, purpose) alone."""
    return random.Random(f"{seed}/{instance}/helpdesk/{purpose}")


def _ids(rng: random.Random, first: int, count: int) -> list[int]:
    """``count`` increasing ids from ``first`` with occasional gaps."""
    ids: list[int] = []
    current = first
    for _ in range(count):
        ids.append(current)
        current += 1 + (rng.randint(1, 3) if rng.random() < 0.04 else 0)
    return ids


def _times(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    return sorted(rng.randint(low, max(low, high)) for _ in range(count))


def _updated(rng: random.Random, created: int, skew: float) -> int:
    """A last change after ``created``: most records change little after they are entered."""
    return created + int(rng.random() ** skew * (WINDOW_END - created))


def generate(seed: int, instance: str, counts: dict[str, int], factory: RecordFactory) -> dict[str, list[Record]]:
    """table -> records, referenced tables first."""
    companies = _companies(rng_for(seed, instance, "companies"), counts["companies"], factory)
    contacts = _contacts(rng_for(seed, instance, "contacts"), counts["contacts"], companies, factory)
    tickets = _tickets(rng_for(seed, instance, "tickets"), counts["tickets"], companies, contacts, factory)
    entries = _time_entries(rng_for(seed, instance, "time_entries"), counts["time_entries"], tickets, factory)
    return {"companies": companies, "contacts": contacts, "tickets": tickets, "time_entries": entries}


def _companies(rng: random.Random, count: int, factory: RecordFactory) -> list[Record]:
    created = _times(rng, count, WINDOW_START + 9 * HOUR, WINDOW_START + int(_SPAN * 0.55))
    ids = _ids(rng, TABLES["companies"].first_id, count)
    used: set[str] = set()
    return [factory.company(rng, rid, c, _updated(rng, c, 3.0), used) for rid, c in zip(ids, created, strict=True)]


def _created_epochs(records: list[Record]) -> list[int]:
    return [parse_epoch(r["created_at"]) for r in records]


def _contacts(rng: random.Random, count: int, companies: list[Record], factory: RecordFactory) -> list[Record]:
    if not companies:
        return []
    company_created = _created_epochs(companies)
    created = _times(rng, count, company_created[0] + HOUR, WINDOW_END - HOUR)
    ids = _ids(rng, TABLES["contacts"].first_id, count)
    per_company: dict[int, int] = defaultdict(int)
    records = []
    for rid, c in zip(ids, created, strict=True):
        # most contacts join companies the MSP already serves; older companies have had longer to grow
        company = companies[rng.randrange(bisect.bisect_right(company_created, c))]
        is_primary = per_company[company["id"]] == 0
        per_company[company["id"]] += 1
        records.append(factory.contact(rng, rid, company, is_primary, c, _updated(rng, c, 2.5)))
    return records


def _tickets(
    rng: random.Random, count: int, companies: list[Record], contacts: list[Record], factory: RecordFactory
) -> list[Record]:
    if not companies or not contacts:
        return []
    by_id = {company["id"]: company for company in companies}
    company_created = _created_epochs(companies)
    contact_created = _created_epochs(contacts)
    created = _times(rng, count, contact_created[0] + HOUR, WINDOW_END - 600)
    ids = _ids(rng, TABLES["tickets"].first_id, count)
    records = []
    for rid, c in zip(ids, created, strict=True):
        if rng.random() < 0.05:  # a monitoring alert: no contact raised it
            company, contact = companies[rng.randrange(bisect.bisect_right(company_created, c))], None
        else:
            contact = contacts[rng.randrange(bisect.bisect_right(contact_created, c))]
            company = by_id[contact["company_id"]]
        records.append(factory.ticket(rng, rid, company, contact, c, WINDOW_END))
    return records


def _time_entries(rng: random.Random, count: int, tickets: list[Record], factory: RecordFactory) -> list[Record]:
    # tickets answered early enough for the longest entry (6 h) to end inside the window
    latest = WINDOW_END - 7 * HOUR
    worked = [t for t in tickets if t["first_response_at"] is not None and parse_epoch(t["created_at"]) < latest]
    if not worked:
        return []
    drafts = []
    for _ in range(count):
        ticket = rng.choice(worked)
        work_type, hours = factory.entry_shape(rng)
        duration = round(hours * HOUR)
        low = parse_epoch(ticket["first_response_at"])
        high = parse_epoch(ticket["solved_at"]) if ticket["solved_at"] else min(WINDOW_END, low + 10 * DAY)
        started = min(rng.randint(low, max(low, high)), WINDOW_END - duration - 60)
        started = max(started, parse_epoch(ticket["created_at"]))
        created = min(WINDOW_END, started + duration + rng.randint(60, 8 * HOUR))
        updated = created if rng.random() < 0.7 else min(WINDOW_END, created + rng.randint(60, 5 * DAY))
        invoiced = WINDOW_END - created > 30 * DAY and rng.random() < 0.9
        if invoiced:  # invoicing touches the entry at the next month's run
            updated = max(updated, min(WINDOW_END, created + rng.randint(20 * DAY, 35 * DAY)))
        drafts.append((created, started, updated, ticket, work_type, hours, invoiced))
    drafts.sort(key=lambda draft: (draft[0], draft[3]["id"]))
    ids = _ids(rng, TABLES["time_entries"].first_id, count)
    return [
        factory.time_entry(rng, rid, ticket, started, created, updated, work_type, hours, invoiced)
        for rid, (created, started, updated, ticket, work_type, hours, invoiced) in zip(ids, drafts, strict=True)
    ]
