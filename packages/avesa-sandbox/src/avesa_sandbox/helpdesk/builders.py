"""Builders of single records, in schema field order, used for the initial data and for inserts.

A builder is given what the record depends on (the parent records, the agent roster, its creation
time and the "horizon": the time the record's history is written up to) and draws everything else
from ``rng``, so the same inputs always give the same record. Business rules hold by construction:
a ticket's contact belongs to its company, a time entry's company is its ticket's, ``hours`` is
``ended_at - started_at``, lifecycle stamps never precede ``created_at`` nor follow ``updated_at``.
"""

from __future__ import annotations

import random
from typing import Any

from avesa_sandbox.clock import format_epoch
from avesa_sandbox.helpdesk import vocab as v
from avesa_sandbox.helpdesk.agents import ascii_slug

Record = dict[str, Any]

HOUR = 3600
DAY = 86400

CITY_BY_NAME = {city[0]: city for city in v.CITIES}
_TLD = {"US": "com", "CA": "ca", "GB": "co.uk", "IE": "ie", "NL": "nl", "DE": "de", "FR": "fr"}
_PLAN_SLA_HOURS = {"essentials": 24, "professional": 8, "enterprise": 4}
_HOURS = {
    "remote_support": (0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0),
    "onsite": (1.0, 1.5, 2.0, 3.0, 4.0),
    "travel": (0.5, 0.75, 1.0),
    "project": (1.0, 2.0, 3.0, 4.0, 6.0),
    "administration": (0.25, 0.5),
}
_WORK_TYPES = ("remote_support",) * 12 + ("onsite",) * 3 + ("travel",) * 2 + ("project",) * 2 + ("administration",)
_BILLABLE_SHARE = {"remote_support": 0.85, "onsite": 0.9, "travel": 0.5, "project": 0.95, "administration": 0.1}
_TICKET_TYPES = ("incident",) * 6 + ("service_request",) * 3 + ("question", "problem")
_PRIORITIES = ("low",) * 2 + ("normal",) * 5 + ("high",) * 2 + ("urgent",)
_CHANNELS = ("email",) * 5 + ("portal",) * 3 + ("phone",) * 2 + ("chat",)
_HARDWARE_TAGS = {"printer", "hardware", "windows", "performance", "wifi"}


def postal_code(rng: random.Random, pattern: str) -> str:
    """A postal code from a pattern: ``#`` a digit, ``@`` an uppercase letter."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(str(rng.randrange(10)))
        elif ch == "@":
            out.append(chr(65 + rng.randrange(26)))
        else:
            out.append(ch)
    return "".join(out)


def phone(rng: random.Random, city: tuple[Any, ...]) -> str:
    return f"{city[4]}{rng.randrange(100, 200):03d}{rng.randrange(10)}"


def address(rng: random.Random, city: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "line1": f"{rng.randrange(1, 999)} {rng.choice(v.STREETS)}",
        "line2": rng.choice(v.LINE2) if rng.random() < 0.35 else None,
        "city": city[0],
        "region": city[1],
        "postal_code": postal_code(rng, city[3]),
        "country": city[2],
    }


def city_of(company: Record) -> tuple[Any, ...]:
    """The vocabulary entry of a company's city (phone prefix, time zone, language)."""
    return CITY_BY_NAME.get(company["address"]["city"], v.CITIES[0])


def sla_hours(plan: str) -> int:
    return _PLAN_SLA_HOURS[plan]


