"""Filter values and predicates: SOQL literals converted to a field's type, and compiled comparisons.

A literal must have the field's type — quoted strings for text and ids, unquoted datetimes for
datetime fields, dates for date fields, numbers for numbers — or the query fails as Salesforce
fails it (``INVALID_FIELD`` with its wording; a malformed id is ``INVALID_QUERY_FILTER_OPERATOR``).
Converted values compare directly with stored ones: text case-folded (SOQL compares text
case-insensitively), ids in 18-character form, datetimes as the API's fixed-format UTC text (which
sorts chronologically), date literals (``TODAY``, ``LAST_N_DAYS:7``...) as ``[start, end)`` spans in
UTC. ``=`` and ``!=`` treat null as a value (``Name != 'x'`` matches records without a name); the
ordering comparisons never match null.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from avesa_sandbox.salesforce import ids
from avesa_sandbox.salesforce.errors import SoqlError
from avesa_sandbox.salesforce.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, FieldDef
from avesa_sandbox.salesforce.soql import Literal
from avesa_sandbox.salesforce.timefmt import format_date, format_datetime

Record = dict[str, Any]
Predicate = Callable[[Record], bool]

MALFORMED = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_OPERATOR = "INVALID_QUERY_FILTER_OPERATOR"

_DAY = 86400
_TYPE_NAMES = {"datetime": "dateTime", "currency": "double", "percent": "double", "int": "int", "double": "double"}


# -- values --------------------------------------------------------------------------------------


def _instant(literal: Literal) -> float:
    return datetime.fromisoformat(literal.text).timestamp()


def datetime_text(instant: float) -> str:
    """Canonical text of an instant (UTC, milliseconds): compares like the records' datetime strings."""
    seconds = math.floor(instant)
    millis = min(999, round((instant - seconds) * 1000))
    return format_datetime(seconds)[:20] + f"{millis:03d}+0000"


def date_range(keyword: str, amount: int | None, now: int) -> tuple[int, int]:
    """``[start, end)`` epoch seconds of a SOQL date literal, in UTC, relative to ``now``."""
    today = now - now % _DAY
    n = amount or 0
    weekday = (time.gmtime(today).tm_wday + 1) % 7  # weeks start on Sunday
    week = today - weekday * _DAY
    year, month = time.gmtime(today)[:2]

    def month_start(y: int, m: int) -> int:
        y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
        return calendar.timegm((y, m, 1, 0, 0, 0))

    ranges: dict[str, tuple[int, int]] = {
        "TODAY": (today, today + _DAY),
        "YESTERDAY": (today - _DAY, today),
        "TOMORROW": (today + _DAY, today + 2 * _DAY),
        "THIS_WEEK": (week, week + 7 * _DAY),
        "LAST_WEEK": (week - 7 * _DAY, week),
        "NEXT_WEEK": (week + 7 * _DAY, week + 14 * _DAY),
        "THIS_MONTH": (month_start(year, month), month_start(year, month + 1)),
        "LAST_MONTH": (month_start(year, month - 1), month_start(year, month)),
        "NEXT_MONTH": (month_start(year, month + 1), month_start(year, month + 2)),
        "THIS_YEAR": (month_start(year, 1), month_start(year + 1, 1)),
        "LAST_YEAR": (month_start(year - 1, 1), month_start(year, 1)),
        "NEXT_YEAR": (month_start(year + 1, 1), month_start(year + 2, 1)),
        "LAST_90_DAYS": (today - 90 * _DAY, today + _DAY),
        "NEXT_90_DAYS": (today + _DAY, today + 91 * _DAY),
        "LAST_N_DAYS": (today - n * _DAY, today + _DAY),
        "NEXT_N_DAYS": (today + _DAY, today + (n + 1) * _DAY),
        "N_DAYS_AGO": (today - n * _DAY, today - (n - 1) * _DAY),
        "LAST_N_WEEKS": (week - 7 * n * _DAY, week),
        "NEXT_N_WEEKS": (week + 7 * _DAY, week + 7 * (n + 1) * _DAY),
    }
    return ranges[keyword]


