"""Realistic random changes to an Acme Helpdesk instance (the admin API's bulk ``mutate``).

Updates change what people and automations change: tickets move through their workflow (answered,
put on hold, solved, closed three days later, sometimes reopened), get reassigned and
re-prioritised; time entries get corrected and invoiced; contacts log in, change jobs and leave;
companies change plan, move or churn. About one update in ten changes nothing but ``updated_at``
(a save without changes, an automation touching the record). Inserts build new records that
reference existing ones. Deletes only remove records nothing references (the product refuses to
delete a company with contacts or a ticket with time logged); a deleted record simply disappears.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.helpdesk import vocab as v
from avesa_sandbox.helpdesk.agents import ascii_slug
from avesa_sandbox.helpdesk.builders import CITY_BY_NAME, RecordFactory, address, phone, sla_hours
from avesa_sandbox.mutation import NOOP_SHARE, Changes, Mutation, Record, referencing_ids

if TYPE_CHECKING:
    from avesa_sandbox.helpdesk.simulator import HelpdeskSimulator
    from avesa_sandbox.instances import Instance

Changer = Callable[[Record, random.Random, RecordFactory, int], Changes]

REFERENCED_BY: dict[str, tuple[tuple[str, str], ...]] = {
    "companies": (("contacts", "company_id"), ("tickets", "company_id"), ("time_entries", "company_id")),
    "contacts": (("tickets", "contact_id"),),
    "tickets": (("time_entries", "ticket_id"),),
}
"""table -> (referencing table, field holding the id)."""


def mutate(instance: Instance, simulator: HelpdeskSimulator, request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{updates, inserts, deletes, seed, tables}`` and report what was done."""
    run = Mutation(instance, request)
    rng, factory = run.rng, simulator.record_factory
    run.insert(lambda table: instance.insert(table, rng=rng))
    run.update(lambda table, record: CHANGERS[table](record, rng, factory, instance.clock.now()), noop_share=NOOP_SHARE)
    run.delete(referenced=lambda table: referenced_ids(instance, table))
    return run.report()


def referenced_ids(instance: Instance, table: str) -> set[Any]:
    """Ids of ``table`` that some record references (those cannot be deleted)."""
    return referencing_ids(instance, REFERENCED_BY.get(table, ()))


# -- per-table changes -----------------------------------------------------------------------------


def _company(record: Record, rng: random.Random, f: RecordFactory, now: int) -> Changes:
    custom = dict(record.get("custom_fields") or {})
    choice = rng.randrange(7)
    status = record.get("status")
    if choice == 0 and status == "prospect":
        custom.update(contract_number=f"CN-{format_epoch(now)[:4]}-{record['id']:05d}", onboarded=True)
        return {"status": "active", "custom_fields": custom, "account_manager": f.agent(rng)}
    if choice == 0:
        return {"status": "inactive" if status == "active" else "active"}
    if choice == 1:
        plan = rng.choice(("essentials", "professional", "enterprise"))
        custom["sla_hours"] = sla_hours(plan)
        return {"plan": plan, "custom_fields": custom}
    if choice == 2:
        city = rng.choice(v.CITIES)
        return {"address": address(rng, city), "phone": phone(rng, city)}
    if choice == 3:
        return {"employee_count": max(1, int(int(record.get("employee_count") or 10) * rng.uniform(0.8, 1.3)))}
    if choice == 4:
        return {"account_manager": f.agent(rng)}
    if choice == 5:
        tags = set(record.get("tags") or ())
        tag = rng.choice(v.COMPANY_TAGS)
        tags.symmetric_difference_update({tag})
        return {"tags": sorted(tags)}
    return {"notes": rng.choice(v.COMPANY_NOTES)}