class RecordFactory:
    """Builds the records of one instance (its agents are fixed)."""

    def __init__(self, agents: list[dict[str, Any]]) -> None:
        self.agents = agents

    def agent(self, rng: random.Random) -> dict[str, Any]:
        return rng.choice(self.agents)

    # -- companies ---------------------------------------------------------------------------------

    def company_name(self, rng: random.Random, used: set[str]) -> tuple[str, str]:
        """(name, industry), unique within ``used`` (which it extends)."""
        for attempt in range(50):
            industry = rng.choice(tuple(v.INDUSTRIES))
            name = f"{rng.choice(v.COMPANY_WORDS)} {rng.choice(v.INDUSTRIES[industry])}"
            if attempt >= 10:
                name = f"{name} {rng.choice(v.CITIES)[0]}"
            if attempt >= 30:
                name = f"{name} {attempt}"
            if name not in used:
                used.add(name)
                return name, industry
        raise RuntimeError("could not find a unique company name")

    def company(
        self, rng: random.Random, record_id: int, created: int, updated: int, used_names: set[str], new: bool = False
    ) -> Record:
        name, industry = self.company_name(rng, used_names)
        city = rng.choice(v.CITIES)
        slug = "".join(ch for ch in ascii_slug(name.replace("&", "and")) if ch.isalnum())
        domain = f"{slug[:40]}.{_TLD[city[2]]}"
        status = "prospect" if new and rng.random() < 0.5 else rng.choices(("active", "inactive"), (92, 8))[0]
        plan = rng.choices(("essentials", "professional", "enterprise"), (45, 40, 15))[0]
        year = format_epoch(created)[:4]
        return {
            "id": record_id,
            "name": name,
            "domain": domain,
            "status": status,
            "plan": plan,
            "industry": industry,
            "employee_count": max(1, int(rng.lognormvariate(3.0, 0.9))),
            "phone": phone(rng, city) if rng.random() < 0.95 else None,
            "website": f"https://www.{domain}" if rng.random() < 0.85 else None,
            "address": address(rng, city),
            "account_manager": self.agent(rng) if status != "inactive" or rng.random() < 0.3 else None,
            "tags": sorted(set(rng.sample(v.COMPANY_TAGS, rng.randrange(0, 4)))),
            "notes": rng.choice(v.COMPANY_NOTES) if rng.random() < 0.25 else None,
            "custom_fields": {
                "contract_number": None if status == "prospect" else f"CN-{year}-{record_id:05d}",
                "sla_hours": sla_hours(plan),
                "onboarded": status != "prospect" and rng.random() < 0.95,
                "billing_code": f"BC{rng.randrange(1000, 9999)}" if rng.random() < 0.6 else None,
            },
            "created_at": format_epoch(created),
            "updated_at": format_epoch(updated),
        }

    # -- contacts ----------------------------------------------------------------------------------

    def contact(
        self, rng: random.Random, record_id: int, company: Record, is_primary: bool, created: int, updated: int
    ) -> Record:
        city = city_of(company)
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        logged_in = None
        if updated > created and rng.random() < 0.7:
            logged_in = format_epoch(rng.randint(created, updated))
        return {
            "id": record_id,
            "company_id": company["id"],
            "first_name": first,
            "last_name": last,
            "email": f"{ascii_slug(first)}.{ascii_slug(last)}@{company['domain']}",
            "phone": phone(rng, city) if rng.random() < 0.8 else None,
            "mobile": phone(rng, city) if rng.random() < 0.4 else None,
            "job_title": ("Owner" if is_primary and rng.random() < 0.3 else rng.choice(v.JOB_TITLES))
            if rng.random() < 0.9
            else None,
            "is_primary": is_primary,
            "active": rng.random() < 0.95,
            "timezone": city[5],
            "language": city[6],
            "last_login_at": logged_in,
            "custom_fields": {
                "vip": rng.random() < (0.5 if is_primary else 0.05),
                "preferred_channel": rng.choices(("email", "phone", "portal", "chat"), (6, 2, 3, 1))[0],
            },
            "created_at": format_epoch(created),
            "updated_at": format_epoch(updated),
        }

    # -- tickets -----------------------------------------------------------------------------------

    def ticket(
        self, rng: random.Random, record_id: int, company: Record, contact: Record | None, created: int, horizon: int
    ) -> Record:
        """A ticket opened at ``created`` whose history runs up to ``horizon`` (== created: a new ticket)."""
        kind = rng.choice(_TICKET_TYPES)
        subject, description, tags, group = rng.choice(v.TICKET_TEMPLATES[kind])
        channel = "monitoring" if contact is None else rng.choice(_CHANNELS)
        priority = rng.choice(_PRIORITIES)
        if "outage" in tags or "alert" in tags:
            priority = rng.choice(("high", "urgent"))
        due = created + v.SLA_RESOLUTION_HOURS[priority] * HOUR * (1 if priority == "urgent" else 2)
        status, responded, solved, closed = _lifecycle(rng, created, horizon, kind)
        assignee = self.agent(rng) if status != "new" else None
        updated = max(s for s in (created, responded, solved, closed) if s is not None)
        if status in ("open", "pending", "on_hold") and responded is not None:
            updated = responded + int(rng.random() * (horizon - responded))  # replies, notes, reminders since
        elif horizon > updated:
            updated = min(horizon, updated + rng.randrange(0, 2 * HOUR))
        all_tags = set(tags)
        if rng.random() < 0.2:
            all_tags.add(rng.choice(v.TICKET_TAGS))
        hardware = bool(all_tags & _HARDWARE_TAGS)
        hour_of_day = (created % DAY) // HOUR
        return {
            "id": record_id,
            "company_id": company["id"],
            "contact_id": contact["id"] if contact is not None else None,
            "subject": subject,
            "description": description,
            "status": status,
            "priority": priority,
            "type": kind,
            "channel": channel,
            "assignee": assignee,
            "group": group,
            "tags": sorted(all_tags),
            "due_at": format_epoch(due) if kind != "question" else None,
            "first_response_at": format_epoch(responded) if responded is not None else None,
            "solved_at": format_epoch(solved) if solved is not None else None,
            "closed_at": format_epoch(closed) if closed is not None else None,
            "sla": {
                "policy": v.SLA_POLICIES[company["plan"]],
                "breached": kind != "question" and (solved if solved is not None else horizon) > due,
            },
            "custom_fields": {
                "root_cause": rng.choice(v.ROOT_CAUSES) if solved is not None and kind in ("incident", "problem")
                else None,
                "after_hours": not 8 <= hour_of_day < 18,
                "asset_tag": f"AT-{rng.randrange(10000, 99999)}" if hardware and rng.random() < 0.7 else None,
            },
            "created_at": format_epoch(created),
            "updated_at": format_epoch(updated),
        }

    # -- time entries ------------------------------------------------------------------------------

    def time_entry(
        self, rng: random.Random, record_id: int, ticket: Record, started: int, created: int, updated: int,
        work_type: str | None = None, hours: float | None = None, invoiced: bool = False,
    ) -> Record:
        work_type = work_type or rng.choice(_WORK_TYPES)
        hours = hours if hours is not None else rng.choice(_HOURS[work_type])
        billable = rng.random() < _BILLABLE_SHARE[work_type]
        assignee = ticket.get("assignee")
        agent = assignee if assignee is not None and rng.random() < 0.8 else self.agent(rng)
        return {
            "id": record_id,
            "ticket_id": ticket["id"],
            "company_id": ticket["company_id"],
            "agent": agent,
            "started_at": format_epoch(started),
            "ended_at": format_epoch(started + round(hours * HOUR)),
            "hours": hours,
            "billable": billable,
            "rate": rng.choice(v.RATES) if billable else None,
            "work_type": work_type,
            "notes": rng.choice(v.TIME_NOTES[work_type]),
            "invoiced": billable and invoiced,
            "custom_fields": {"mileage_km": round(rng.uniform(4, 80), 1) if work_type == "travel" else None},
            "created_at": format_epoch(created),
            "updated_at": format_epoch(updated),
        }

    def entry_shape(self, rng: random.Random) -> tuple[str, float]:
        """(work type, hours) of a time entry, drawn before its times are placed."""
        work_type = rng.choice(_WORK_TYPES)
        return work_type, rng.choice(_HOURS[work_type])


