"""Turn raw source records into canonical versions using a catalog mapping.

A source path is compiled once into steps: `status.name` (keys), `types[0].name` (an index),
`communicationItems[communicationType=Email,defaultFlag=true].value` (the first list item whose
fields match); `!active` negates a flag. A list of paths means the first non-null wins. Values are converted to the
canonical column's type; a value that cannot be converted (a number past int64, `Infinity`, text that is no
date) becomes null rather than failing the whole table — the raw record keeps the original, and the
mapping counts the nulled values per column so the run can report them (`NulledValues`).

Only a record that cannot be decoded at all fails: `RecordUnreadable` names it.

The conversions are `avesa.transform.values`; `avesa.transform.row_compiler` compiles a mapping's paths and
conversions into one function per mapping, which is what makes a batch fast.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from avesa.catalog.models import CanonicalTable, ColumnType, Mapping
from avesa.transform.columnar_mapping import ColumnarMapping
from avesa.transform.row_compiler import compile_rows
from avesa.transform.values import RecordUnreadable, decode_record

__all__ = ["METADATA_COLUMNS", "CompiledMapping", "NulledValues", "RecordUnreadable", "compiled", "decode_record",
           "versions_schema"]

# Canonical columns that describe the change rather than the entity: never part of the record hash.
METADATA_COLUMNS = ("last_updated", "last_updated_by")

ARROW_TYPES: dict[ColumnType, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

NulledValues = Counter[str]
"""Column name -> how many source values could not be converted to the column's type and became null."""


class CompiledMapping:
    """A mapping bound to its canonical table, ready to convert records quickly."""

    def __init__(self, mapping: Mapping, canonical: CanonicalTable) -> None:
        self.mapping = mapping
        self.canonical = canonical
        types = canonical.column_types()
        self.columns = [c.name for c in canonical.columns]
        # mapped columns, and last_updated even unmapped (it falls back to the envelope's stamp)
        self._computed = [name for name in self.columns if name in mapping.columns or name == "last_updated"]
        sources = {name: [s] if isinstance(s, str) else list(s) for name, s in mapping.columns.items()}
        self.column_sources: list[tuple[str, ColumnType, list[str]]] = [
            (name, types[name], sources.get(name, [])) for name in self._computed]
        """(canonical column, its type, its source paths) of every computed column, in output order."""
        self._rows = compile_rows(self.column_sources, f"{mapping.source_service}/{mapping.source_table}")
        self.schema = versions_schema(canonical)
        self._columnar: ColumnarMapping | None = None

    @property
    def columnar(self) -> ColumnarMapping:
        """This mapping as one DuckDB query per batch (`avesa.transform.columnar_mapping`): what a
        canonical build runs; `to_versions` below is its exact fallback for unusual values."""
        if self._columnar is None:
            self._columnar = ColumnarMapping(self)
        return self._columnar

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
        counts = nulled if nulled is not None else NulledValues()
        source_ids, computed = self._rows(records, counts)
        n = len(source_ids)
        data: dict[str, list[Any]] = {name: [None] * n for name in self.columns}
        data.update(zip(self._computed, computed, strict=True))
        data["source_id"] = source_ids
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


_COMPILED: dict[tuple[str, str], CompiledMapping] = {}
_COMPILED_MAX = 512


def compiled(mapping: Mapping, canonical: CanonicalTable) -> CompiledMapping:
    """`CompiledMapping(mapping, canonical)`, compiled once per process for the same two definitions:
    compiling a mapping's row function costs tens of milliseconds, and every table of every run
    (and every build in a worker process) needs one. Keyed by their content, so an edited catalog
    compiles anew."""
    key = (mapping.model_dump_json(), canonical.model_dump_json())
    found = _COMPILED.get(key)
    if found is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        found = _COMPILED[key] = CompiledMapping(mapping, canonical)
    return found


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
