"""Turn raw source records into canonical versions using a catalog mapping.

A source path is compiled once into steps: `status.name` (keys), `types[0].name` (an index),
`communicationItems[communicationType=Email,defaultFlag=true].value` (the first list item whose
fields match); `!active` negates a flag. A list of paths means the first non-null wins. Values are converted to the
canonical column's type; a value that cannot be converted (a number past int64, `Infinity`, text that is no
date) becomes null rather than failing the whole table — the raw record keeps the original, and the
mapping counts the nulled values per column so the run can report them (`NulledValues`).

Only a record that cannot be decoded at all fails: `RecordUnreadable` names it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from avesa.catalog.models import CanonicalTable, ColumnType, Mapping
from avesa.domain.timeutil import parse_utc

# Canonical columns that describe the change rather than the entity: never part of the record hash.
METADATA_COLUMNS = ("last_updated", "last_updated_by")

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]+)\]")

Step = Callable[[Any], Any]


def _key(name: str) -> Step:
    return lambda v: v.get(name) if isinstance(v, dict) else None


def _index(i: int) -> Step:
    return lambda v: v[i] if isinstance(v, list) and len(v) > i else None


def _match(spec: str) -> Step:
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


def compile_path(path: str) -> list[Step]:
    steps: list[Step] = []
    for name, index, match in _STEP.findall(path):
        if name:
            steps.append(_key(name))
        elif index:
            steps.append(_index(int(index)))
        else:
            steps.append(_match(match))
    return steps


def _negated(v: Any) -> bool | None:
    flag = _to_bool(v)
    return None if flag is None else not flag


def _getter(source: str | list[str]) -> Callable[[dict], Any]:
    """First non-null of the paths; ``!path`` reads a flag negated (ServiceNow's ``active`` is the
    canonical ``inactive_flag`` turned round)."""
    texts = [source] if isinstance(source, str) else source
    paths = [(compile_path(p.removeprefix("!")), p.startswith("!")) for p in texts]

    def get(record: dict) -> Any:
        for steps, negate in paths:
            value: Any = record
            for step in steps:
                value = step(value)
                if value is None:
                    break
            if value is not None:
                return _negated(value) if negate else value
        return None

    return get


def _to_string(v: Any) -> str | None:
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


def _to_int(v: Any) -> int | None:
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


def _to_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return float(v)
    if not isinstance(v, int | float | str):
        return None
    try:
        number = float(v)
    except (ValueError, OverflowError):  # OverflowError: an integer past the float range
        return None
    return number if math.isfinite(number) else None


def _to_bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    if isinstance(v, str):
        return {"true": True, "false": False, "1": True, "0": False}.get(v.strip().lower())
    if isinstance(v, int | float):
        return None if isinstance(v, float) and math.isnan(v) else bool(v)
    return None


def _to_timestamp(v: Any) -> datetime | None:
    if isinstance(v, str) and v.strip():
        try:
            return parse_utc(v)
        except (ValueError, OverflowError):  # OverflowError: a date at the edge of the calendar with an offset
            return None
    return None


_CONVERT: dict[ColumnType, Callable[[Any], Any]] = {
    "string": _to_string,
    "int64": _to_int,
    "float64": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
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


NulledValues = Counter[str]
"""Column name -> how many source values could not be converted to the column's type and became null."""


class CompiledMapping:
    """A mapping bound to its canonical table, ready to convert records quickly."""

    def __init__(self, mapping: Mapping, canonical: CanonicalTable) -> None:
        self.mapping = mapping
        self.canonical = canonical
        types = canonical.column_types()
        self.columns = [c.name for c in canonical.columns]
        self._getters = {name: _getter(mapping.columns[name]) for name in self.columns if name in mapping.columns}
        self._convert = {name: _CONVERT[types[name]] for name in self.columns}
        self.schema = versions_schema(canonical)

    @property
    def business_columns(self) -> list[str]:
        return [c for c in self.columns if c not in METADATA_COLUMNS]

    def to_versions(
        self,
        records: Iterable[tuple[str, datetime, str]],
        *,
        tenant_id: str,
        run_id: str,
        loaded_at: datetime,
        nulled: NulledValues | None = None,
        extracted_at: Sequence[datetime | None] | None = None,
    ) -> pa.Table:
        """(source id, source updated-at, record JSON) rows -> a versions table for the SCD2 merge.

        `extracted_at`, one per record, says when each was read from the source (the raw file's
        envelope): of two versions with the same source stamp, the merge keeps the one read later.
        Values that cannot be converted become null and are counted in `nulled` by column. Raises
        RecordUnreadable for a record no decoder accepts."""
        data: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        counts = nulled if nulled is not None else NulledValues()
        for source_id, updated_at, record_json in records:
            record = decode_record(source_id, record_json)
            data["source_id"].append(source_id)
            for name in self.columns:
                get = self._getters.get(name)
                raw = get(record) if get is not None else None
                # "" is how ServiceNow (and many APIs) say "no value": null in every canonical type
                if raw is None or raw == "":
                    value = None
                else:
                    value = self._convert[name](raw)
                    if value is None and name != "last_updated":  # that one falls back to the envelope's stamp
                        counts[name] += 1
                data[name].append(value)
            if data["last_updated"][-1] is None:
                data["last_updated"][-1] = updated_at
        n = len(data["source_id"])
        data["tenant_id"] = [tenant_id] * n
        data["source_service"] = [self.mapping.source_service] * n
        data["source_table"] = [self.mapping.source_table] * n
        data["is_deleted"] = [False] * n
        data["run_id"] = [run_id] * n
        data["loaded_at"] = [loaded_at] * n
        data["extracted_at"] = list(extracted_at) if extracted_at is not None else [None] * n
        if len(data["extracted_at"]) != n:
            raise ValueError(f"{len(data['extracted_at'])} extraction stamps for {n} records")
        try:
            return pa.table(data, schema=self.schema)
        except UnicodeEncodeError:  # a lone surrogate (from a `\ud800` escape) is no UTF-8 text
            for name in self.columns:
                if self.schema.field(name).type == pa.string():
                    data[name] = [_utf8_or_none(v, name, counts) for v in data[name]]
            return pa.table(data, schema=self.schema)


def _utf8_or_none(value: str | None, column: str, counts: NulledValues) -> str | None:
    if value is None:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        counts[column] += 1
        return None
    return value


def versions_schema(canonical: CanonicalTable) -> pa.Schema:
    fields = [
        pa.field("tenant_id", pa.string()),
        pa.field("source_service", pa.string()),
        pa.field("source_table", pa.string()),
        pa.field("source_id", pa.string()),
    ]
    fields += [pa.field(c.name, ARROW_TYPES[c.type]) for c in canonical.columns]
    fields += [
        pa.field("is_deleted", pa.bool_()),
        pa.field("run_id", pa.string()),
        pa.field("loaded_at", pa.timestamp("us", tz="UTC")),
        pa.field("extracted_at", pa.timestamp("us", tz="UTC")),
    ]
    return pa.schema(fields)
