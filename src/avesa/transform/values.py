"""One raw value at a time: decoding a record's JSON and converting a source value to a canonical
column's type. A value that cannot be converted (a number past int64, `Infinity`, text that is no
date) becomes None; the caller counts it. The compiled row loop (`row_compiler`) inlines the common
cases of these and calls them for everything else, so they remain the definition of the semantics."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson

from avesa.catalog.models import ColumnType
from avesa.domain.timeutil import parse_utc

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]+)\]")
"""One step of a source path: a key, an `[index]` or a `[field=value,...]` match."""


def match_step(spec: str) -> Callable[[Any], Any]:
    """`[communicationType=Email,defaultFlag=true]`: the first dict of a list whose fields, as text,
    equal the wanted values ignoring case (`str(True)` is `True`, so `true` matches a JSON true)."""
    pairs = [part.split("=", 1) for part in spec.split(",")]
    wanted = [(k.strip(), val.strip().lower()) for k, val in pairs]

    def pick(v: Any) -> Any:
        if not isinstance(v, list):
            return None
        for item in v:
            if isinstance(item, dict) and all(str(item.get(k)).lower() == val for k, val in wanted):
                return item
        return None

    return pick


def negated(v: Any) -> bool | None:
    flag = to_bool(v)
    return None if flag is None else not flag


def to_string(v: Any) -> str | None:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    try:
        return orjson.dumps(v).decode()
    except orjson.JSONEncodeError:  # an integer past 64 bits, nesting past orjson's limit
        return json.dumps(v, ensure_ascii=False, allow_nan=True)


def _int64(v: int) -> int | None:
    return v if INT64_MIN <= v <= INT64_MAX else None


def to_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return _int64(v)
    if isinstance(v, float):
        return _int64(int(v)) if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            return _int64(int(v))  # exact for long digit strings, which a float would round
        except ValueError:
            pass
        try:
            number = float(v)
        except ValueError:
            return None
        return _int64(int(number)) if math.isfinite(number) else None
    return None


def to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if not isinstance(v, int | float | str):
        return None
    try:
        number = float(v)
    except (ValueError, OverflowError):  # OverflowError: an integer past the float range
        return None
    return number if math.isfinite(number) else None


def to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(v.strip().lower())
    if isinstance(v, int | float):
        return None if isinstance(v, float) and math.isnan(v) else bool(v)
    return None


def to_timestamp(v: Any) -> datetime | None:
    if isinstance(v, str) and v.strip():
        try:
            return parse_utc(v)
        except (ValueError, OverflowError):  # OverflowError: a date at the edge of the calendar with an offset
            return None
    return None


CONVERT: dict[ColumnType, Callable[[Any], Any]] = {
    "string": to_string,
    "int64": to_int,
    "float64": to_float,
    "bool": to_bool,
    "timestamp": to_timestamp,
}


class RecordUnreadable(ValueError):
    """A raw record that no JSON decoder accepts; the message names it and says why."""


def decode_record(source_id: str, record_json: str) -> Any:
    """orjson first (fast); the standard library's decoder for what orjson refuses but JSON allows or
    APIs send anyway — a number past the double range (read as infinity, then nulled by the column's
    conversion), `NaN`, a lone surrogate escape."""
    try:
        return orjson.loads(record_json)
    except orjson.JSONDecodeError as fast_error:
        try:
            return json.loads(record_json)
        except (ValueError, RecursionError):
            raise RecordUnreadable(f"record {source_id} is not JSON AVESA can read ({fast_error})") from None
    except RecursionError:
        raise RecordUnreadable(f"record {source_id} is nested too deeply to read") from None
