"""Realistic random changes to a Salesforce org (the admin API's bulk ``mutate``).

Updates change what people and automation change: cases move New -> Working -> Escalated ->
Closed and get reassigned or re-prioritised, opportunities advance stages (probability, forecast
category and close flags follow) or slip their close date, leads get worked and converted,
tasks get completed, events rescheduled, contacts and accounts get new titles, phones and
addresses, users change title or are deactivated. About one update in ten changes nothing a user
sees: half of those are saves without changes (``LastModifiedDate`` moves), half are system
touches (only ``SystemModstamp`` moves). Inserts build new records that reference existing ones.
Deletes move records nothing else references to the recycle bin (users are never deleted: Salesforce
deactivates them); every change goes through ``Instance`` so the change log is complete.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa_sandbox.mutation import NOOP_SHARE, Changes, Mutation, Record, pick_actor, referencing_ids
from avesa_sandbox.salesforce import vocab as v
from avesa_sandbox.salesforce.builders import SYSTEM_ACTOR, Pool, RecordFactory, forecast_category, stage
from avesa_sandbox.salesforce.timefmt import format_date, format_datetime, parse_date

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance
    from avesa_sandbox.salesforce.simulator import SalesforceSimulator

_DAY = 86400

REFERENCE_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": ("ParentId",),
    "Contact": ("AccountId", "ReportsToId"),
    "Opportunity": ("AccountId", "ContactId"),
    "Lead": ("ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId"),
    "Case": ("AccountId", "ContactId", "ParentId"),
    "Task": ("WhoId", "WhatId", "AccountId"),
    "Event": ("WhoId", "WhatId", "AccountId"),
}
"""Reference fields between served objects (a record referenced by a live record is not deleted)."""

_REFERENCES = tuple((table, name) for table, names in REFERENCE_FIELDS.items() for name in names)

UNDELETABLE = ("User",)


def mutate(instance: Instance, simulator: SalesforceSimulator, request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{updates, inserts, deletes, seed, tables}`` and report what was done."""
    run = Mutation(instance, request)
    rng = run.rng
    factory = simulator.factory()
    run.insert(lambda table: instance.insert(table, by=_actor(rng, simulator.pool(instance)), rng=rng))

    pool = simulator.pool(instance)  # references for updates: nothing is deleted while updating

    def actor(noop: bool) -> str:
        """Half the no-op saves are system touches (only ``SystemModstamp`` moves)."""
        return SYSTEM_ACTOR if noop and rng.random() < 0.5 else _actor(rng, pool)

    run.update(
        lambda table, record: _CHANGERS[table](record, rng, pool, factory, instance.clock.now()),
        actor=actor,
        noop_share=NOOP_SHARE,
    )
    referenced: set[str] | None = None

    def protected(table: str) -> set[str]:
        """Ids any live record references, whatever the object: Salesforce ids are unique org-wide."""
        nonlocal referenced
        if referenced is None:  # once per run, before the first delete: later deletes free nothing this run
            referenced = referencing_ids(instance, _REFERENCES)
        return referenced

    run.delete(referenced=protected, tables=[t for t in run.tables if t not in UNDELETABLE])
    return run.report()


def _actor(rng: random.Random, pool: Pool) -> str:
    """An owner (a user) most of the time, otherwise the API's integration."""
    return pick_actor(rng, pool.owners, "Id", "api")


# -- per-object changes -------------------------------------------------------------------------

Changer = Callable[[Record, random.Random, Pool, RecordFactory, int], Changes]


