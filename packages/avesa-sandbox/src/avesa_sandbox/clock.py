"""Time for the sandbox: UTC, second precision, and per-record strictly increasing stamps.

Source systems stamp changes with their own clock at second precision. Two versions of one record
that land in the same second would be indistinguishable to a pipeline that orders versions by that
stamp, so the sandbox never lets that happen: a new version is stamped at least one second after
the record's previous one (``next_stamp``). Timestamps are kept as integer epoch seconds internally
(cheap to compare and index) and formatted as ``YYYY-MM-DDTHH:MM:SSZ`` only at the edge.
"""

from __future__ import annotations

import functools
import math
import time
from datetime import UTC, datetime


@functools.lru_cache(maxsize=8192)
def _day_prefix(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86400))


def format_epoch(epoch: int) -> str:
    """Format epoch seconds as ConnectWise does: ISO 8601, UTC, second precision, ``Z`` suffix.

    Hot during data generation (several calls per record), hence the cached date part.
    """
    epoch = int(epoch)
    day, seconds = divmod(epoch, 86400)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{secs:02d}Z"


def parse_timestamp(text: str) -> float:
    """Parse an ISO 8601 timestamp (``Z`` or an offset; naive means UTC) to epoch seconds.

    Raises ValueError for anything that is not a date or date-time.
    """
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def parse_epoch(text: str) -> int:
    """Parse a second-precision timestamp string to integer epoch seconds (fractions are floored)."""
    return math.floor(parse_timestamp(text))


def wall_clock_iso() -> str:
    """The current wall-clock time with microseconds, for the change log's ``changed_at``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class Clock:
    """The sandbox's source-system clock.

    ``offset_seconds`` shifts it (tests can move the source clock without sleeping); everything
    that stamps a record goes through one instance so that the shift applies everywhere.
    """

    def __init__(self, offset_seconds: int = 0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> int:
        """Current UTC time as integer epoch seconds (what a source would write in lastUpdated)."""
        return int(time.time()) + self.offset_seconds

    def next_stamp(self, previous: int | None) -> int:
        """Stamp for a record's next version: now, but strictly after its previous version."""
        now = self.now()
        if previous is not None and now <= previous:
            return previous + 1
        return now
