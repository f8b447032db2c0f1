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

from avesa.sandbox.clock import format_epoch, parse_epoch
from avesa.sandbox.connectwise import vocab as v
from avesa.sandbox.connectwise.generate import Pool, RecordFactory

if TYPE_CHECKING:
    from avesa.sandbox.connectwise.simulator import ConnectWiseSimulator
    from avesa.sandbox.instances import Instance

Record = dict[str, Any]
Changes = dict[str, Any]

POOL_TABLES = ("system/members", "company/companies", "company/contacts", "finance/agreements", "service/tickets")

NOOP_SHARE = 0.1

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
    known = {"updates", "inserts", "deletes", "seed", "tables"}
    unknown = sorted(set(request) - known)
    if unknown:
        raise ValueError(f"unknown mutate field(s): {', '.join(unknown)}")
    counts = {name: int(request.get(name) or 0) for name in ("updates", "inserts", "deletes")}
    if any(n < 0 for n in counts.values()):
        raise ValueError("updates, inserts and deletes must be >= 0")
    seed = request.get("seed")
    rng = random.Random(f"mutate/{instance.name}/{seed}") if seed is not None else instance.rng
    tables = [simulator.resolve_table(t) for t in (request.get("tables") or simulator.tables())]
    factory = simulator.factory(instance.api_base)

    report: dict[str, Any] = {"inserted": [], "updated": [], "deleted": []}
    noops = 0
    for _ in range(counts["inserts"]):
        table = _weighted_table(instance, tables, rng, allow_empty=True)
        record = instance.insert(table, by=_actor(rng, simulator.pool(instance)), rng=rng)
        report["inserted"].append({"table": table, "id": record["id"]})

    pool = simulator.pool(instance)
    for _ in range(counts["updates"]):
        table = _weighted_table(instance, tables, rng)
        if table is None:
            break
        store = instance.tables[table]
        record_id = store.ids[rng.randrange(len(store))]
        current = store.records[record_id]
        noop = rng.random() < NOOP_SHARE
        changes = {} if noop else _CHANGERS[table](current, rng, pool, factory, instance.clock.now())
        instance.update(table, record_id, changes, by=_actor(rng, pool))
        noops += noop
        report["updated"].append({"table": table, "id": record_id, "fields": sorted(changes), "noop": noop})

    referenced: dict[str, set[int]] = {}
    for _ in range(counts["deletes"]):
        deleted = _delete_one(instance, tables, rng, referenced)
        if deleted is not None:
            report["deleted"].append(deleted)
    report["counts"] = {
        "inserted": len(report["inserted"]),
        "updated": len(report["updated"]),
        "noop_updates": noops,
        "deleted": len(report["deleted"]),
    }
    return report


def _weighted_table(instance: Instance, tables: list[str], rng: random.Random, allow_empty: bool = False) -> Any:
    """A table chosen in proportion to its size (busy tables change most)."""
    sizes = [len(instance.tables[t]) for t in tables]
    if allow_empty:
        sizes = [max(size, 1) for size in sizes]
    if not any(sizes):
        return None
    return rng.choices(tables, weights=sizes)[0]


def _actor(rng: random.Random, pool: Pool) -> str:
    if pool.members and rng.random() < 0.8:
        return rng.choice(pool.members)["identifier"]
    return v.API_MEMBER


def _referenced(instance: Instance, table: str) -> set[int]:
    ids: set[int] = set()
    for other, field in _REFERENCED_BY.get(table, []):
        for record in instance.tables[other].records.values():
            if field == "chargeToId":
                if record.get("chargeToType") == "ServiceTicket":
                    ids.add(record.get("chargeToId", 0))
            elif isinstance(ref := record.get(field), dict):
                ids.add(ref.get("id", 0))
    return ids


def _delete_one(
    instance: Instance, tables: list[str], rng: random.Random, referenced: dict[str, set[int]]
) -> dict[str, Any] | None:
    for _ in range(20):
        table = _weighted_table(instance, tables, rng)
        if table is None:
            return None
        if table not in referenced:
            referenced[table] = _referenced(instance, table)
        store = instance.tables[table]
        record_id = store.ids[rng.randrange(len(store))]
        if record_id in referenced[table]:
            continue
        instance.delete(table, record_id)
        return {"table": table, "id": record_id}
    return None


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
