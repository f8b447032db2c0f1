"""ServiceNow's date and time formats: ``YYYY-MM-DD HH:MM:SS`` (UTC), ``YYYY-MM-DD`` and durations.

The Table API returns date-times in UTC as ``2024-05-01 13:45:00`` and durations
(``glide_duration``) as a date-time offset from the epoch, ``1970-01-01 02:30:00`` for two and a
half hours. Formatting and parsing are hot (every generated record has several stamps; the store
parses ``sys_updated_on`` of every record), hence the cached date parts.
"""

from __future__ import annotations

import calendar
import functools
import re
import time

_DAY = 86400

DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@functools.lru_cache(maxsize=16384)
def _date_text(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * _DAY))


@functools.lru_cache(maxsize=16384)
def _day_number(text: str) -> int:
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)) // _DAY


def format_datetime(epoch: int) -> str:
    """``YYYY-MM-DD HH:MM:SS`` (UTC) of epoch seconds."""
    day, seconds = divmod(int(epoch), _DAY)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_date_text(day)} {hours:02d}:{minutes:02d}:{secs:02d}"


def format_date(epoch: int) -> str:
    """``YYYY-MM-DD`` (UTC) of epoch seconds."""
    return _date_text(int(epoch) // _DAY)


def parse_datetime(text: str) -> int:
    """Epoch seconds of a served ``YYYY-MM-DD HH:MM:SS`` value (no validation: it is our own output)."""
    return _day_number(text[:10]) * _DAY + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])


def parse_query_datetime(text: str) -> int | None:
    """Epoch seconds of a ``YYYY-MM-DD HH:MM:SS`` or ``YYYY-MM-DD`` value in a query; None if malformed."""
    text = text.strip()
    match = DATE_TIME.match(text) or DATE.match(text)
    if match is None:
        return None
    parts = [int(p) for p in match.groups()] + [0, 0, 0]
    year, month, day, hours, minutes, seconds = parts[:6]
    if not (1 <= month <= 12 and 1 <= day <= 31 and hours < 24 and minutes < 60 and seconds < 60):
        return None
    try:
        time.strptime(f"{year:04d}-{month:02d}-{day:02d}", "%Y-%m-%d")
    except ValueError:
        return None
    return calendar.timegm((year, month, day, hours, minutes, seconds, 0, 0, 0))


def format_duration(seconds: int) -> str:
    """A ``glide_duration`` value: the duration as a date-time after the epoch."""
    return format_datetime(max(0, int(seconds)))


def duration_seconds(value: str) -> int:
    """Seconds of a ``glide_duration`` value ("" is 0)."""
    return parse_datetime(value) if value else 0


def duration_display(value: str) -> str:
    """How ServiceNow displays a duration: ``2 Hours 30 Minutes``, ``1 Day 4 Hours``."""
    seconds = duration_seconds(value)
    if not value:
        return ""
    days, rest = divmod(seconds, _DAY)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    for amount, unit in ((days, "Day"), (hours, "Hour"), (minutes, "Minute"), (secs, "Second")):
        if amount:
            parts.append(f"{amount} {unit}{'s' if amount != 1 else ''}")
    return " ".join(parts) or "0 Seconds"