def type_error(field: FieldDef, literal: Literal) -> SoqlError:
    if field.type in TEXT_TYPES or field.type in ID_TYPES:
        detail = (
            f"value of filter criterion for field '{field.name}' must be of type string "
            "and should be enclosed in quotes"
        )
    else:
        type_name = _TYPE_NAMES.get(field.type, field.type)
        detail = (
            f"value of filter criterion for field '{field.name}' must be of type {type_name} "
            "and should not be enclosed in quotes"
        )
    return SoqlError(INVALID_FIELD, detail, literal.pos)


@dataclass(frozen=True)
class Value:
    """A literal converted to what the field's stored values compare with.

    ``point`` is a single comparable value (or None for null); ``span`` is ``[low, high)`` for date
    literals such as ``TODAY``; ``instant`` is the epoch of datetime values (for index bounds)."""

    point: Any = None
    span: tuple[Any, Any] | None = None
    instant: tuple[float, float] | None = None


def convert(field: FieldDef, literal: Literal, now: int) -> Value:
    kind = literal.kind
    if kind == "null":
        return Value()
    ftype = field.type
    if ftype in ID_TYPES:
        if kind != "string":
            raise type_error(field, literal)
        try:
            return Value(point=ids.to18(literal.value))
        except ValueError:
            raise SoqlError(INVALID_OPERATOR, f"invalid ID field: {literal.value}", literal.pos) from None
    if ftype in TEXT_TYPES:
        if kind != "string":
            raise type_error(field, literal)
        return Value(point=literal.value.casefold())
    if ftype in NUMBER_TYPES:
        if kind != "number":
            raise type_error(field, literal)
        return Value(point=float(literal.value))
    if ftype == "boolean":
        if kind != "boolean":
            raise type_error(field, literal)
        return Value(point=literal.value)
    if ftype == "datetime":
        if kind == "datetime":
            instant = _instant(literal)
            return Value(point=datetime_text(instant), instant=(instant, instant))
        if kind == "date_literal":
            low, high = date_range(literal.value[0], literal.value[1], now)
            return Value(span=(format_datetime(low), format_datetime(high)), instant=(low, high))
        raise type_error(field, literal)
    if ftype == "date":
        if kind == "date":
            return Value(point=literal.value)
        if kind == "date_literal":
            low, high = date_range(literal.value[0], literal.value[1], now)
            return Value(span=(format_date(low), format_date(high)))
        raise type_error(field, literal)
    raise SoqlError(INVALID_FIELD, f"field '{field.name}' can not be filtered in a query call", literal.pos)


# -- predicates ----------------------------------------------------------------------------------


def getter(field: FieldDef) -> Callable[[Record], Any]:
    name = field.name
    if field.type in TEXT_TYPES:

        def text(record: Record) -> Any:
            value = record.get(name)
            return value.casefold() if isinstance(value, str) else value

        return text
    if field.type in NUMBER_TYPES:

        def number(record: Record) -> Any:
            value = record.get(name)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

        return number
    return lambda record: record.get(name)


def compare(field: FieldDef, op: str, value: Value) -> Predicate:
    get = getter(field)
    if value.span is not None:
        low, high = value.span
        spans: dict[str, Predicate] = {
            "=": lambda r: (v := get(r)) is not None and low <= v < high,
            "!=": lambda r: (v := get(r)) is None or not low <= v < high,
            "<": lambda r: (v := get(r)) is not None and v < low,
            "<=": lambda r: (v := get(r)) is not None and v < high,
            ">": lambda r: (v := get(r)) is not None and v >= high,
            ">=": lambda r: (v := get(r)) is not None and v >= low,
        }
        return spans[op]
    point = value.point
    if op == "=":
        return lambda r: get(r) == point
    if op == "!=":
        return lambda r: get(r) != point
    comparisons: dict[str, Predicate] = {
        "<": lambda r: (v := get(r)) is not None and v < point,
        "<=": lambda r: (v := get(r)) is not None and v <= point,
        ">": lambda r: (v := get(r)) is not None and v > point,
        ">=": lambda r: (v := get(r)) is not None and v >= point,
    }
    return comparisons[op]


def like(field: FieldDef, pattern: str) -> Predicate:
    r"""SOQL LIKE: ``%`` any run, ``_`` one character, ``\%``/``\_`` literal; case-insensitive."""
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    regex = re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
    name = field.name
    return lambda r: isinstance(v := r.get(name), str) and regex.fullmatch(v) is not None
