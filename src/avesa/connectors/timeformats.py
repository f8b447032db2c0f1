"""Change timestamps as each API writes them, read into aware UTC datetimes and written back into
filters. ServiceNow writes ``2024-01-02 03:04:05`` (UTC, no zone), Salesforce
``2024-01-02T03:04:05.000+0000``, ConnectWise ``2024-01-02T03:04:05Z``; some APIs use epoch numbers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from avesa.catalog.models import TimeFormat
from avesa.domain.timeutil import iso_z, parse_utc


def _from_epoch(scale: float) -> Callable[[Any], datetime]:
    def parse(value: Any) -> datetime:
        return datetime.fromtimestamp(float(value) / scale, tz=UTC)

    return parse


def _iso(value: Any) -> datetime:
    stamp = datetime.fromisoformat(value)  # C speed; reads Z, +0000, millis and a space separator
    return stamp if stamp.tzinfo is UTC else parse_utc(stamp)


PARSERS: dict[TimeFormat, Callable[[Any], datetime]] = {
    "iso": _iso,
    "iso_millis": _iso,
    "servicenow": _iso,
    "epoch_seconds": _from_epoch(1.0),
    "epoch_millis": _from_epoch(1000.0),
}

FORMATTERS: dict[TimeFormat, Callable[[datetime], str]] = {
    "iso": iso_z,
    "iso_millis": lambda dt: parse_utc(dt).strftime("%Y-%m-%dT%H:%M:%S.") + f"{parse_utc(dt).microsecond // 1000:03d}Z",
    "servicenow": lambda dt: parse_utc(dt).strftime("%Y-%m-%d %H:%M:%S"),
    "epoch_seconds": lambda dt: str(int(parse_utc(dt).timestamp())),
    "epoch_millis": lambda dt: str(int(parse_utc(dt).timestamp() * 1000)),
}


def parse_stamp(value: Any, fmt: TimeFormat) -> datetime:
    """ValueError (or TypeError) when the value is not a timestamp of that format."""
    return PARSERS[fmt](value)


def parse_stamps(values: list[Any], fmt: TimeFormat) -> list[datetime]:
    """``parse_stamp`` over a page's values; ISO text in one C-level map, zones fixed only where a
    value had none or another than UTC."""
    if PARSERS[fmt] is not _iso:
        return list(map(PARSERS[fmt], values))
    stamps = list(map(datetime.fromisoformat, values))
    if not all(stamp.tzinfo is UTC for stamp in stamps):
        stamps = [stamp if stamp.tzinfo is UTC else parse_utc(stamp) for stamp in stamps]
    return stamps


def format_stamp(value: datetime, fmt: TimeFormat) -> str:
    return FORMATTERS[fmt](value)
