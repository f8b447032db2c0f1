"""Values as the SQLite store writes and reads them: times as ISO-8601 UTC text, statuses as SQL
literals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from avesa.domain.timeutil import parse_utc


def sql(*statuses: StrEnum) -> str:
    """Statuses as SQL literals for a query's text: `'running'`, or `('complete', 'failed')`."""
    quoted = ", ".join(f"'{status.value}'" for status in statuses)
    return quoted if len(statuses) == 1 else f"({quoted})"


def ts(value: datetime | None) -> str | None:
    return None if value is None else parse_utc(value).isoformat()


def dt(value: str | None) -> datetime | None:
    return None if value is None else parse_utc(value)


def fixed(value: datetime) -> str:
    """A time of one width (microseconds always), so that comparing the strings compares the times."""
    return parse_utc(value).isoformat(timespec="microseconds")
