"""The replication resources: ``sobjects/{Object}/deleted/`` and ``sobjects/{Object}/updated/``.

Both take ``start`` and ``end`` (ISO 8601 with an offset, URL-encoded: ``2024-05-01T00:00:00+00:00``;
``Z`` and ``+0000`` are accepted too). As documented: seconds are ignored (12:30:15 is 12:30:00),
``start`` must precede ``end`` and lie at most 30 days back, else ``400 INVALID_REPLICATION_DATE``.
The window is ``[start, end)``. Deleted records are returned for no more than 15 days back (the
recycle bin's retention; ``earliestDateAvailable`` is the deletion time of the last record purged
for good, or the org's creation while nothing was purged). ``latestDateCovered`` is ``end``, or
the current minute if ``end`` lies in the future: start the next window there.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from avesa_sandbox.salesforce.errors import ApiError
from avesa_sandbox.salesforce.timefmt import format_datetime
from avesa_sandbox.store import TableStore

MAX_DAYS_BACK = 30
_DAY = 86400


def _minute(params: Mapping[str, str], name: str) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        raise ApiError(400, "MISSING_ARGUMENT", f"Missing required parameter: {name}")
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ApiError(
            400,
            "INVALID_PARAMETER_VALUE",
            f"{name}: '{raw}' is not a valid date-time; use ISO 8601 (YYYY-MM-DDThh:mm:ss+hh:mm), URL-encoded",
        ) from None
    if value.tzinfo is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{name}: '{raw}' needs a time zone offset (+00:00 or Z)")
    epoch = int(value.timestamp())
    return epoch - epoch % 60


def window(params: Mapping[str, str], now: int) -> tuple[int, int, int]:
    """(start, end, latest covered) epoch seconds of a replication request; ApiError if invalid."""
    start, end = _minute(params, "start"), _minute(params, "end")
    if end <= start:
        raise ApiError(400, "INVALID_REPLICATION_DATE", "end date must be after start date")
    if start < now - MAX_DAYS_BACK * _DAY:
        raise ApiError(
            400, "INVALID_REPLICATION_DATE", f"start date cannot be more than {MAX_DAYS_BACK} days before today"
        )
    return start, end, min(end, now - now % 60)


def deleted(bin_store: TableStore | None, start: int, end: int, latest: int, earliest: int) -> dict[str, Any]:
    """``{deletedRecords: [{id, deletedDate}], earliestDateAvailable, latestDateCovered}``.

    ``earliest``: deletion time of the last record purged for good (or the org's creation)."""
    records: list[dict[str, Any]] = []
    if bin_store is not None:
        first, last = bin_store.updated_span(start, end - 1)
        for key in bin_store.ids_by_updated(first, last):
            record = bin_store.records[key]
            records.append({"id": record["Id"], "deletedDate": record["SystemModstamp"]})
    return {
        "deletedRecords": records,
        "earliestDateAvailable": format_datetime(earliest),
        "latestDateCovered": format_datetime(latest),
    }


def updated(store: TableStore, start: int, end: int, latest: int) -> dict[str, Any]:
    """``{ids: [...], latestDateCovered}``: records created or changed in the window."""
    first, last = store.updated_span(start, end - 1)
    return {
        "ids": [store.records[key]["Id"] for key in store.ids_by_updated(first, last)],
        "latestDateCovered": format_datetime(latest),
    }
