"""Query parameters of ``GET /api/v2/{table}`` and ``/{id}``, validated as the API documents them.

The API is strict on purpose: an unknown or repeated parameter, an unparseable date, an unknown
``sort`` or field, or a ``limit`` outside 1..500 is a 400 ``invalid_parameter`` naming the
parameter, never silently ignored (a mistyped ``updated_sinse`` would otherwise turn an incremental
read into a full one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from avesa_sandbox.helpdesk import schema

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
SORTS = ("id", "updated_at")
LIST_PARAMETERS = ("updated_since", "updated_before", "after_id", "sort", "limit", "fields")
GET_PARAMETERS = ("fields",)


class BadParameter(Exception):
    """A query parameter the API rejects with 400 ``invalid_parameter``; the message says why."""


@dataclass(frozen=True)
class ListParams:
    """A validated list request. Change-time bounds are inclusive epoch seconds."""

    updated_low: int | None = None
    updated_high: int | None = None
    after_id: int | None = None
    sort: str = "id"
    limit: int = DEFAULT_LIMIT
    fields: tuple[str, ...] | None = None


def _single(items: Iterable[tuple[str, str]], allowed: tuple[str, ...], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            raise BadParameter(f"unknown parameter {name!r}; {where} accepts: {', '.join(allowed)}")
        if name in values:
            raise BadParameter(f"parameter {name!r} is given more than once")
        values[name] = value
    return values


def parse_timestamp(name: str, text: str) -> float:
    """Epoch seconds of an ISO 8601 date or date-time (``Z`` or an offset; without one, UTC)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        hint = " (URL-encode a '+' offset as %2B)" if " " in text.strip() else ""
        raise BadParameter(
            f"{name} must be an ISO 8601 date-time such as 2024-01-01T00:00:00Z, got {text!r}{hint}"
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _integer(name: str, text: str, low: int, high: int | None = None) -> int:
    stripped = text.strip()
    span = f"between {low} and {high}" if high is not None else f">= {low}"
    if not stripped.isdigit():
        raise BadParameter(f"{name} must be an integer {span}, got {text!r}")
    value = int(stripped)
    if value < low or (high is not None and value > high):
        raise BadParameter(f"{name} must be an integer {span}, got {value}")
    return value


def parse_fields(table: str, text: str) -> tuple[str, ...]:
    """Requested top-level fields, in schema order, ``id`` always included."""
    known = schema.fields(table)
    requested = {name.strip() for name in text.split(",") if name.strip()}
    if not requested:
        raise BadParameter("fields must be a comma-separated list of field names")
    unknown = sorted(requested - set(known))
    if unknown:
        raise BadParameter(f"unknown field {unknown[0]!r} in fields; {table} records have: {', '.join(known)}")
    requested.add("id")
    return tuple(name for name in known if name in requested)


def parse_list(table: str, items: Iterable[tuple[str, str]]) -> ListParams:
    """Validate the parameters of a list request."""
    values = _single(items, LIST_PARAMETERS, f"GET /api/v2/{table}")
    low = high = None
    if "updated_since" in values:
        low = math.ceil(parse_timestamp("updated_since", values["updated_since"]))  # inclusive
    if "updated_before" in values:
        high = math.ceil(parse_timestamp("updated_before", values["updated_before"])) - 1  # exclusive
    sort = values.get("sort", "id").strip()
    if sort not in SORTS:
        raise BadParameter(f"sort must be one of: {', '.join(SORTS)}; got {sort!r}")
    return ListParams(
        updated_low=low,
        updated_high=high,
        after_id=_integer("after_id", values["after_id"], 0) if "after_id" in values else None,
        sort=sort,
        limit=_integer("limit", values["limit"], 1, MAX_LIMIT) if "limit" in values else DEFAULT_LIMIT,
        fields=parse_fields(table, values["fields"]) if "fields" in values else None,
    )


def parse_get(table: str, items: Iterable[tuple[str, str]]) -> tuple[str, ...] | None:
    """Validate the parameters of a single-record request: the selected fields, if any."""
    values = _single(items, GET_PARAMETERS, f"GET /api/v2/{table}/{{id}}")
    return parse_fields(table, values["fields"]) if "fields" in values else None
