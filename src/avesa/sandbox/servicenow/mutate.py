"""Realistic random changes to a ServiceNow instance (the admin API's bulk ``mutate``).

Updates follow each table's workflow: incidents are assigned, put on hold, resolved, closed or
reopened, reassigned and re-prioritised; changes and problems move through their states; time cards
are submitted, approved or rejected and corrected; users log in and change title or phone;
companies move; CIs are rediscovered. About one update in ten changes no field at all (a work note or
comment was added, which only bumps ``sys_updated_on`` and ``sys_mod_count``, as journal entries do).
Inserts build new records against existing ones. Deletes only remove records no other record
references, and every delete shows up in ``sys_audit_delete``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa.sandbox.servicenow import vocab as v
from avesa.sandbox.servicenow.builders import Factory, priority_of
from avesa.sandbox.servicenow.pool import Pool, ref_value
from avesa.sandbox.servicenow.schema import columns
from avesa.sandbox.servicenow.tables import DATA_TABLES, TASK_TABLES
from avesa.sandbox.servicenow.timefmt import format_date, format_datetime, format_duration, parse_datetime

if TYPE_CHECKING:
    from avesa.sandbox.instances import Instance
    from avesa.sandbox.servicenow.simulator import ServiceNowSimulator

Record = dict[str, Any]
Changes = dict[str, Any]
Changer = Callable[[Record, random.Random, Pool, Factory, int], Changes]

NOOP_SHARE = 0.1


def mutate(instance: Instance, simulator: ServiceNowSimulator, request: dict[str, Any]) -> dict[str, Any]:
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
    tables = [simulator.resolve_table(t) for t in (request.get("tables") or DATA_TABLES)]
    if any(t not in DATA_TABLES for t in tables):
        raise ValueError("sys_audit_delete cannot be mutated: it records deletes of the other tables")
    factory = simulator.factory

    report: dict[str, Any] = {"inserted": [], "updated": [], "deleted": []}
    pool = simulator.pool(instance)
    simulator.pinned_pool = pool
    try:
        for _ in range(counts["inserts"]):
            table = _weighted_table(instance, tables, rng, allow_empty=True)
            record = instance.insert(table, by=factory.actor(rng, pool), rng=rng)
            _add_to_pool(pool, table, record)
            report["inserted"].append({"table": table, "id": record["sys_id"]})
    finally:
        simulator.pinned_pool = None

    pool = simulator.pool(instance)
    noops = 0
    for _ in range(counts["updates"]):
        table = _weighted_table(instance, tables, rng)
        if table is None:
            break
        store = instance.tables[table]
        key = store.ids[rng.randrange(len(store))]
        current = store.records[key]
        noop = rng.random() < NOOP_SHARE
        changes = {} if noop else _CHANGERS[table](current, rng, pool, factory, instance.clock.now())
        instance.update(table, current["sys_id"], changes, by=factory.actor(rng, pool))
        noops += noop
        report["updated"].append({"table": table, "id": current["sys_id"], "fields": sorted(changes), "noop": noop})

    referenced: dict[str, set[str]] = {}
    for _ in range(counts["deletes"]):
        deleted = _delete_one(instance, tables, rng, referenced)
        if deleted is not None:
            report["deleted"].append(deleted)
    simulator.sync_audit(instance)
    report["counts"] = {
        "inserted": len(report["inserted"]),
        "updated": len(report["updated"]),
        "noop_updates": noops,
        "deleted": len(report["deleted"]),
    }
    return report


def _add_to_pool(pool: Pool, table: str, record: Record) -> None:
    """Keep the pinned pool current while inserting (new incidents can get time cards...)."""
    if table == "sys_user":
        pool.add_user(record)
    elif table == "core_company" and record.get("customer") == "true":
        pool.customers.append(record)
    elif table == "sys_user_group":
        pool.groups.append(record)
    elif table == "customer_account":
        pool.accounts.append(record)
    elif table == "customer_contact":
        pool.contacts_by_account[ref_value(record.get("account"))].append(record)
    elif table == "cmdb_ci":
        pool.cis_by_company[ref_value(record.get("company"))].append(record)
    elif table == "incident":
        pool.incidents.append(record)
    elif table == "problem":
        pool.problems.append(record)
    elif table == "change_request":
        pool.changes.append(record)


def _weighted_table(instance: Instance, tables: list[str], rng: random.Random, allow_empty: bool = False) -> Any:
    """A table chosen in proportion to its size (busy tables change most)."""
    sizes = [len(instance.tables[t]) for t in tables]
    if allow_empty:
        sizes = [max(size, 1) for size in sizes]
    if not any(sizes):
        return None
    return rng.choices(tables, weights=sizes)[0]


def _references_to(table: str) -> list[tuple[str, str]]:
    """(table, column) pairs that can reference records of ``table``."""
    found = []
    for other in DATA_TABLES:
        for col in columns(other).values():
            if col.internal_type != "reference":
                continue
            if col.reference == table or (col.reference == "task" and table in TASK_TABLES):
                found.append((other, col.name))
    return found


def _referenced(instance: Instance, table: str) -> set[str]:
    ids: set[str] = set()
    for other, column in _references_to(table):
        for record in instance.tables[other].records.values():
            value = ref_value(record.get(column))
            if value:
                ids.add(value)
    return ids


def _delete_one(
    instance: Instance, tables: list[str], rng: random.Random, referenced: dict[str, set[str]]
) -> dict[str, Any] | None:
    for _ in range(20):
        table = _weighted_table(instance, tables, rng)
        if table is None:
            return None
        if table not in referenced:
            referenced[table] = _referenced(instance, table)
        store = instance.tables[table]
        record = store.records[store.ids[rng.randrange(len(store))]]
        if record["sys_id"] in referenced[table] or record.get("user_name") == "avesa.integration":
            continue
        instance.delete(table, record["sys_id"])
        return {"table": table, "id": record["sys_id"]}
    return None


# -- per-table changes -----------------------------------------------------------------------------


def _incident(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    state = record.get("state", "1")
    agent = pool.agent(rng)
    choice = rng.randrange(10)
    if state in ("7", "8"):
        return {"u_psa_ticket_id": f"CW-{rng.randint(100000, 999999)}"} if choice < 3 else {}
    if choice < 5:
        return _incident_progress(record, rng, pool, f, now, state, agent)
    if choice < 7:
        group = pool.group(rng)
        return {
            "assignment_group": f.ref("sys_user_group", group),
            "assigned_to": f.ref("sys_user", agent),
            "reassignment_count": str(int(record.get("reassignment_count") or 0) + 1),
        }
    if choice < 9:
        impact, urgency = rng.choice((1, 2, 3)), rng.choice((1, 2, 3))
        return {"impact": str(impact), "urgency": str(urgency), "priority": str(priority_of(impact, urgency))}
    return {"description": (record.get("description", "") + " Caller added more details.").strip()[:4000]}


def _incident_progress(
    record: Record, rng: random.Random, pool: Pool, f: Factory, now: int, state: str, agent: Record | None
) -> Changes:
    """The next step of an open incident's workflow."""
    if state == "1":
        return {"state": "2", "incident_state": "2", "assigned_to": f.ref("sys_user", agent)}
    if state == "3":
        return {"state": "2", "incident_state": "2", "hold_reason": ""}
    if state == "2" and rng.random() < 0.3:
        return {"state": "3", "incident_state": "3", "hold_reason": rng.choice(("1", "3", "4", "5"))}
    if state == "2":
        stc = max(60, now - parse_datetime(record["opened_at"]))
        resolver = record.get("assigned_to") or f.ref("sys_user", agent)
        return {
            "state": "6",
            "incident_state": "6",
            "resolved_at": format_datetime(now),
            "resolved_by": resolver,
            "close_code": rng.choice(v.CLOSE_CODES),
            "close_notes": rng.choice(v.CLOSE_NOTES),
            "calendar_stc": str(stc),
            "business_stc": str(int(stc * 0.4)),
            "calendar_duration": format_duration(stc),
            "business_duration": format_duration(int(stc * 0.4)),
        }
    if rng.random() < 0.15:
        return {
            "state": "2",
            "incident_state": "2",
            "reopen_count": str(int(record.get("reopen_count") or 0) + 1),
            "reopened_by": record.get("caller_id", ""),
            "reopened_time": format_datetime(now),
            "resolved_at": "",
            "resolved_by": "",
            "close_code": "",
            "close_notes": "",
        }
    return {
        "state": "7",
        "incident_state": "7",
        "active": "false",
        "closed_at": format_datetime(now),
        "closed_by": record.get("resolved_by") or f.ref("sys_user", agent),
    }


