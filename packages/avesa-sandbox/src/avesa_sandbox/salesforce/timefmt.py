"""Salesforce's datetime and date text: ``2024-01-01T09:30:00.000+0000`` and ``2024-01-01``.

The sandbox keeps change stamps as epoch seconds (the shared store indexes them); records carry
the text the real API returns, so these conversions sit on hot paths (generation, every store
write) and avoid ``datetime`` where a fixed-position parse does.
"""

from __future__ import annotations

import calendar
import functools
import time


@functools.lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day * 86400))


def format_datetime(epoch: int) -> str:
    """``2024-01-01T09:30:00.000+0000`` for epoch seconds (UTC, milliseconds always ``.000``)."""
    epoch = int(epoch)
    day, seconds = divmod(epoch, 86400)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_day(day)}T{hours:02d}:{minutes:02d}:{secs:02d}.000+0000"


def format_date(epoch: int) -> str:
    """``2024-01-01``: the UTC date of epoch seconds."""
    return _day(int(epoch) // 86400)


def parse_datetime(text: str) -> int:
    """Epoch seconds of a datetime the sandbox wrote (``format_datetime``); ValueError otherwise."""
    if len(text) != 28 or text[10] != "T" or not text.endswith("+0000"):
        raise ValueError(f"not a Salesforce datetime: {text!r}")
    return calendar.timegm(
        (int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), int(text[17:19]))
    )


def parse_date(text: str) -> int:
    """Epoch seconds of midnight UTC of a ``YYYY-MM-DD`` date."""
    return calendar.timegm((int(text[0:4]), int(text[5:7]), int(text[8:10]), 0, 0, 0))
