"""The per-record mapping exactly as it was before the compiled fast path (commit ff8ff6a), frozen here
as the oracle of tests/transform/test_mapping_fast_path.py and the baseline of benchmarks/mapping.py.

It is a copy, not an import, on purpose: the fast path in `avesa.transform.mapping` reuses some of
these helpers, and a change to them there must show up as a difference from this file."""

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

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]|\[([^\]]+)\]")

Step = Callable[[Any], Any]


class ReferenceUnreadable(ValueError):
    """The reference's RecordUnreadable (the tests compare messages, not classes)."""


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
    except orjson.JSONEncodeError:
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
            return _int64(int(v))
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
    except (ValueError, OverflowError):
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
        except (ValueError, OverflowError):
            return None
    return None


_CONVERT: dict[ColumnType, Callable[[Any], Any]] = {
    "string": _to_string,
    "int64": _to_int,
    "float64": _to_float,
    "bool": _to_bool,
    "timestamp": _to_timestamp,
}


def decode_record(source_id: str, record_json: str) -> Any:
    try:
        return orjson.loads(record_json)
    except orjson.JSONDecodeError as fast_error:
        try:
            return json.loads(record_json)
        except (ValueError, RecursionError):
            raise ReferenceUnreadable(f"record {source_id} is not JSON AVESA can read ({fast_error})") from None
    except RecursionError:
        raise ReferenceUnreadable(f"record {source_id} is nested too deeply to read") from None


ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


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


class ReferenceMapping:
    """The old `CompiledMapping`: one getter closure per column, one converter call per value."""

    def __init__(self, mapping: Mapping, canonical: CanonicalTable) -> None:
        self.mapping = mapping
        self.canonical = canonical
        types = canonical.column_types()
        self.columns = [c.name for c in canonical.columns]
        self._getters = {name: _getter(mapping.columns[name]) for name in self.columns if name in mapping.columns}
        self._convert = {name: _CONVERT[types[name]] for name in self.columns}
        self.schema = versions_schema(canonical)

    def to_versions(
        self,
        records: Iterable[tuple[str, datetime, str]],
        *,
        tenant_id: str,
        run_id: str,
        loaded_at: datetime,
        nulled: Counter | None = None,
        extracted_at: Sequence[datetime | None] | None = None,
    ) -> pa.Table:
        data: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        counts = nulled if nulled is not None else Counter()
        for source_id, updated_at, record_json in records:
            record = decode_record(source_id, record_json)
            data["source_id"].append(source_id)
            for name in self.columns:
                get = self._getters.get(name)
                raw = get(record) if get is not None else None
                if raw is None or raw == "":
                    value = None
                else:
                    value = self._convert[name](raw)
                    if value is None and name != "last_updated":
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
        except UnicodeEncodeError:
            for name in self.columns:
                if self.schema.field(name).type == pa.string():
                    data[name] = [_utf8_or_none(v, name, counts) for v in data[name]]
            return pa.table(data, schema=self.schema)


def _utf8_or_none(value: str | None, column: str, counts: Counter) -> str | None:
    if value is None:
        return None
    try:
        value.encode()
    except UnicodeEncodeError:
        counts[column] += 1
        return None
    return value
