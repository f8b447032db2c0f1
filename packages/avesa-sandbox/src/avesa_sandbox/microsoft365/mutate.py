"""Realistic random changes to a Microsoft 365 tenant (the admin API's bulk ``mutate``).

What changes in a real tenant from day to day: people get new titles, departments, phones and
offices, are disabled when they leave (licences removed), re-licensed, reset passwords, and synced
users get a fresh ``onPremisesLastSyncDateTime``; groups are renamed, re-described, renewed or made
private; devices sign in, upgrade their OS and drift in and out of compliance; Intune devices sync,
free and fill storage, and update; licence counts grow. Inserts are new hires, new groups, newly
joined and enrolled devices; deletes are leavers, retired groups, stale and retired devices. Graph
has no change stamp, so a save without changes is invisible and ``mutate`` makes none.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from avesa_sandbox.clock import format_epoch
from avesa_sandbox.microsoft365 import vocab as v
from avesa_sandbox.microsoft365.builders import Pool, RecordFactory
from avesa_sandbox.mutation import Changes, Mutation, Record

if TYPE_CHECKING:
    from avesa_sandbox.instances import Instance
    from avesa_sandbox.microsoft365.simulator import Microsoft365Simulator


POOL_TABLES = ("subscribedSkus", "users", "groups", "devices", "deviceManagement/managedDevices")

INSERTABLE = ("users", "groups", "devices", "deviceManagement/managedDevices")
DELETABLE = ("users", "groups", "devices", "deviceManagement/managedDevices")


def mutate(instance: Instance, simulator: Microsoft365Simulator, request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``{updates, inserts, deletes, seed, tables}`` and report what was done."""
    run = Mutation(instance, request)
    rng, factory = run.rng, simulator.factory
    run.insert(lambda table: instance.insert(table, rng=rng), tables=[t for t in run.tables if t in INSERTABLE])
    pool = simulator.pool(instance)  # updates only read licences from it: one snapshot is enough
    run.update(lambda table, record: _real_change(table, record, rng, pool, factory, instance.clock.now()))
    # no reference guard: whichever user, group or device is drawn is deleted
    run.delete(tables=[t for t in run.tables if t in DELETABLE])
    return run.report()


