"""Realistic random changes to a ConnectWise instance (the admin API's bulk ``mutate``).

Updates change business fields the way people and integrations do: tickets move through statuses
and get closed, reassigned or re-prioritised, time entries get their notes and hours corrected,
contacts change title and phone, companies their status and address, agreements get cancelled...
About one update in ten is a no-op that only bumps ``lastUpdated`` / ``updatedBy`` (real systems do
that: a save without changes, a workflow touching the record). Inserts build new records that
reference existing ones. Deletes only remove records nothing else references, as ConnectWise
refuses to delete, say, a ticket that has time entries.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.connectwise import extra_tables
from avesa_sandbox.connectwise import vocab as v
from avesa_sandbox.connectwise.builders import Pool, RecordFactory
from avesa_sandbox.mutation import NOOP_SHARE, Changes, Mutation, Record, pick_actor, referencing_ids

if TYPE_CHECKING:
    from avesa_sandbox.connectwise.simulator import ConnectWiseSimulator
    from avesa_sandbox.instances import Instance


POOL_TABLES = (
    "system/members",
    "company/companies",
    "company/contacts",
    "finance/agreements",
    "service/tickets",
    "project/projects",
)

# table -> [(referencing table, field holding a reference object, or "chargeToId")]
_REFERENCED_BY: dict[str, list[tuple[str, str]]] = {
    "company/companies": [
        ("company/contacts", "company"),
        ("service/tickets", "company"),
        ("time/entries", "company"),
        ("finance/agreements", "company"),
        ("project/projects", "company"),
        ("procurement/products", "company"),
    ],
    "company/contacts": [
        ("service/tickets", "contact"),
        ("finance/agreements", "contact"),
        ("project/projects", "contact"),
        ("company/companies", "defaultContact"),
        ("company/companies", "billingContact"),
    ],
    "system/members": [
        ("service/tickets", "owner"),
        ("time/entries", "member"),
        ("project/projects", "manager"),
        ("system/members", "reportsTo"),
        ("company/companies", "territoryManager"),
    ],
    "service/tickets": [("time/entries", "chargeToId"), ("procurement/products", "ticket")],
    "finance/agreements": [
        ("service/tickets", "agreement"),
        ("time/entries", "agreement"),
        ("procurement/products", "agreement"),
    ],
}


def mutate(instance: Instance, simulator: ConnectWiseSimulator, request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{updates, inserts, deletes, seed, tables}`` and report what was done."""
    run = Mutation(instance, request)
    rng = run.rng
    factory = simulator.factory(instance.api_base)
    # the pool is looked up per insert: a new member or company can be referenced by the next insert
    run.insert(lambda table: instance.insert(table, by=_actor(rng, simulator.pool(instance)), rng=rng))
    pool = simulator.pool(instance)
    run.update(
        lambda table, record: _CHANGERS[table](record, rng, pool, factory, instance.clock.now()),
        actor=lambda noop: _actor(rng, pool),
        noop_share=NOOP_SHARE,
    )
    run.delete(referenced=lambda table: referencing_ids(instance, _REFERENCED_BY.get(table, []), _reference))
    return run.report()


def _actor(rng: random.Random, pool: Pool) -> str:
    """A technician most of the time, otherwise the integration's API member."""
    return pick_actor(rng, pool.members, "identifier", v.API_MEMBER)


def _reference(record: Record, field: str) -> Any:
    """The id a record holds in a ``_REFERENCED_BY`` field (a reference object, or one of two special forms)."""
    if field == "chargeToId":  # a time entry's charge target, when it is a service ticket
        return record.get("chargeToId", 0) if record.get("chargeToType") == "ServiceTicket" else None
    if field.startswith("objectId@"):  # a schedule entry's objectId, of one entry type
        entry_type = record.get("type", {}).get("identifier")
        return record.get("objectId", 0) if entry_type == field.partition("@")[2] else None
    ref = record.get(field)
    return ref.get("id", 0) if isinstance(ref, dict) else None


# -- per-table changes -----------------------------------------------------------------------------

Changer = Callable[[Record, random.Random, Pool, RecordFactory, int], Changes]