def _lifecycle(
    rng: random.Random, created: int, horizon: int, kind: str
) -> tuple[str, int | None, int | None, int | None]:
    """(status, first response, solved, closed) of a ticket opened at ``created``, as of ``horizon``.

    Old tickets are mostly closed (solved tickets close automatically three days later), recent ones
    are still being worked on."""
    age = horizon - created
    if age < HOUR // 2:
        return "new", None, None, None
    if age > 21 * DAY:
        weights = {"closed": 85, "solved": 2, "open": 5, "pending": 4, "on_hold": 4}
    elif age > 5 * DAY:
        weights = {"closed": 40, "solved": 30, "open": 15, "pending": 10, "on_hold": 5}
    else:
        weights = {"new": 20, "open": 40, "pending": 15, "solved": 20, "on_hold": 5}
    status = rng.choices(tuple(weights), tuple(weights.values()))[0]
    if status == "new":
        return status, None, None, None
    responded = created + min(int(rng.expovariate(1 / (2 * HOUR))) + 60, age // 2)
    if status not in ("solved", "closed"):
        return status, responded, None, None
    remaining = horizon - responded
    work = (4 * HOUR if kind == "question" else 3 * DAY) if remaining > 0 else 0
    solved = responded + min(int(rng.expovariate(1 / max(work, 1))) + 300, max(remaining // 2, 1))
    closed = solved + 3 * DAY + rng.randrange(0, 6 * HOUR)
    if status == "closed" and closed <= horizon:
        return status, responded, solved, closed
    return "solved", responded, solved, None
