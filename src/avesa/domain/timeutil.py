"""UTC time helpers. Every timestamp inside AVESA is a timezone-aware UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_utc(value: str | datetime) -> datetime:
    """Parse an ISO-8601 string (``Z`` or offset; naive means UTC) into an aware UTC datetime."""
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())  # 3.11 reads "Z"
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def iso_z(dt: datetime) -> str:
    """Second-precision ISO form with Z, the format ConnectWise uses in `[...]` date conditions."""
    return parse_utc(dt).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def compact_stamp(dt: datetime) -> str:
    """`20250102T030405Z`: sortable and safe in file names."""
    return parse_utc(dt).strftime("%Y%m%dT%H%M%SZ")