def _company(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(6)
    if choice == 0:
        return {"status": _named(f, "company_status", rng, v.COMPANY_STATUSES)}
    if choice == 1:
        return {"phoneNumber": f._phone(rng)}
    if choice == 2:
        line1, line2, city, state, zip_code = f._address(rng)
        return {"addressLine1": line1, "addressLine2": line2 or None, "city": city, "state": state, "zip": zip_code}
    if choice == 3:
        return {"numberOfEmployees": max(1, int(record.get("numberOfEmployees", 10) * rng.uniform(0.8, 1.4)))}
    if choice == 4:
        return {"market": _named(f, "market", rng, v.MARKETS)}
    return {"annualRevenue": float(rng.choice((250000, 750000, 1500000, 4000000, 12000000)))}


def _contact(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(5)
    if choice == 0:
        return {"title": rng.choice(v.TITLES) or None}
    if choice == 1:
        phone = f._phone(rng)
        items = [
            dict(i, value=phone) if i.get("communicationType") == "Phone" and i.get("defaultFlag") else i
            for i in record.get("communicationItems", [])
        ]
        return {"defaultPhoneNbr": phone, "defaultPhoneType": "Direct", "communicationItems": items}
    if choice == 2:
        return {"inactiveFlag": not record.get("inactiveFlag", False)}
    if choice == 3:
        return {"department": _named(f, "contact_department", rng, v.DEPARTMENTS)}
    items = record.get("communicationItems", [])
    if items and items[0].get("communicationType") == "Email":
        local, _, domain = items[0]["value"].partition("@")
        email = f"{local[0]}{record.get('lastName', 'x').lower()}{rng.randint(1, 99)}@{domain}"
        return {"communicationItems": [dict(items[0], value=email), *items[1:]]}
    return {"title": rng.choice(v.TITLES) or None}


def _ticket(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(6)
    board_id = record.get("board", {}).get("id", 1)
    current = record.get("status", {}).get("name", "New")
    if choice <= 2 and current != "Closed":
        order = [s[1] for s in v.TICKET_STATUSES]
        following = v.TICKET_STATUSES[min(order.index(current) + rng.randint(1, 2), len(order) - 1)]
        changes: Changes = {
            "status": f.refs.ref(
                "ticket_status",
                board_id * 100 + following[0],
                name=following[1],
                sort=following[2],
                link={"board": board_id},
            ),
        }
        if following[1] in v.CLOSED_STATUSES:
            by = _actor(rng, pool)
            changes.update(
                closedDate=format_epoch(now),
                closedBy=by,
                closedFlag=True,
                dateResolved=format_epoch(now),
                resolvedBy=by,
            )
        return changes
    if choice == 3 and pool.members:
        return {"owner": f.member_ref(rng.choice(pool.members))}
    if choice == 4:
        priority = rng.choice(v.PRIORITIES)
        return {"priority": f.refs.ref("priority", priority[0], name=priority[1], sort=priority[2], level=priority[3])}
    hours = round(float(record.get("actualHours", 0.0)) + rng.choice((0.25, 0.5, 1.0)), 2)
    return {"actualHours": hours, "customerUpdatedFlag": rng.random() < 0.3}


def _time_entry(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice == 0:
        return {"notes": f"{record.get('notes', '')} {rng.choice(v.TIME_NOTES)}".strip()[:1000]}
    if choice == 1:
        hours = rng.choice((0.25, 0.5, 0.75, 1.0, 1.5, 2.0))
        start = parse_epoch(record["timeStart"])
        billed = hours if record.get("billableOption") == "Billable" else 0.0
        return {
            "actualHours": hours,
            "timeEnd": format_epoch(start + int(hours * 3600)),
            "hoursBilled": billed,
            "invoiceHours": billed,
        }
    if choice == 2:
        option = rng.choice(v.BILLABLE_OPTIONS)
        billed = record.get("actualHours", 0.0) if option == "Billable" else 0.0
        return {"billableOption": option, "hoursBilled": billed}
    statuses = list(v.TIME_STATUSES)
    current = record.get("status", "Open")
    index = statuses.index(current) if current in statuses else 0
    return {"status": statuses[min(index + 1, len(statuses) - 1)]}


def _agreement(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(3)
    if choice == 0:
        return {"billAmount": round(float(record.get("billAmount", 500.0)) * rng.uniform(0.9, 1.2), 2)}
    if choice == 1 and record.get("agreementStatus") == "Active":
        return {
            "agreementStatus": "Cancelled",
            "cancelledFlag": True,
            "dateCancelled": format_epoch(now - now % 86400),
            "reasonCancelled": "Customer moved to another provider",
        }
    return {"endDate": format_epoch(now - now % 86400 + 365 * 86400), "noEndingDateFlag": False}


def _project(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if record.get("closedFlag"):
        return {"description": f"{record.get('description', '')} (reviewed)".strip()}
    percent = min(1.0, round(float(record.get("percentComplete", 0.0)) + rng.choice((0.05, 0.1, 0.25)), 2))
    changes: Changes = {
        "percentComplete": percent,
        "actualHours": round(float(record.get("actualHours", 0.0)) + rng.choice((1.0, 2.5, 4.0)), 2),
    }
    if percent >= 1.0:
        status = v.PROJECT_STATUSES[3]
        changes.update(
            status=f.refs.ref("project_status", status[0], name=status[1]), closedFlag=True, actualEnd=format_epoch(now)
        )
    return changes


def _member(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(3)
    if choice == 0:
        return {"title": rng.choice(v.MEMBER_TITLES)}
    if choice == 1:
        return {"officePhone": f._phone(rng)}
    return {"workRole": _named(f, "work_role", rng, v.WORK_ROLES)}


def _product(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if rng.random() < 0.15 and not record.get("cancelledFlag"):
        return {
            "cancelledFlag": True,
            "quantityCancelled": record.get("quantity", 1.0),
            "cancelledReason": "Customer cancelled the order",
            "cancelledDate": format_epoch(now),
        }
    quantity = float(rng.choice((1, 2, 3, 5, 10)))
    price, cost = float(record.get("price", 0.0)), float(record.get("cost", 0.0))
    return {
        "quantity": quantity,
        "extPrice": round(price * quantity, 2),
        "extCost": round(cost * quantity, 2),
        "margin": round((price - cost) * quantity, 2),
    }


def _named(f: RecordFactory, kind: str, rng: random.Random, items: tuple[tuple[Any, ...], ...]) -> dict[str, Any]:
    """A reference to a random entry of a lookup table of (id, name, ...) tuples."""
    item = rng.choice(items)
    return f.refs.ref(kind, item[0], name=item[1])


_CHANGERS: dict[str, Changer] = {
    "company/companies": _company,
    "company/contacts": _contact,
    "service/tickets": _ticket,
    "time/entries": _time_entry,
    "finance/agreements": _agreement,
    "project/projects": _project,
    "system/members": _member,
    "procurement/products": _product,
}

# the tables added later (boards, configurations, opportunities, project tickets, schedule entries)
_CHANGERS.update(extra_tables.CHANGERS)
for _table, _referencing in extra_tables.REFERENCED_BY.items():
    _REFERENCED_BY.setdefault(_table, []).extend(_referencing)
