"""How fresh a table's data is against its target.

A table's data is as fresh as the source time its last completed sync read up to: the end of that
run's range, never earlier than the watermark (the newest change landed). The watermark alone would
call a quiet table stale while every run keeps it in sync; the range end moves with every completed
run, and stops when runs fail or stop — which is what a person watching freshness wants to see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from avesa.domain.work import SyncMode
from avesa.settings import Settings
from avesa.state.ledger_records import TableRunRecord


class Bucket(StrEnum):
    """The colour of a cell in the freshness heat map."""

    FRESH = "fresh"  # within its target
    LATE = "late"  # past its target, within twice it
    STALE = "stale"  # past twice its target
    NEVER = "never"  # no sync of the table ever completed


@dataclass(frozen=True)
class Freshness:
    synced_to: datetime | None
    """The source time the lake is known to be complete up to; None before a first completed sync."""
    age: timedelta | None
    target: timedelta
    bucket: Bucket


def target_for(settings: Settings, tenant_id: str, service: str, table: str) -> timedelta:
    """The table's freshness target: the most specific of `AVESA_FRESHNESS_TARGETS`' keys
    ("tenant/service/table", then "service/table", then "table"), else `AVESA_FRESHNESS_TARGET_HOURS`."""
    targets = settings.freshness_targets
    for key in (f"{tenant_id}/{service}/{table}", f"{service}/{table}", table):
        if key in targets:
            return timedelta(hours=targets[key])
    return timedelta(hours=settings.freshness_target_hours)


def freshness(synced_to: datetime | None, target: timedelta, now: datetime) -> Freshness:
    if synced_to is None:
        return Freshness(None, None, target, Bucket.NEVER)
    age = max(now - synced_to, timedelta(0))
    bucket = Bucket.FRESH if age <= target else Bucket.LATE if age <= 2 * target else Bucket.STALE
    return Freshness(synced_to, age, target, bucket)


def short_duration(value: timedelta | None) -> str:
    """`45s`, `12m`, `3h 05m`, `4d 02h`: an age that fits a heat-map cell; "—" for none."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def synced_to(history: list[TableRunRecord], watermark: datetime | None) -> datetime | None:
    """What a table's data is complete up to (the module's docstring), from its table runs newest
    first: the range end of its last completed sync (backfills do not count), never earlier than
    the watermark; None before a first completed sync."""
    done = next((t for t in history if t.mode != SyncMode.BACKFILL.value and t.status == "complete"), None)
    if done is None:
        return None
    found = done.range_end or done.started_at
    return found if watermark is None else max(found, watermark)