def _contact(record: Record, rng: random.Random, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(8)
    if choice <= 2:  # people log in to the portal far more often than anything else happens
        return {"last_login_at": format_epoch(now)}
    if choice == 3:
        return {"job_title": rng.choice(v.JOB_TITLES)}
    city = CITY_BY_NAME.get(_city_guess(record), v.CITIES[0])
    if choice == 4:
        return {"phone": phone(rng, city)} if rng.random() < 0.5 else {"mobile": phone(rng, city)}
    if choice == 5:
        active = not record.get("active", True)
        return {"active": active, **({} if active else {"is_primary": False})}
    if choice == 6:
        custom = dict(record.get("custom_fields") or {})
        custom["vip"] = not custom.get("vip", False)
        return {"custom_fields": custom}
    last = rng.choice(v.LAST_NAMES)  # a name change
    local, _, domain = str(record.get("email", "x@example.com")).partition("@")
    first = local.split(".")[0]
    return {"last_name": last, "email": f"{first}.{ascii_slug(last)}@{domain}"}


def _city_guess(record: Record) -> str:
    """A contact's city, from its time zone (contacts carry no address)."""
    for city in v.CITIES:
        if city[5] == record.get("timezone"):
            return str(city[0])
    return str(v.CITIES[0][0])


def _ticket(record: Record, rng: random.Random, f: RecordFactory, now: int) -> Changes:
    status = record.get("status")
    stamp = format_epoch(now)
    roll = rng.random()
    if status == "closed":
        custom = dict(record.get("custom_fields") or {})
        custom["root_cause"] = rng.choice(v.ROOT_CAUSES)
        return {"custom_fields": custom} if roll < 0.5 else {"tags": sorted({*record.get("tags", ()), "reviewed"})}
    if roll < 0.15:
        return {"priority": rng.choice(("low", "normal", "high", "urgent"))}
    if roll < 0.25 and status != "new":
        return {"assignee": f.agent(rng), "group": rng.choice(v.AGENT_GROUPS)}
    if status == "new":
        return {"status": "open", "assignee": record.get("assignee") or f.agent(rng), "first_response_at": stamp}
    if status in ("pending", "on_hold"):
        return {"status": "open"}
    if status == "open":
        if roll < 0.5:
            return {"status": rng.choice(("pending", "pending", "on_hold"))}
        return _solve(record, rng, now)
    # solved: closes automatically, or the customer replies and it reopens
    if roll < 0.8:
        return {"status": "closed", "closed_at": stamp}
    custom = dict(record.get("custom_fields") or {})
    custom["root_cause"] = None
    return {"status": "open", "solved_at": None, "custom_fields": custom}


def _solve(record: Record, rng: random.Random, now: int) -> Changes:
    changes: Changes = {"status": "solved", "solved_at": format_epoch(now)}
    if record.get("type") in ("incident", "problem"):
        changes["custom_fields"] = {**(record.get("custom_fields") or {}), "root_cause": rng.choice(v.ROOT_CAUSES)}
    due = record.get("due_at")
    sla = dict(record.get("sla") or {"policy": "Standard", "breached": False})
    sla["breached"] = due is not None and now > parse_epoch(due)
    changes["sla"] = sla
    return changes


def _time_entry(record: Record, rng: random.Random, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(4)
    started = parse_epoch(record["started_at"])
    fitting = [h for h in (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0) if started + h * 3600 <= now]  # none in the future
    if choice == 0 and fitting and not record.get("invoiced"):
        hours = rng.choice(fitting)
        return {"hours": hours, "ended_at": format_epoch(started + round(hours * 3600))}
    if choice == 1:
        notes = rng.choice(v.TIME_NOTES.get(str(record.get("work_type")), v.TIME_NOTES["remote_support"]))
        return {"notes": f"{notes} Follow-up scheduled."}
    if choice == 2 and not record.get("invoiced"):
        billable = not record.get("billable")
        return {"billable": billable, "rate": rng.choice(v.RATES) if billable else None}
    if record.get("billable") and not record.get("invoiced"):
        return {"invoiced": True}
    return {"notes": rng.choice(v.TIME_NOTES["administration"])}


CHANGERS: dict[str, Changer] = {
    "companies": _company,
    "contacts": _contact,
    "tickets": _ticket,
    "time_entries": _time_entry,
}
