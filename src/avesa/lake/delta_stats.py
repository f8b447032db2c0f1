"""Delta file statistics: the bounds a data file's add action states, exactly as readers and
merges may prune with them (strings cut at a code point, timestamps rounded outward to
milliseconds, UTF-8 JSON), and which columns a file is worth dictionary-encoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from avesa.transform.scd2 import (
    EFFECTIVE_START,
    LAST_UPDATED,
    SOURCE_ID,
    SOURCE_SERVICE,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DICTIONARY_HINT = "avesa.dictionary_columns"
"""Schema metadata a read leaves on a table: the columns its file dictionary-encoded (written back so)."""
# Delta (file) and Parquet (row group) statistics are written for these columns only: the ones
# merges and typical readers filter on. Statistics on every wide string column cost a fifth of
# the time of writing a file.
STATS_COLUMNS = frozenset({"tenant_id", SOURCE_SERVICE, "source_table", SOURCE_ID, LAST_UPDATED, "is_deleted",
                           EFFECTIVE_START, "effective_end_date", "loaded_at", "run_id"})


_MILLI = 1000
STRING_STAT_CHARS = 64  # string bounds longer than this are truncated (at a code point)
_US_MIN = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_US_MAX = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)
_MS_MAX = _US_MAX // _MILLI


def _iso(micros: int, digits: int) -> str:
    dt = _EPOCH + timedelta(microseconds=micros)
    fraction = f"{dt.microsecond:06d}"[:digits]
    return f"{dt.year:04d}-{dt:%m-%dT%H:%M:%S}.{fraction}Z"


def _timestamp_bound(micros: int, upper: bool) -> str | None:
    """A timestamp bound as Delta writes it: ISO-8601 in UTC with a four-digit year and
    milliseconds, rounded outward (down for a minimum, up for a maximum) so that it still bounds
    the microsecond value. A maximum past 9999-12-31T23:59:59.999 cannot round up within the
    format and is written with its microseconds instead; a value outside years 1..9999 gets no
    bound at all (None)."""
    if not _US_MIN <= micros <= _US_MAX:
        return None
    ms = -(-micros // _MILLI) if upper else micros // _MILLI
    if ms > _MS_MAX:
        return _iso(micros, 6)
    return _iso(ms * _MILLI, 3)


def _string_bound(value: str, upper: bool) -> str:
    """A string bound of at most STRING_STAT_CHARS code points: a longer minimum is cut to that
    prefix (still <= the value); a longer maximum is cut and its last code point that can grow is
    incremented (so it is still >= every value with that prefix). Python strings are code points,
    so a cut never splits a character, and every bound is valid UTF-8 text."""
    if len(value) <= STRING_STAT_CHARS:
        return value
    prefix = value[:STRING_STAT_CHARS]
    if not upper:
        return prefix
    for i in range(len(prefix) - 1, -1, -1):
        point = ord(prefix[i]) + 1
        if point <= 0x10FFFF:
            if 0xD800 <= point <= 0xDFFF:  # surrogates are no characters: skip to the next one
                point = 0xE000
            return prefix[:i] + chr(point)
    return value  # the prefix is all U+10FFFF: no shorter upper bound exists, so the value itself


def _stat_value(scalar: pa.Scalar, t: pa.DataType, upper: bool) -> Any:
    if pa.types.is_timestamp(t):
        return _timestamp_bound(scalar.value, upper)
    if pa.types.is_string(t):
        return _string_bound(scalar.as_py(), upper)
    return scalar.as_py()


def file_stats(table: pa.Table) -> str:
    r"""Delta file statistics for STATS_COLUMNS: exact null counts, min/max of strings (cut to
    STRING_STAT_CHARS code points), integers, booleans and timestamps (rounded outward to
    milliseconds): see `_string_bound` and `_timestamp_bound`.

    Serialised with orjson: strings go out as UTF-8, never as ``\ud83d``-style surrogate
    escapes, which deltalake's reader decodes wrongly for some characters outside the Basic
    Multilingual Plane (U+20000 comes back as U+10000), so that files holding such a key were
    skipped by every filtered read and merge."""
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for name in table.column_names:
        if name not in STATS_COLUMNS:
            continue
        col = table.column(name)
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if pa.types.is_nested(t):
            continue
        nulls[name] = col.null_count
        if col.null_count == len(col):
            continue
        if not (pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t)
                or pa.types.is_timestamp(t)):
            continue
        values = col
        if pa.types.is_dictionary(col.type):  # min/max over the dictionary: safe (never tighter)
            values = pa.chunked_array([c.dictionary for c in col.chunks], t)
        mm = pc.min_max(values)
        lo, hi = mm["min"], mm["max"]
        if not lo.is_valid:
            continue
        low, high = _stat_value(lo, t, upper=False), _stat_value(hi, t, upper=True)
        if low is not None:
            mins[name] = low
        if high is not None:
            maxs[name] = high
    return orjson.dumps({"numRecords": table.num_rows, "minValues": mins, "maxValues": maxs,
                         "nullCount": nulls}).decode()


def dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth dictionary-encoding: those the file they were read from encoded so (a hint
    `read_data_file` leaves in the schema metadata), else dictionaries and columns with few distinct
    values in a sample. Dictionary-encoding a unique column is wasted work: the writer builds
    a dictionary, gives up and falls back to plain."""
    hint = (table.schema.metadata or {}).get(DICTIONARY_HINT.encode())
    if hint is not None:
        hinted = set(json.loads(hint))
        return [f.name for f in table.schema if f.name in hinted or pa.types.is_dictionary(f.type)]
    chosen = []
    sample = table.slice(0, 8192)
    for f in table.schema:
        t = f.type
        if pa.types.is_dictionary(t):
            chosen.append(f.name)
        elif pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_timestamp(t):
            n = sample.num_rows
            if n and pc.count_distinct(sample.column(f.name)).as_py() <= max(16, n // 4):
                chosen.append(f.name)
    return chosen




def trusted_string_bound(value: Any) -> bool:
    """Files written before statistics went out as UTF-8 carry surrogate escapes that deltalake
    decodes wrongly (U+20000 reads as U+10000): a string bound outside the Basic Multilingual
    Plane is not trusted to prune. Such keys are rare, so their files are simply read."""
    return not isinstance(value, str) or value.isascii() or all(ord(ch) < 0x10000 for ch in value)
