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

from avesa_sandbox import names
from avesa_sandbox.mutation import NOOP_SHARE, Changes, Mutation, Record, referencing_ids
from avesa_sandbox.servicenow import vocab as v
from avesa_sandbox.servicenow.builders import Factory, priority_of
from avesa_sandbox.servicenow.pool import Pool, ref_value
from avesa_sandbox.servicenow.schema import columns
from avesa_sandbox.servicenow.tables import DATA_TABLES, TASK_TABLES
from avesa_sandbox.servicenow.timefmt import format_date, format_datetime, format_duration, parse_datetime

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance
    from avesa_sandbox.servicenow.simulator import ServiceNowSimulator

Changer = Callable[[Record, random.Random, Pool, Factory, int], Changes]


def mutate(instance: Instance, simulator: ServiceNowSimulator, request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{updates, inserts, deletes, seed, tables}`` and report what was done."""
    run = Mutation(instance, request, default_tables=DATA_TABLES)
    if any(t not in DATA_TABLES for t in run.tables):
        raise ValueError("sys_audit_delete cannot be mutated: it records deletes of the other tables")
    rng, factory = run.rng, simulator.factory

    pool = simulator.pool(instance)
    simulator.pinned_pool = pool  # kept current by _add_to_pool instead of rebuilt after every insert

    def insert(table: str) -> Record:
        record = instance.insert(table, by=factory.actor(rng, pool), rng=rng)
        _add_to_pool(pool, table, record)
        return record

    try:
        run.insert(insert)
    finally:
        simulator.pinned_pool = None

    pool = simulator.pool(instance)
    run.update(
        lambda table, record: _CHANGERS[table](record, rng, pool, factory, instance.clock.now()),
        actor=lambda noop: factory.actor(rng, pool),
        noop_share=NOOP_SHARE,
    )
    run.delete(
        referenced=lambda table: referencing_ids(instance, _references_to(table), _reference),
        keep=lambda record: record.get("user_name") == "avesa.integration",  # the integration's own account
    )
    simulator.sync_audit(instance)
    return run.report()


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


def _reference(record: Record, column: str) -> str:
    """The sys_id a reference column of ``record`` holds ("" when empty)."""
    return ref_value(record.get(column))


# -- per-table changes -----------------------------------------------------------------------------


MAX_DURATION = 365 * 24 * 3600 - 1
"""The longest ``glide_duration`` the schema admits (a date-time within 1970). Generated incidents
open in 2024–2025 and are resolved at the sandbox clock's now, which is today: without the cap an
old incident's duration would pass a year, a value no sample of the real API shows, and the records
would stop validating as time goes by."""


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
        stc = min(MAX_DURATION, max(60, now - parse_datetime(record["opened_at"])))
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
        return {"phone": names.phone_number(rng, v.AREA_CODES)}
    if choice == 6:
        return {"active": "false" if record.get("active") == "true" else "true"}
    return {"locked_out": "true" if record.get("locked_out") != "true" else "false"}


def _company(record: Record, rng: random.Random, pool: Pool, f: Factory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice == 0:
        return {"phone": names.phone_number(rng, v.AREA_CODES)}
    if choice == 1:
        street, city, state, zip_code = f._address(rng)
        return {"street": street, "city": city, "state": state, "zip": zip_code}
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
