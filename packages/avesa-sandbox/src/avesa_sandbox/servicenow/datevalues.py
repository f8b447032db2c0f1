"""Date-time values in encoded queries: literals and the ``javascript:gs.*`` forms the platform evaluates.

``sys_updated_on>=2024-01-01 00:00:00`` and
``sys_updated_on>=javascript:gs.dateGenerate('2024-01-01','00:00:00')`` mean the same; relative forms
(``gs.daysAgoStart(1)``, ``gs.beginningOfToday()``, ``gs.minutesAgo(30)``...) are evaluated against the
instance's clock. Anything else (an ISO ``T`` separator, a typo) is not a date: the condition is
dropped, exactly as ServiceNow silently ignores it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from avesa_sandbox.servicenow.timefmt import parse_query_datetime

_DAY = 86400

_DATE_GENERATE = re.compile(r"^javascript:\s*gs\.dateGenerate\(\s*'([^']*)'\s*,\s*'([^']*)'\s*\)\s*;?$")
_CALL = re.compile(r"^javascript:\s*gs\.([A-Za-z]+)\(\s*(-?\d*)\s*\)\s*;?$")


def _start_of_day(epoch: int) -> int:
    return epoch - epoch % _DAY


_RELATIVE: dict[str, Callable[[int, int], int]] = {
    "nowDateTime": lambda now, n: now,
    "beginningOfToday": lambda now, n: _start_of_day(now),
    "endOfToday": lambda now, n: _start_of_day(now) + _DAY - 1,
    "beginningOfYesterday": lambda now, n: _start_of_day(now) - _DAY,
    "endOfYesterday": lambda now, n: _start_of_day(now) - 1,
    "beginningOfTomorrow": lambda now, n: _start_of_day(now) + _DAY,
    "daysAgo": lambda now, n: now - n * _DAY,
    "daysAgoStart": lambda now, n: _start_of_day(now - n * _DAY),
    "daysAgoEnd": lambda now, n: _start_of_day(now - n * _DAY) + _DAY - 1,
    "hoursAgo": lambda now, n: now - n * 3600,
    "hoursAgoStart": lambda now, n: now - n * 3600 - now % 3600,
    "hoursAgoEnd": lambda now, n: now - n * 3600 - now % 3600 + 3599,
    "minutesAgo": lambda now, n: now - n * 60,
    "minutesAgoStart": lambda now, n: now - n * 60 - now % 60,
    "minutesAgoEnd": lambda now, n: now - n * 60 - now % 60 + 59,
}


def is_relative(value: str) -> bool:
    """Does the value depend on the current time (so a compiled query must not be cached)?"""
    return "javascript:" in value and "dateGenerate" not in value


def parse_date_value(value: str, now: int) -> int | None:
    """Epoch seconds a query value denotes, or None if it is not a date-time the platform understands."""
    value = value.strip()
    if not value.startswith("javascript:"):
        return parse_query_datetime(value)
    generated = _DATE_GENERATE.match(value)
    if generated:
        date, clock = generated.groups()
        if clock == "start":
            clock = "00:00:00"
        elif clock == "end":
            clock = "23:59:59"
        return parse_query_datetime(f"{date} {clock}")
    call = _CALL.match(value)
    if call is None or call.group(1) not in _RELATIVE:
        return None
    amount = int(call.group(2)) if call.group(2) else 0
    return _RELATIVE[call.group(1)](now, amount)
