"""Deterministic, realistic Microsoft 365 tenant data: every table of one tenant at once.

``generate(...)`` builds every table from (seed, instance name, counts): the same inputs always give
the same records. Licences are subscribed first, users are licensed from them (``consumedUnits``
counts them), Intune managed devices are paired with Entra devices (``azureADDeviceId`` = the
device's ``deviceId``) and with a primary user (``userId``). Creation times spread over a fixed past
window (2024-2025), so the data does not depend on today's date.

Graph objects carry no "last modified" stamp, so each record's change time (what the ground-truth
change log and the store's index need) is returned beside the data, never inside it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from avesa_sandbox.clock import parse_epoch
from avesa_sandbox.microsoft365 import vocab as v
from avesa_sandbox.microsoft365.builders import (
    WINDOW_END,
    WINDOW_START,
    Pool,
    RecordFactory,
    org_key,
    rng_for,
)
from avesa_sandbox.microsoft365.tables import RESOURCES

Record = dict[str, Any]

_DAY = 86400


def _keys(rng: random.Random, count: int) -> list[int]:
    """Increasing keys spread over the 31-bit range (so GUIDs look random), room left for inserts."""
    start = rng.randint(0x08000000, 0x18000000)
    average = max(1, min(1 << 20, 0x40000000 // max(count, 1)))
    keys, current = [], start
    for _ in range(count):
        keys.append(current)
        current += rng.randint(1, 2 * average)
    return keys


def _timeline(rng: random.Random, count: int, start: int, end: int, edit_days: int = 300) -> list[tuple[int, int]]:
    """``count`` (created, last changed) pairs sorted by creation, within [start, end]."""
    created = sorted(rng.randint(start, end) for _ in range(count))
    return [
        (when, when if rng.random() < 0.3 else min(end, when + rng.randint(60, edit_days * _DAY))) for when in created
    ]


@dataclass
class Generated:
    """Every table of a tenant (path -> records sorted by key) and each record's change time by id."""

    tables: dict[str, list[Record]]
    changed: dict[str, int]