def _account(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(6)
    if choice == 0:
        return {"Rating": rng.choice(("Hot", "Warm", "Cold"))}
    if choice == 1:
        return {"Phone": f.phone(rng)}
    if choice == 2:
        street, city, state, postal, country, latitude, longitude = f.place(rng)
        return {
            "BillingStreet": street,
            "BillingCity": city,
            "BillingState": state,
            "BillingPostalCode": postal,
            "BillingCountry": country,
            "BillingLatitude": latitude,
            "BillingLongitude": longitude,
            "BillingGeocodeAccuracy": "Address",
        }
    if choice == 3:
        return {"NumberOfEmployees": max(1, int((record.get("NumberOfEmployees") or 10) * rng.uniform(0.8, 1.4)))}
    if choice == 4:
        return {"Type": rng.choice(("Customer - Direct", "Customer - Channel", "Prospect", "Other"))}
    return {
        "AnnualRevenue": float(rng.choice((250000, 750000, 1500000, 4000000, 12000000))),
        "SLA__c": rng.choice(("Gold", "Silver", "Platinum", "Bronze")),
    }


def _contact(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(5)
    if choice == 0:
        return {"Title": rng.choice(v.TITLES)}
    if choice == 1:
        return {"Phone": f.phone(rng)}
    if choice == 2:
        return {"MobilePhone": f.phone(rng)}
    if choice == 3:
        return {"Department": rng.choice(v.DEPARTMENTS)}
    email = record.get("Email") or "someone@example.com"
    local, _, domain = email.partition("@")
    return {"Email": f"{local.split('.')[0]}.{(record.get('LastName') or 'x').lower()}{rng.randint(1, 99)}@{domain}"}


def _opportunity(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    current = stage(record.get("StageName") or "")
    if current[3]:  # closed: only bookkeeping changes
        return {"Description": f"{record.get('Description') or ''} Reviewed.".strip()}
    choice = rng.randrange(4)
    if choice <= 1:
        order = [s[0] for s in v.STAGES[:8]]
        index = order.index(current[0]) if current[0] in order else 0
        closing = rng.random() < 0.25
        following = rng.choice(v.STAGES[8:]) if closing else v.STAGES[min(index + rng.randint(1, 2), 7)]
        category = forecast_category(following[1], following[2])
        changes: Changes = {
            "StageName": following[0],
            "Probability": float(following[1]),
            "ForecastCategory": category[0],
            "ForecastCategoryName": category[1],
            "LastStageChangeDate": format_datetime(now),
        }
        if following[3]:
            changes.update(CloseDate=format_date(now), NextStep=None)
        return changes
    if choice == 2:
        close = parse_date(record.get("CloseDate") or format_date(now)) + rng.choice((7, 14, 30)) * _DAY
        return {"CloseDate": format_date(close), "PushCount": int(record.get("PushCount") or 0) + 1}
    return {
        "Amount": round(float(record.get("Amount") or 5000.0) * rng.uniform(0.8, 1.3), -2),
        "NextStep": rng.choice([s for s in v.NEXT_STEPS if s]),
    }


def _lead(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    status = record.get("Status")
    if status == "Open - Not Contacted":
        return {"Status": "Working - Contacted", "IsUnreadByOwner": False}
    if status == "Working - Contacted" and pool.accounts and rng.random() < 0.5:
        account = rng.choice(pool.accounts)
        contacts = pool.contacts_by_account.get(account["Id"], [])
        return {
            "Status": "Closed - Converted",
            "IsConverted": True,
            "ConvertedDate": format_date(now),
            "ConvertedAccountId": account["Id"],
            "ConvertedContactId": contacts[0]["Id"] if contacts else None,
        }
    if status == "Working - Contacted":
        return {"Status": "Closed - Not Converted"}
    return {"Rating": rng.choice(("Hot", "Warm", "Cold")), "Phone": f.phone(rng)}


def _case(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    status = record.get("Status") or "New"
    choice = rng.randrange(5)
    if choice <= 2 and status != "Closed":
        flow = v.CASE_STATUS_FLOW
        following = flow[min(flow.index(status) + rng.randint(1, 2), len(flow) - 1)] if status in flow else "Working"
        changes: Changes = {"Status": following}
        if following == "Escalated":
            changes["IsEscalated"] = True
        if following == "Closed":
            changes.update(ClosedDate=format_datetime(now), Comments=rng.choice([c for c in v.CASE_COMMENTS if c]))
        if str(record.get("OwnerId", "")).startswith("00G") and pool.owners:
            changes["OwnerId"] = rng.choice(pool.owners)["Id"]
        return changes
    if choice == 3 and pool.owners:
        return {"OwnerId": rng.choice(pool.owners)["Id"]}
    return {"Priority": rng.choice(("High", "Medium", "Low"))}


def _task(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if record.get("Status") != "Completed" and rng.random() < 0.6:
        changes: Changes = {"Status": "Completed", "CompletedDateTime": format_datetime(now), "IsReminderSet": False}
        if record.get("TaskSubtype") == "Call":
            changes.update(CallDurationInSeconds=rng.randint(30, 1800), CallDisposition=rng.choice(v.CALL_DISPOSITIONS))
        return changes
    if rng.random() < 0.5:
        return {"Priority": rng.choice(("High", "Normal", "Low"))}
    return {"Description": rng.choice([d for d in v.TASK_DESCRIPTIONS if d])}


def _event(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if rng.random() < 0.6:
        start = now + rng.randint(1, 21) * _DAY
        start = start - start % _DAY + rng.choice((9, 10, 14, 15)) * 3600
        minutes = int(record.get("DurationInMinutes") or 60)
        if record.get("IsAllDayEvent"):
            minutes = 1440
            start -= start % _DAY
        end = start + minutes * 60
        return {
            "StartDateTime": format_datetime(start),
            "ActivityDateTime": format_datetime(start),
            "ActivityDate": format_date(start),
            "EndDateTime": format_datetime(end),
            "EndDate": format_date(end - 1 if record.get("IsAllDayEvent") else end),
            "ReminderDateTime": format_datetime(start - 900) if record.get("IsReminderSet") else None,
        }
    return {"Location": rng.choice([loc for loc in v.EVENT_LOCATIONS if loc]), "ShowAs": rng.choice(("Busy", "Free"))}


def _user(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if record.get("Username", "").startswith("integration.user") or rng.random() < 0.6:
        return {"LastLoginDate": format_datetime(now)}
    if rng.random() < 0.3 and record.get("IsActive"):
        return {"IsActive": False}
    return {"Title": rng.choice(v.USER_TITLES), "Phone": f.phone(rng)}


_CHANGERS: dict[str, Changer] = {
    "User": _user,
    "Account": _account,
    "Contact": _contact,
    "Opportunity": _opportunity,
    "Lead": _lead,
    "Case": _case,
    "Task": _task,
    "Event": _event,
}