def _real_change(table: str, current: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    """Changes that alter at least one property (a few draws; a change can happen to restore a value)."""
    changes: Changes = {}
    for _ in range(8):
        changes = _CHANGERS[table](current, rng, pool, f, now)
        if any(current.get(name) != value for name, value in changes.items()):
            break
    return changes


# -- per-table changes -----------------------------------------------------------------------------

Changer = Callable[[Record, random.Random, Pool, RecordFactory, int], Changes]


def _user(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    guest = record.get("userType") == "Guest"
    choice = rng.randrange(9)
    if guest:
        if record.get("externalUserState") == "PendingAcceptance":
            return {"externalUserState": "Accepted", "externalUserStateChangeDateTime": format_epoch(now)}
        return {"accountEnabled": not record.get("accountEnabled", True)}
    department = record.get("department") or "Operations"
    if choice == 0:
        return {"jobTitle": rng.choice(v.DEPARTMENTS.get(department, v.DEPARTMENTS["Operations"]))}
    if choice == 1:
        new_department = rng.choice([d for d in v.DEPARTMENTS if d != department])
        return {"department": new_department, "jobTitle": rng.choice(v.DEPARTMENTS[new_department])}
    if choice == 2:
        office = rng.choice(v.OFFICES)
        return {
            "officeLocation": office[0],
            "streetAddress": office[1] or None,
            "city": office[2] or None,
            "state": office[3] or None,
            "postalCode": office[4] or None,
            "businessPhones": [] if office[5] == "888" else [f._phone(rng, office[5])],
        }
    if choice == 3:
        return {"mobilePhone": f._phone(rng) if rng.random() < 0.8 else None}
    if choice == 4 and record.get("accountEnabled"):
        # a leaver: sign-in blocked, licences removed, sessions revoked
        return {
            "accountEnabled": False,
            "assignedLicenses": [],
            "assignedPlans": [],
            "licenseAssignmentStates": [],
            "provisionedPlans": [],
            "employeeLeaveDateTime": format_epoch(now - now % 86400),
            "signInSessionsValidFromDateTime": format_epoch(now),
        }
    if choice == 5:
        return {"lastPasswordChangeDateTime": format_epoch(now), "signInSessionsValidFromDateTime": format_epoch(now)}
    if choice == 6 and pool.skus:
        sku = rng.choice(pool.skus)
        licences = [dict(item) for item in record.get("assignedLicenses", [])]
        if all(item["skuId"] != sku["skuId"] for item in licences):
            licences.append({"disabledPlans": [], "skuId": sku["skuId"]})
        skus = [v.SKU_BY_PART[s["skuPartNumber"]] for s in pool.skus if any(i["skuId"] == s["skuId"] for i in licences)]
        assigned, provisioned = f._plans(skus, now)
        states = [
            {
                "assignedByGroup": None,
                "disabledPlans": [],
                "error": "None",
                "lastUpdatedDateTime": format_epoch(now),
                "skuId": item["skuId"],
                "state": "Active",
            }
            for item in licences
        ]
        return {
            "assignedLicenses": licences,
            "assignedPlans": assigned,
            "provisionedPlans": provisioned,
            "licenseAssignmentStates": states,
            "accountEnabled": True,
        }
    if choice == 7 and record.get("onPremisesSyncEnabled"):
        return {"onPremisesLastSyncDateTime": format_epoch(now)}
    attributes = dict(record.get("onPremisesExtensionAttributes") or {})
    attributes["extensionAttribute1"] = rng.choice(v.COST_CENTERS)
    org = dict(record.get("employeeOrgData") or {})
    org["costCenter"] = attributes["extensionAttribute1"]
    return {"onPremisesExtensionAttributes": attributes, "employeeOrgData": org}


def _group(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice == 0:
        return {"description": f"{record.get('description') or record['displayName']} (updated)"[:1024]}
    if choice == 1 and "Unified" in record.get("groupTypes", []):
        return {"renewedDateTime": format_epoch(now)}
    if choice == 2 and "Unified" in record.get("groupTypes", []):
        return {"visibility": "Private" if record.get("visibility") == "Public" else "Public"}
    name = record["displayName"]
    return {"displayName": name[:-4] if name.endswith(" (1)") else f"{name} (1)"}


def _device(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(5)
    if choice <= 1:
        return {"approximateLastSignInDateTime": format_epoch(now)}
    if choice == 2:
        versions = v.OS_VERSIONS.get(record.get("operatingSystem", ""), ())
        newer = [x for x in versions if x > (record.get("operatingSystemVersion") or "")]
        if newer:
            return {"operatingSystemVersion": newer[0], "approximateLastSignInDateTime": format_epoch(now)}
        return {"approximateLastSignInDateTime": format_epoch(now)}
    if choice == 3 and record.get("isManaged"):
        return {"isCompliant": not record.get("isCompliant", True)}
    return {"accountEnabled": not record.get("accountEnabled", True)}


def _managed_device(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(5)
    if choice <= 1:
        total = int(record.get("totalStorageSpaceInBytes") or 0)
        return {
            "lastSyncDateTime": format_epoch(now),
            "freeStorageSpaceInBytes": int(total * rng.uniform(0.1, 0.7)),
        }
    if choice == 2:
        state = rng.choices(("compliant", "noncompliant", "inGracePeriod"), weights=(70, 20, 10))[0]
        grace = format_epoch(now + 3 * 86400) if state == "inGracePeriod" else "9999-12-31T23:59:59Z"
        return {
            "complianceState": state,
            "complianceGracePeriodExpirationDateTime": grace,
            "lastSyncDateTime": format_epoch(now),
        }
    if choice == 3:
        versions = v.OS_VERSIONS.get(
            "MacMDM" if record.get("operatingSystem") == "macOS" else record.get("operatingSystem", ""), ()
        )
        newer = [x for x in versions if x > (record.get("osVersion") or "")]
        return {"osVersion": newer[0] if newer else record.get("osVersion"), "lastSyncDateTime": format_epoch(now)}
    return {"isEncrypted": True, "lastSyncDateTime": format_epoch(now)}


def _subscribed_sku(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    prepaid = dict(record.get("prepaidUnits") or {})
    consumed = int(record.get("consumedUnits") or 0)
    if rng.random() < 0.5:
        prepaid["enabled"] = int(prepaid.get("enabled") or 0) + rng.choice((1, 2, 5, 10))
        return {"prepaidUnits": prepaid}
    return {"consumedUnits": max(0, min(int(prepaid.get("enabled") or 0), consumed + rng.choice((-2, -1, 1, 2, 3))))}


def _organization(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if rng.random() < 0.5:
        domain = f.tenant.domain
        mails = list(record.get("technicalNotificationMails") or [])
        extra = f"{rng.choice(('msp-alerts', 'noc', 'security'))}@{domain}"
        return {"technicalNotificationMails": [*mails, extra] if extra not in mails else mails[:1]}
    return {"businessPhones": [f._phone(rng)]}


_CHANGERS: dict[str, Changer] = {
    "organization": _organization,
    "subscribedSkus": _subscribed_sku,
    "users": _user,
    "groups": _group,
    "devices": _device,
    "deviceManagement/managedDevices": _managed_device,
}