_CHANGE_FLOW = {"-5": "-4", "-4": "-3", "-3": "-2", "-2": "-1", "-1": "0", "0": "3"}


def _change(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    state = record.get("state", "-5")
    following = _CHANGE_FLOW.get(state)
    if following is None or rng.random() < 0.2:
        return {"description": "Updated after CAB review."} if state not in ("3", "4") else {}
    changes: Changes = {"state": following}
    if following == "-3":
        changes["approval"] = "requested"
    elif following == "-2":
        changes.update(approval="approved", phase="implementation")
    elif following == "-1":
        changes["work_start"] = format_datetime(now)
    elif following == "0":
        changes["work_end"] = format_datetime(now)
    elif following == "3":
        changes.update(
            active="false",
            phase="closed",
            phase_state="complete",
            closed_at=format_datetime(now),
            closed_by=record.get("assigned_to", ""),
            close_code=rng.choice(("successful", "successful", "successful_issues", "unsuccessful")),
            close_notes="Change implemented; post-implementation review done.",
        )
    return changes


_PROBLEM_FLOW = {"101": "102", "102": "103", "103": "104", "104": "106", "106": "107"}
_PROBLEM_STATE = {"101": "1", "102": "1", "103": "1", "104": "3", "106": "2", "107": "4"}


def _problem(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    state = record.get("state", "101")
    following = _PROBLEM_FLOW.get(state)
    if following is None or rng.random() < 0.2:
        return {"workaround": "<p>Restart the affected service; a permanent fix is planned.</p>"}
    changes: Changes = {"state": following, "problem_state": _PROBLEM_STATE[following]}
    agent = record.get("assigned_to") or f.ref("sys_user", pool.agent(rng))
    if following == "102":
        changes["assigned_to"] = agent
    elif following == "103":
        changes.update(confirmed_at=format_datetime(now), confirmed_by=agent)
    elif following == "104":
        changes["cause_notes"] = "<p>Root cause identified.</p>"
    elif following == "106":
        changes.update(
            resolution_code="fix_applied",
            resolved_at=format_datetime(now),
            resolved_by=agent,
            fix_at=format_datetime(now),
            fix_by=agent,
            fix_notes="<p>Fix deployed.</p>",
        )
    else:
        changes.update(active="false", closed_at=format_datetime(now), closed_by=agent)
    return changes


def _user(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    choice = rng.randrange(8)
    if choice < 4 and record.get("active") == "true":
        return {"last_login_time": format_datetime(now), "last_login": format_date(now)}
    if choice == 4:
        return {"title": rng.choice(v.USER_TITLES + v.AGENT_TITLES)}
    if choice == 5:
        return {"phone": f"({rng.choice(v.AREA_CODES)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"}
    if choice == 6:
        return {"active": "false" if record.get("active") == "true" else "true"}
    return {"locked_out": "true" if record.get("locked_out") != "true" else "false"}


def _company(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice == 0:
        return {"phone": f"({rng.choice(v.AREA_CODES)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}"}
    if choice == 1:
        city, state, zip_prefix = rng.choice(v.CITIES)
        street = f"{rng.randint(10, 9899)} {rng.choice(v.STREETS)}"
        return {"street": street, "city": city, "state": state, "zip": f"{zip_prefix}{rng.randint(0, 99):02d}"}
    if choice == 2:
        return {"num_employees": str(max(1, int(int(record.get("num_employees") or 10) * rng.uniform(0.8, 1.4))))}
    return {"notes": rng.choice(("Renewed contract", "New main contact", "Moved to Gold support", ""))}


def _group(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    if rng.random() < 0.5:
        return {"manager": f.ref("sys_user", pool.agent(rng))}
    return {"description": f"{record.get('description', '')} (reviewed)".strip()[:1000]}


def _ci(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice < 2:
        return {"last_discovered": format_datetime(now)}
    if choice == 2:
        return {"operational_status": rng.choice(("1", "1", "2", "3", "5"))}
    if record.get("ip_address"):
        return {"ip_address": f"10.{rng.randint(0, 40)}.{rng.randint(0, 254)}.{rng.randint(2, 254)}"}
    return {"install_status": rng.choice(("1", "6", "7"))}


_CARD_FLOW = {"Pending": "Submitted", "Submitted": "Approved", "Approved": "Processed", "Rejected": "Pending"}


def _time_card(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    state = record.get("state", "Pending")
    if state == "Pending" and rng.random() < 0.5:
        day = rng.choice(("monday", "tuesday", "wednesday", "thursday", "friday"))
        hours = float(record.get(day) or 0) + rng.choice((0.25, 0.5, 1.0))
        total = float(record.get("total") or 0) + hours - float(record.get(day) or 0)
        return {day: f"{hours:g}", "total": f"{total:g}"}
    if state == "Submitted" and rng.random() < 0.15:
        return {"state": "Rejected"}
    following = _CARD_FLOW.get(state)
    if following is None:
        return {}
    changes: Changes = {"state": following}
    if following == "Processed":
        changes["u_invoice_number"] = f"INV-{rng.randint(10000, 99999)}"
    return changes


def _time_worked(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    if rng.random() < 0.5:
        seconds = rng.choice((600, 900, 1800, 3600, 5400))
        return {"time_worked": format_duration(seconds), "time_in_seconds": str(seconds)}
    return {"comments": f"{record.get('comments', '')}; {rng.choice(v.WORK_COMMENTS)}".strip("; ")[:4000]}


def _account(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    if rng.random() < 0.3:
        return {"u_contract_seats": str(rng.choice((5, 10, 25, 50, 100, 150)))}
    return _company(record, rng, pool, f, now)


def _contact(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    if rng.random() < 0.2:
        return {"u_preferred_channel": rng.choice(("email", "phone", "portal"))}
    return _user(record, rng, pool, f, now)


_CHANGERS: dict[str, Changer] = {
    "core_company": _company,
    "sys_user": _user,
    "sys_user_group": _group,
    "customer_account": _account,
    "customer_contact": _contact,
    "cmdb_ci": _ci,
    "change_request": _change,
    "problem": _problem,
    "incident": _incident,
    "time_card": _time_card,
    "task_time_worked": _time_worked,
}