def generate(seed: int | str, instance: str, counts: dict[str, int], factory: RecordFactory) -> Generated:
    """Build a whole tenant. Deterministic in its inputs."""
    tables: dict[str, list[Record]] = {name: [] for name in RESOURCES}
    changed: dict[str, int] = {}
    pool = Pool()
    tenant = factory.tenant

    def keep(table: str, record: Record, epoch: int) -> None:
        tables[table].append(record)
        changed[record["id"]] = epoch

    sku_rng = rng_for(seed, instance, "subscribedSkus")
    sku_count = min(counts.get("subscribedSkus", 0), len(v.SKUS))
    chosen = _choose_skus(sku_rng, sku_count)
    sku_keys = sorted(v.SKUS_BY_ID_ORDER.index(sku) + 1 for sku in chosen)
    # first pass: placeholder SKUs users can be licensed from; consumed units are filled in afterwards
    pool.skus = [factory.subscribed_sku(random.Random(0), k, tenant.created, pool) for k in sku_keys]

    user_rng = rng_for(seed, instance, "users")
    for key, (created, updated) in zip(
        _keys(user_rng, counts.get("users", 0)),
        _timeline(user_rng, counts.get("users", 0), WINDOW_START, WINDOW_END - 30 * _DAY),
        strict=True,
    ):
        user = factory.user(user_rng, key, created, pool)
        pool.users.append(user)
        keep("users", user, updated)

    pool.members = [u for u in pool.users if u.get("userType") == "Member"]
    consumed: dict[str, int] = {}
    for user in pool.users:
        for licence in user["assignedLicenses"]:
            consumed[licence["skuId"]] = consumed.get(licence["skuId"], 0) + 1
    for key in sku_keys:
        sku = v.SKUS_BY_ID_ORDER[key - 1]
        used = consumed.get(sku.sku_id, 0) if sku.kind != "free" else sku_rng.randint(0, 12)
        bought = tenant.created + sku_rng.randint(0, 400) * _DAY
        record = factory.subscribed_sku(sku_rng, key, bought, pool, consumed=used)
        keep("subscribedSkus", record, min(WINDOW_END, WINDOW_START + sku_rng.randint(0, 700) * _DAY))
    pool.skus = tables["subscribedSkus"]

    if counts.get("organization", 0):
        org_rng = rng_for(seed, instance, "organization")
        org = factory.organization(org_rng, org_key(instance), tenant.created, pool)
        keep("organization", org, WINDOW_START + org_rng.randint(0, 700) * _DAY)

    group_rng = rng_for(seed, instance, "groups")
    group_count = counts.get("groups", 0)
    templates = _group_plan(group_rng, group_count)
    for key, (created, updated), (template, department) in zip(
        _keys(group_rng, group_count),
        _timeline(group_rng, group_count, WINDOW_START, WINDOW_END),
        templates,
        strict=True,
    ):
        keep("groups", factory.group(group_rng, key, created, pool, template, department), updated)

    device_rng = rng_for(seed, instance, "devices")
    device_count = counts.get("devices", 0)
    managed_count = counts.get("deviceManagement/managedDevices", 0)
    managed_flags = set(device_rng.sample(range(device_count), min(device_count, managed_count)))
    for index, (key, (created, updated)) in enumerate(
        zip(_keys(device_rng, device_count), _timeline(device_rng, device_count, WINDOW_START, WINDOW_END), strict=True)
    ):
        device = factory.device(device_rng, key, created, pool, managed=index in managed_flags)
        pool.devices.append(device)
        keep("devices", device, updated)

    managed_rng = rng_for(seed, instance, "managedDevices")
    paired = [d for i, d in enumerate(pool.devices) if i in managed_flags]
    managed_rng.shuffle(paired)
    plans: list[tuple[int, Record | None]] = []
    for index in range(managed_count):
        paired_device = paired[index] if index < len(paired) else None
        registered = parse_epoch(paired_device["registrationDateTime"]) if paired_device else WINDOW_START
        plans.append((min(WINDOW_END, registered + managed_rng.randint(0, 2 * _DAY)), paired_device))
    plans.sort(key=lambda plan: plan[0])
    for key, (created, paired_device) in zip(_keys(managed_rng, managed_count), plans, strict=True):
        record = factory.managed_device(managed_rng, key, created, pool, device=paired_device)
        updated = max(created, parse_epoch(record["lastSyncDateTime"]))
        keep("deviceManagement/managedDevices", record, updated)
    return Generated(tables, changed)


def _choose_skus(rng: random.Random, count: int) -> list[v.Sku]:
    """A plausible licence mix: one or two base plans, then add-ons, then the free self-service SKUs."""
    if not count:
        return []
    bases = [s for s in v.SKUS if s.kind == "base"]
    addons = [s for s in v.SKUS if s.kind == "addon"]
    free = [s for s in v.SKUS if s.kind == "free"]
    chosen = [rng.choice(bases[:3]) if rng.random() < 0.7 else rng.choice(bases)]
    rest = [s for s in bases if s not in chosen]
    rng.shuffle(rest)
    rng.shuffle(addons)
    ordered = [*chosen, *free[:1], *addons[:3], *rest[:1], *free[1:], *addons[3:], *rest[1:]]
    return ordered[:count]


def _group_plan(rng: random.Random, count: int) -> list[tuple[tuple[str, str, str], str | None]]:
    """The fixed company-wide groups first, then per-department groups of every kind."""
    plan: list[tuple[tuple[str, str, str], str | None]] = [(g, None) for g in v.FIXED_GROUPS[:count]]
    while len(plan) < count:
        plan.append((rng.choice(v.GROUP_TEMPLATES), rng.choice(list(v.DEPARTMENTS))))
    return plan
