"""Canonical Delta tables: the SCD2 merge and reads. The only module that talks to deltalake.

Where the merge lives: the timeline rules are pure functions in :mod:`avesa.transform.scd2`
(pyarrow in -> pyarrow out, no I/O). This module is the orchestration around them: it finds the
stored rows a batch affects, hands them with the batch to ``compute_changes``, and commits the
rows it says to remove and insert as one Delta transaction. ``lake`` imports ``transform``
(and ``domain``); ``transform`` imports neither ``lake`` nor deltalake.

Public API: :func:`merge_scd2` (-> :class:`MergeResult`), :func:`read_canonical`,
:func:`canonical_dataset`, :func:`optimize_history`; errors :class:`MergeConflictError` (a TransientError) and
``InvalidVersionsError`` (from the scd2 module; a BadDataError and a ValueError).

Layout
------
- Partitioned by ``is_current``. ``is_current=true`` holds exactly one row per key; that is the
  partition merges read and rewrite. ``is_current=false`` (history) mostly *receives* rows — a
  closed row is appended to it — and is rewritten only where a late version re-cuts a key's
  past. BI queries for current state prune to one partition.
- No global sort or bucketing. A merge rewrites exactly the current files holding a row that
  changed, keeps every other file, and writes the new current rows of the batch's keys, in key
  order, to a new file. Files therefore group keys by when they last changed, which is what SaaS
  change streams reward (this week's open tickets change again; a company untouched for a year
  rarely does): the benchmark's "hot keys" merge rewrites no unchanged row. File min/max
  ``source_id`` statistics (and row-group statistics inside files) let a batch skip the files
  and row groups whose key range it misses — an initial load is written in key order, so its
  files have disjoint ranges. Files below a quarter of the target size are coalesced as they
  pile up (in both partitions); :func:`optimize_history` z-orders history by key on demand.
- Copy-on-write is inherent to Delta without deletion vectors (deltalake cannot write them): if
  a batch's keys are spread uniformly over the key space, every current file holds one of them
  and is rewritten: ~1.3 s per million current rows on this 2-core machine (2.3 s of CPU). The
  benchmark measures that worst case as its headline.
- Files are written with pyarrow directly (not through deltalake's writer) and committed as
  add/remove actions with exact Delta statistics for the columns readers and merges filter on
  (STATS_COLUMNS), as UTF-8 JSON: strings cut at a code point, timestamps rounded outward to
  milliseconds with four-digit years (1..9999). Reads (:func:`canonical_dataset`) prune with
  exactly the bounds the add actions state, never a bound they lack. Current files: snappy (rewritten
  often: cheap CPU); history files: zstd (written once: fewer bytes). Strings the source file
  dictionary-encodes are read and written back as dictionaries.

Merge, step by step (every read pinned to one table version)
------------------------------------------------------------
1. Read ``source_service, source_id, effective_start_date`` of the current files the batch's ids
   can be in (file and row-group statistics skip the others) to find each key's current row.
2. A key is *late* when one of its new versions is older than its current row. Only late keys
   need their history, read with the ids pushed down. Every other key needs its current row
   alone (see the scd2 module docstring). A version exactly as old as the current row but with
   another hash also needs the history; step 3 spots it once it has read the current row.
3. Per current file holding batch keys, in parallel: read it, run ``compute_changes`` for its
   keys, and if it loses rows, write it again without them.
4. Keys with no current row are new: their rows come from the batch alone.
5. Rewrite the history files that lost rows (late keys only); write the inserted rows; commit
   removes + adds in one transaction. Memory: one data file per worker, the batch and the
   affected keys' rows — never the table.

Concurrency: the commit refuses to land on top of any other commit (``max_commit_retries=0``),
so a merge is serializable against every other writer; a ``CommitFailedError`` re-runs the whole
merge on the new snapshot (bounded by ``max_attempts``, jittered backoff) after deleting the
files the failed attempt wrote. A batch that changes nothing commits nothing. On S3 the storage
options must give deltalake a safe commit (conditional put or a lock), as for any Delta writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, TableNotFoundError
from deltalake.schema import Field as DeltaField
from deltalake.transaction import AddAction, CommitProperties, RemoveAction

from avesa.domain.errors import TransientError
from avesa.lake.object_store import s3_filesystem
from avesa.lake.object_store import storage_options as lake_storage_options
from avesa.transform.scd2 import (
    DEFAULT_LOAD_COLUMNS,
    EFFECTIVE_START,
    IS_CURRENT,
    LAST_UPDATED,
    RECORD_HASH,
    SOURCE_ID,
    SOURCE_SERVICE,
    InvalidVersionsError,
    Scd2Stats,
    composite_key,
    compute_changes,
    conform,
    normalize_versions,
    observation_schema,
    output_schema,
)

PARTITION_COLUMN = IS_CURRENT
DEFAULT_TARGET_FILE_ROWS = 131_072
DEFAULT_MAX_ATTEMPTS = 6
MAX_SMALL_FILES = 8  # per partition: coalesce files under target/4 rows once there are more
# The current partition is rewritten by merges: snappy halves the CPU of zstd there. History is
# written once and kept for years: zstd, half the bytes.
COMPRESSION = {True: "snappy", False: "zstd"}
_FALSE = pa.scalar(False, pa.bool_())  # typed scalars: untyped ones cost a failed numpy import
_AT = pa.scalar("@", pa.string())
_EMPTY = pa.scalar("", pa.string())
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DICTIONARY_HINT = "avesa.dictionary_columns"
_KEY_SCAN_COLUMNS = (SOURCE_SERVICE, SOURCE_ID, EFFECTIVE_START)
# Delta (file) and Parquet (row group) statistics are written for these columns only: the ones
# merges and typical readers filter on. Statistics on every wide string column cost a fifth of
# the time of writing a file.
STATS_COLUMNS = frozenset({"tenant_id", SOURCE_SERVICE, "source_table", SOURCE_ID, LAST_UPDATED, "is_deleted",
                           EFFECTIVE_START, "effective_end_date", "loaded_at", "run_id"})


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_scd2` did. ``stats`` are the SCD2 counts a run summary prints."""

    stats: Scd2Stats
    table_version: int | None  # the Delta version committed; None when nothing changed
    attempts: int  # 1 unless concurrent writers forced a retry
    files_added: int = 0
    files_removed: int = 0
    rows_copied: int = 0  # unchanged rows rewritten because their file held a changed row
    seconds: float = 0.0


class MergeConflictError(TransientError):
    """Concurrent writers kept committing first; the whole merge may simply be run again."""


# ----------------------------------------------------------------------------------- storage


@dataclass(frozen=True)
class _Storage:
    """A pyarrow filesystem rooted at the table, for reading and writing data files directly."""

    fs: pafs.FileSystem
    root: str
    local: bool

    def path(self, relative: str) -> str:
        relative = unquote(relative)
        return f"{self.root}/{relative}" if self.root else relative


def _storage_for(uri: str, storage_options: dict[str, str] | None) -> _Storage:
    options = storage_options or {}
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file") or (len(parsed.scheme) == 1 and os.name == "nt"):
        root = parsed.path if parsed.scheme == "file" else uri
        return _Storage(pafs.LocalFileSystem(), str(Path(root).absolute()).rstrip("/"), True)
    if parsed.scheme in ("s3", "s3a"):
        root = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        return _Storage(s3_filesystem(options), root, False)
    from deltalake.fs import DeltaStorageHandler  # any other object store deltalake can reach

    return _Storage(pafs.PyFileSystem(DeltaStorageHandler(uri, options)), "", False)


# ------------------------------------------------------------------------------- file actions


@dataclass
class _File:
    path: str
    current: bool
    size: int
    num_records: int | None
    min_id: str | None
    max_id: str | None

    @property
    def partition_values(self) -> dict[str, str | None]:
        return {PARTITION_COLUMN: "true" if self.current else "false"}


def _files(dt: DeltaTable) -> list[_File]:
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return []
    cols = actions.column_names

    def col(name: str) -> list[Any]:
        return actions.column(name).to_pylist() if name in cols else [None] * actions.num_rows

    part = col(f"partition.{PARTITION_COLUMN}")
    return [
        _File(p, bool(c), s, n, lo if _trusted_string_bound(lo) else None, hi if _trusted_string_bound(hi) else None)
        for p, c, s, n, lo, hi in zip(col("path"), part, col("size_bytes"), col("num_records"),
                                      col(f"min.{SOURCE_ID}"), col(f"max.{SOURCE_ID}"), strict=True)
    ]


def _may_hold(f: _File, sorted_ids: list[str]) -> bool:
    """Delta stats say the file may hold one of `sorted_ids`."""
    if f.min_id is None or f.max_id is None:
        return True
    i = bisect_left(sorted_ids, f.min_id)
    return i < len(sorted_ids) and sorted_ids[i] <= f.max_id


def _row_groups(md: pq.FileMetaData, sorted_ids: list[str] | None) -> list[int]:
    """Row groups whose source_id statistics may hold one of `sorted_ids` (all if None)."""
    groups = list(range(md.num_row_groups))
    if sorted_ids is None or not groups:
        return groups
    names = [md.schema.column(i).path for i in range(md.num_columns)]
    if SOURCE_ID not in names:
        return groups
    idx = names.index(SOURCE_ID)
    kept = []
    for g in groups:
        st = md.row_group(g).column(idx).statistics
        if st is None or not st.has_min_max:
            kept.append(g)
            continue
        lo, hi = st.min, st.max
        lo = lo.decode() if isinstance(lo, bytes) else lo
        hi = hi.decode() if isinstance(hi, bytes) else hi
        i = bisect_left(sorted_ids, lo)
        if i < len(sorted_ids) and sorted_ids[i] <= hi:
            kept.append(g)
    return kept


def _read(storage: _Storage, f: _File, schema: pa.Schema, columns: Sequence[str] | None = None,
          sorted_ids: list[str] | None = None) -> pa.Table:
    """A data file as `schema` (or its `columns`), partition column restored.

    With `sorted_ids`, only row groups whose statistics may hold one of them are read, and only
    rows with one of those ids are returned. String columns the file dictionary-encodes are read
    as dictionaries: far cheaper to decode, and written back as they are.
    """
    names = list(columns or schema.names)
    with storage.fs.open_input_file(storage.path(f.path)) as handle:
        md = pq.read_metadata(handle)
        present = set(md.schema.to_arrow_schema().names)
        wanted = [c for c in names if c != PARTITION_COLUMN and c in present]
        dict_cols = []  # read as dictionaries: strings the file dictionary-encodes
        encoded = []  # any column the file dictionary-encodes: written back the same way
        if md.num_row_groups:
            rg = md.row_group(0)
            for i in range(rg.num_columns):
                c = rg.column(i)
                name = c.path_in_schema
                if name in wanted and c.has_dictionary_page:
                    encoded.append(name)
                    if pa.types.is_string(schema.field(name).type):
                        dict_cols.append(name)
        groups = _row_groups(md, sorted_ids)
        if groups:
            pf = pq.ParquetFile(handle, metadata=md, read_dictionary=dict_cols, pre_buffer=not storage.local)
            table = pf.read_row_groups(groups, columns=wanted, use_threads=False)
        else:
            table = pa.schema([schema.field(c) for c in wanted]).empty_table()
    if sorted_ids is not None:
        ids = table.column(SOURCE_ID)
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(pa.string())
        table = table.filter(pc.is_in(ids, value_set=pa.array(sorted_ids, pa.string())))
    out = []
    for name in names:
        t = schema.field(name).type
        if name == PARTITION_COLUMN:
            out.append(pa.repeat(pa.scalar(f.current, pa.bool_()), table.num_rows))
        elif name in table.column_names:
            c = table.column(name)
            if c.type != t and not (pa.types.is_dictionary(c.type) and c.type.value_type == t):
                c = c.cast(t)
            out.append(c)
        else:
            out.append(pa.nulls(table.num_rows, t))
    metadata = {_DICTIONARY_HINT: json.dumps(encoded)}
    return pa.Table.from_arrays(out, names=names).replace_schema_metadata(metadata)


def _decoded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return conform(table, schema)


# ---------------------------------------------------------------------------------- writing


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


def _stats(table: pa.Table) -> str:
    """Delta file statistics for STATS_COLUMNS: exact null counts, min/max of strings (cut to
    STRING_STAT_CHARS code points), integers, booleans and timestamps (rounded outward to
    milliseconds): see `_string_bound` and `_timestamp_bound`.

    Serialised with orjson: strings go out as UTF-8, never as ``\\ud83d``-style surrogate
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


def _dictionary_columns(table: pa.Table) -> list[str]:
    """Columns worth dictionary-encoding: those the file they were read from encoded so (a hint
    `_read` leaves in the schema metadata), else dictionaries and columns with few distinct
    values in a sample. Dictionary-encoding a unique column is wasted work: the writer builds
    a dictionary, gives up and falls back to plain."""
    hint = (table.schema.metadata or {}).get(_DICTIONARY_HINT.encode())
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


@dataclass
class _Writer:
    storage: _Storage
    written: list[str] = field(default_factory=list)

    def write(self, table: pa.Table, current: bool) -> AddAction:
        data = table.drop_columns([PARTITION_COLUMN]) if PARTITION_COLUMN in table.column_names else table
        partition = "true" if current else "false"
        codec = COMPRESSION[current]
        relative = f"{PARTITION_COLUMN}={partition}/part-{uuid.uuid4().hex}.{codec}.parquet"
        full = self.storage.path(relative)
        if self.storage.local:
            os.makedirs(os.path.dirname(full), exist_ok=True)
        self.written.append(full)
        with self.storage.fs.open_output_stream(full) as sink:
            pq.write_table(data, sink, compression=codec,
                           use_dictionary=_dictionary_columns(data), store_schema=False,
                           write_statistics=[c for c in data.column_names if c in STATS_COLUMNS],
                           write_page_index=False, row_group_size=1 << 20)
            size = sink.tell()
        return AddAction(relative, size, {PARTITION_COLUMN: partition}, int(time.time() * 1000), True,
                         _stats(data))

    def write_chunked(self, table: pa.Table, current: bool, target_rows: int, workers: int = 1) -> list[AddAction]:
        slices = [table.slice(i, target_rows) for i in range(0, table.num_rows, target_rows)]
        if len(slices) < 2 or workers < 2:
            return [self.write(t, current) for t in slices]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda t: self.write(t, current), slices))

    def discard(self) -> None:
        for path in self.written:
            with contextlib.suppress(OSError):
                self.storage.fs.delete_file(path)
        self.written.clear()


class _Coalescer:
    """Collects small tables for one partition and writes them as files of ~target rows, as soon
    as there are enough: memory stays bounded whatever the merge rewrites. Thread-safe."""

    def __init__(self, writer: _Writer, current: bool, target_rows: int) -> None:
        self.writer, self.current, self.target_rows = writer, current, target_rows
        self.parts: list[pa.Table] = []
        self.rows = 0
        self.adds: list[AddAction] = []
        self._lock = threading.Lock()

    def add(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        with self._lock:
            self.parts.append(table)
            self.rows += table.num_rows
            if self.rows < self.target_rows:
                return
            parts, self.parts, self.rows = self.parts, [], 0
        self._write(parts)

    def flush(self, workers: int = 1) -> list[AddAction]:
        parts, self.parts, self.rows = self.parts, [], 0
        if parts:
            self._write(parts, workers)
        return self.adds

    def _write(self, parts: list[pa.Table], workers: int = 1) -> None:
        out = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        adds = self.writer.write_chunked(out, self.current, self.target_rows, workers)
        with self._lock:
            self.adds += adds


def _remove(f: _File) -> RemoveAction:
    return RemoveAction(f.path, True, int(time.time() * 1000), f.size, f.partition_values)


# ------------------------------------------------------------------------------------ schema


def _open_or_create(uri: str, schema: pa.Schema, storage_options: dict[str, str] | None) -> DeltaTable:
    try:
        return DeltaTable(uri, storage_options=storage_options)
    except TableNotFoundError:
        pass
    try:
        return DeltaTable.create(uri, schema=schema, partition_by=[PARTITION_COLUMN], mode="error",
                                 storage_options=storage_options)
    except Exception as exc:  # most likely another writer created it first
        try:
            return DeltaTable(uri, storage_options=storage_options)
        except TableNotFoundError:
            raise exc from None


def _table_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def _evolve(dt: DeltaTable, wanted: pa.Schema) -> pa.Schema:
    """Add the batch's new columns to the table (nullable); fail on a changed column type."""
    schema = _table_schema(dt)
    new = [f for f in wanted if f.name not in schema.names]
    clashes = [
        f"{f.name}: table {schema.field(f.name).type}, batch {f.type}"
        for f in wanted
        if f.name in schema.names and schema.field(f.name).type != f.type
    ]
    if clashes:
        raise InvalidVersionsError(f"versions do not match the canonical table's column types: {clashes}")
    if new:
        dt.alter.add_columns([DeltaField.from_arrow(pa.field(f.name, f.type, nullable=True)) for f in new])
        dt.update_incremental()
        schema = _table_schema(dt)
    return schema


# ----------------------------------------------------------------------------------- merging


def _arange(n: int) -> pa.Array:
    """0, 1, …, n-1 as int64, built in C (a Python range costs ~20 ms per 100k)."""
    ones = pa.repeat(pa.scalar(1, pa.int64()), n)
    return pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, pa.int64()))


def _identity(table: pa.Table) -> pa.Array:
    """One string per row for (key, effective_start_date), the identity of a stored row."""
    start = pc.cast(pc.cast(table.column(EFFECTIVE_START).combine_chunks(), pa.int64()), pa.string())
    return pc.binary_join_element_wise(composite_key(table), _AT, start, _EMPTY)


@dataclass
class _GroupResult:
    stats: Scd2Stats
    inserted: pa.Table
    removed_history: pa.Array  # identities of removed history rows
    adds: list[AddAction]
    removes: list[_File]
    rows_copied: int


class _Merge:
    def __init__(self, uri: str, storage_options: dict[str, str] | None, versions: pa.Table,
                 business: Sequence[str], load_columns: Sequence[str], target_rows: int, workers: int) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.storage = _storage_for(uri, storage_options)
        self.versions = versions
        self.business = list(business)
        self.load_columns = list(load_columns)
        self.target_rows = target_rows
        self.workers = workers
        self.writer = _Writer(self.storage)

    # -- one attempt -----------------------------------------------------------------------
    def run(self, before_commit: Callable[[], None] | None) -> MergeResult:
        self.coalescers = {c: _Coalescer(self.writer, c, self.target_rows) for c in (True, False)}
        self.history_file_of: dict[str, _File] = {}  # identity of a history row read -> its file
        wanted = output_schema(self.versions.schema)
        dt = _open_or_create(self.uri, wanted, self.storage_options)
        schema = _evolve(dt, wanted)
        read_version = dt.version()
        batch = conform(self.versions, observation_schema(schema))
        batch_keys = composite_key(batch)
        files = _files(dt)
        current_files = [f for f in files if f.current]
        history_files = [f for f in files if not f.current]
        self.batch_ids = pc.unique(batch.column(SOURCE_ID).combine_chunks())
        # sorted, for bisecting file and row-group statistics (UTF-8 order = code point order)
        batch_ids = self.batch_ids.take(pc.sort_indices(self.batch_ids)).to_pylist() if files else []
        key_set = pc.unique(batch_keys)

        # 1. where is each batch key's current row?
        candidates = [f for f in current_files if _may_hold(f, batch_ids)]

        def scan(f: _File) -> pa.Table:
            t = _read(self.storage, f, schema, _KEY_SCAN_COLUMNS, sorted_ids=batch_ids)
            t = _decoded(t, pa.schema([schema.field(c) for c in _KEY_SCAN_COLUMNS]))
            return t.filter(pc.is_in(composite_key(t), value_set=key_set))

        with ThreadPoolExecutor(self.workers) as pool:
            scans = list(pool.map(scan, candidates))
        hits = [(f, s) for f, s in zip(candidates, scans, strict=True) if s.num_rows]
        groups = _group_files(hits)
        found = pa.concat_tables([s for _, s in hits]) if hits else None

        # 2. late keys need their history (those with a version as old as the current row but
        #    another hash are only found once the current row is read: see _group)
        history = None
        if found is not None and found.num_rows:
            late = _late_keys(batch, batch_keys, found)
            if len(late):
                history = self._history(history_files, schema, late)
        self._history_files = history_files

        # 3. current files holding batch keys
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda g: self._group(g, schema, batch, batch_keys, history), groups))

        # 4. keys never stored
        known = pc.unique(composite_key(found)) if found is not None else pa.array([], pa.string())
        new_mask = pc.invert(pc.is_in(batch_keys, value_set=known))
        if pc.any(new_mask).as_py():
            change = compute_changes(None, batch.filter(new_mask), self.business, load_columns=self.load_columns)
            results.append(_GroupResult(change.stats, conform(change.inserted, schema), pa.array([], pa.string()),
                                        [], [], 0))

        stats = sum((r.stats for r in results), Scd2Stats())
        adds = [a for r in results for a in r.adds]
        removes = [f for r in results for f in r.removes]
        rows_copied = sum(r.rows_copied for r in results)
        inserted = [r.inserted for r in results if r.inserted.num_rows]

        # 5. history files losing rows, then the new rows
        removed_history = pa.concat_arrays([r.removed_history.cast(pa.string()) for r in results]) \
            if results else pa.array([], pa.string())
        if len(removed_history):
            h_adds, h_removes, copied = self._rewrite_history(schema, removed_history)
            adds += h_adds
            removes += h_removes
            rows_copied += copied
        rows = pa.concat_tables(inserted) if inserted else schema.empty_table()
        if len(inserted) > 1:  # keep files in key order: tighter min/max statistics
            rows = rows.sort_by([(SOURCE_SERVICE, "ascending"), (SOURCE_ID, "ascending"),
                                 (EFFECTIVE_START, "ascending")])
        cur_mask = pc.fill_null(rows.column(IS_CURRENT), _FALSE)
        rewritten = {f.path for f in removes}
        for current, new_rows in ((True, rows.filter(cur_mask)), (False, rows.filter(pc.invert(cur_mask)))):
            coalescer = self.coalescers[current]
            partition = [f for f in (current_files if current else history_files) if f.path not in rewritten]
            small_files = [f for f in partition if (f.num_records or 0) < self.target_rows // 4]
            writing = new_rows.num_rows or coalescer.rows
            if writing and len(small_files) + 1 > MAX_SMALL_FILES:  # coalesce small files as they pile up
                for f in small_files:
                    piece = _decoded(_read(self.storage, f, schema), schema)
                    coalescer.add(piece)
                    removes.append(f)
                    rows_copied += piece.num_rows
            coalescer.add(new_rows)
            adds += coalescer.flush(self.workers)  # also the files it wrote while workers fed it

        if not adds and not removes:
            return MergeResult(stats, None, 1, rows_copied=rows_copied)
        if before_commit is not None:
            before_commit()
        meta = {"avesa.operation": "scd2_merge", "avesa.read_version": read_version,
                "avesa.stats": stats.as_dict()}
        dt.create_write_transaction(
            [*adds, *(_remove(f) for f in removes)], "append", schema, partition_by=[PARTITION_COLUMN],
            commit_properties=CommitProperties(custom_metadata=meta, max_commit_retries=0),
        )
        # max_commit_retries=0: the commit landed exactly on top of the version we read
        return MergeResult(stats, read_version + 1, 1, len(adds), len(removes), rows_copied)

    # -- pieces ----------------------------------------------------------------------------
    def _hits(self, t: pa.Table, batch_keys: pa.Array) -> pa.Array:
        """Row numbers of `t` holding a batch key (ids first: cheaper than building every key)."""
        ids = t.column(SOURCE_ID)
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(pa.string())
        candidates = pc.indices_nonzero(pc.is_in(ids, value_set=self.batch_ids))
        keys = composite_key(t.select([SOURCE_SERVICE, SOURCE_ID]).take(candidates))
        return candidates.filter(pc.is_in(keys, value_set=batch_keys))

    def _history(self, files: list[_File], schema: pa.Schema, late_keys: pa.Array) -> pa.Table:
        """Every history row of the late keys (ids pushed down to row groups); remembers which
        file holds each, for rewriting the files that lose rows."""
        ids = sorted(set(pc.unique(_ids_of(late_keys)).to_pylist()))
        candidates = [f for f in files if _may_hold(f, ids)]

        def read(f: _File) -> pa.Table:
            t = _decoded(_read(self.storage, f, schema, sorted_ids=ids), schema)
            t = t.filter(pc.is_in(composite_key(t), value_set=late_keys))
            for identity in _identity(t).to_pylist():
                self.history_file_of[identity] = f
            return t

        with ThreadPoolExecutor(self.workers) as pool:
            parts = list(pool.map(read, candidates))
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def _group(self, files: list[_File], schema: pa.Schema, batch: pa.Table, batch_keys: pa.Array,
               history: pa.Table | None) -> _GroupResult:
        tables = [_read(self.storage, f, schema) for f in files]
        hit_rows = [self._hits(t, batch_keys) for t in tables]
        existing_parts = [_decoded(t.take(rows), schema) for t, rows in zip(tables, hit_rows, strict=True)]
        existing = pa.concat_tables(existing_parts)
        group_keys = pc.unique(composite_key(existing))
        versions = batch.filter(pc.is_in(batch_keys, value_set=group_keys))
        stored = existing
        if history is not None and history.num_rows:
            mine = history.filter(pc.is_in(composite_key(history), value_set=group_keys))
            if mine.num_rows:
                stored = pa.concat_tables([existing, mine])
        contested = _late_keys(versions, composite_key(versions), existing, contested=True)
        if len(contested):  # rare: read the history step 2 could not know was needed
            more = self._history(self._history_files, schema, contested)
            more = more.filter(pc.invert(pc.is_in(_identity(more), value_set=_identity(stored))))
            if more.num_rows:
                stored = pa.concat_tables([stored, more])
        change = compute_changes(stored, versions, self.business, load_columns=self.load_columns)
        removed = stored.filter(change.removed)
        removed_current = pc.fill_null(removed.column(IS_CURRENT).combine_chunks(), _FALSE)
        removed_cur_ids = _identity(removed.filter(removed_current))
        removed_hist_ids = _identity(removed.filter(pc.invert(removed_current)))
        adds: list[AddAction] = []
        removes: list[_File] = []
        copied = 0
        if len(removed_cur_ids):
            for f, t, rows, part in zip(files, tables, hit_rows, existing_parts, strict=True):
                gone_rows = rows.filter(pc.is_in(_identity(part), value_set=removed_cur_ids))
                if not len(gone_rows):
                    continue
                removes.append(f)
                keep = pc.invert(pc.is_in(_arange(t.num_rows), value_set=gone_rows.cast(pa.int64())))
                survivors = t.filter(keep)
                copied += survivors.num_rows
                if survivors.num_rows >= self.target_rows // 2:
                    adds.append(self.writer.write(survivors, True))
                else:  # small: joins others into a file of normal size
                    self.coalescers[True].add(_decoded(survivors, schema))
        return _GroupResult(change.stats, conform(change.inserted, schema), removed_hist_ids, adds, removes, copied)

    def _rewrite_history(self, schema: pa.Schema, removed: pa.Array) -> tuple[list[AddAction], list[_File], int]:
        """Rewrite the history files holding `removed` rows (identities) without them."""
        files = {id(f): f for f in (self.history_file_of[i] for i in removed.to_pylist())}.values()

        def rewrite(f: _File) -> tuple[list[AddAction], int]:
            t = _read(self.storage, f, schema)
            survivors = t.filter(pc.invert(pc.is_in(_identity(t), value_set=removed)))
            return ([self.writer.write(survivors, False)] if survivors.num_rows else []), survivors.num_rows

        with ThreadPoolExecutor(self.workers) as pool:
            done = list(pool.map(rewrite, files))
        return [a for adds, _ in done for a in adds], list(files), sum(n for _, n in done)


def _ids_of(keys: pa.Array) -> pa.Array:
    """source_id part of composite keys ("<len>:<service><id>")."""
    out = []
    for k in keys.to_pylist():
        n, rest = k.split(":", 1)
        out.append(rest[int(n):])
    return pa.array(out, pa.string())


def _late_keys(batch: pa.Table, batch_keys: pa.Array, current: pa.Table, *, contested: bool = False) -> pa.Array:
    """Batch keys with a version older than their stored current row — or, with `contested`
    (`current` must then hold record_hash), instead those with a version exactly as old as it
    but another hash. Either way the row before the current one may change, so the key's
    history must be read."""
    left = pa.table({"k": batch_keys, "ts": batch.column(LAST_UPDATED), "h": batch.column(RECORD_HASH)})
    right = {"k": composite_key(current), "cur_ts": current.column(EFFECTIVE_START)}
    if contested:
        right["cur_h"] = current.column(RECORD_HASH)
    j = left.join(pa.table(right), keys="k", join_type="inner")
    if j.num_rows == 0:
        return pa.array([], pa.string())
    if contested:
        same_ts = pc.equal(j.column("ts"), j.column("cur_ts"))
        late = pc.and_(same_ts, pc.not_equal(j.column("h"), j.column("cur_h")))
    else:
        late = pc.less(j.column("ts"), j.column("cur_ts"))
    return pc.unique(j.filter(late).column("k").combine_chunks())


def _group_files(hits: list[tuple[_File, pa.Table]]) -> list[list[_File]]:
    """One group per file, except that files sharing a key (a broken invariant) go together."""
    owner: dict[str, int] = {}
    parent = list(range(len(hits)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (_, scan) in enumerate(hits):
        for k in composite_key(scan).to_pylist():
            if k in owner:
                parent[root(i)] = root(owner[k])
            else:
                owner[k] = i
    groups: dict[int, list[_File]] = {}
    for i, (f, _) in enumerate(hits):
        groups.setdefault(root(i), []).append(f)
    return list(groups.values())


# ------------------------------------------------------------------------------------ public


def merge_scd2(
    uri: str | Path,
    versions: pa.Table,
    business_columns: Sequence[str],
    *,
    storage_options: dict[str, str] | None = None,
    load_columns: Sequence[str] = DEFAULT_LOAD_COLUMNS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    target_file_rows: int = DEFAULT_TARGET_FILE_ROWS,
    max_workers: int | None = None,
    before_commit: Callable[[], None] | None = None,
) -> MergeResult:
    """Merge one tenant's versions of one canonical table into the Delta table at `uri`.

    `uri` is a local path or ``s3://bucket/prefix/...`` (``storage_options`` as deltalake takes
    them: ``AWS_ACCESS_KEY_ID``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``…); the
    table is created on first use. `versions` follows the input contract in avesa.transform.scd2
    and is validated before anything is read or written (InvalidVersionsError). `load_columns`
    are the columns that only say when/how a version was loaded (rule 4 of the scd2 module); an
    ``extracted_at`` column, when the versions carry one, decides between versions of a key with
    the same ``last_updated``: the one read from the source later wins.

    Returns a :class:`MergeResult`: the SCD2 stats, the Delta version committed (None if the batch
    changed nothing), attempts, files added/removed, unchanged rows copied, seconds.

    Concurrent writers: a commit conflict re-runs the merge on the new snapshot, at most
    `max_attempts` times in all, then MergeConflictError (a TransientError) is raised.
    `before_commit` is a test seam, called just before each commit.
    """
    started = time.perf_counter()
    normalized = normalize_versions(versions, business_columns)
    workers = max_workers or min(4, os.cpu_count() or 1)
    uri = str(uri)
    storage_options = lake_storage_options(uri, storage_options)
    for attempt in range(1, max_attempts + 1):
        merge = _Merge(uri, storage_options, normalized, business_columns, load_columns, target_file_rows, workers)
        try:
            result = merge.run(before_commit)
        except CommitFailedError as exc:
            merge.writer.discard()
            if attempt == max_attempts:
                raise MergeConflictError(
                    f"{uri}: other writers committed first {attempt} times in a row; nothing was written, "
                    "run the merge again"
                ) from exc
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
            continue
        except BaseException:
            merge.writer.discard()
            raise
        return MergeResult(result.stats, result.table_version, attempt, result.files_added, result.files_removed,
                           result.rows_copied, time.perf_counter() - started)
    raise AssertionError("unreachable")


def canonical_dataset(uri: str | Path, *, storage_options: dict[str, str] | None = None) -> ds.Dataset | None:
    """The table's latest snapshot as a pyarrow dataset (file pruning by partition and Delta
    statistics), or None if the table does not exist.

    Reads go through pyarrow's own filesystem (local or S3) rather than deltalake's Python
    filesystem handler: a process that scanned through that handler sometimes aborts at exit
    ("terminate called without an active exception") as its runtime is torn down.

    deltalake lists the files; what each file is known to hold (the expression pyarrow prunes
    files with) is built here, from the add actions, because deltalake's own turns a column with
    no bound into ``column >= null``, and pyarrow then skips the file for any filter on that
    column: a filter on a business column (which carries no file statistics), or on one whose
    bound a file lacks, silently returned no rows.
    """
    storage_options = lake_storage_options(str(uri), storage_options)
    try:
        dt = DeltaTable(str(uri), storage_options=storage_options)
    except TableNotFoundError:
        return None
    storage = _storage_for(str(uri), storage_options)
    filesystem = pafs.SubTreeFileSystem(storage.root, storage.fs) if storage.root else None
    dataset = dt.to_pyarrow_dataset(filesystem=filesystem)
    known = _file_guarantees(dt, dataset.schema)
    fragments = []
    for fragment in dataset.get_fragments():
        guarantee = known.get(unquote(fragment.path))
        if guarantee is None:  # a file the add actions do not name as listed: trust nothing but its partition
            guarantee = _partition_guarantee(fragment.path)
        fragments.append(dataset.format.make_fragment(fragment.path, filesystem=fragment.filesystem,
                                                      partition_expression=guarantee))
    return ds.FileSystemDataset(fragments, dataset.schema, dataset.format, dataset.filesystem)


def _partition_guarantee(path: str) -> ds.Expression:
    if f"{PARTITION_COLUMN}=true/" in path:
        return ds.field(PARTITION_COLUMN) == True  # noqa: E712 - a pyarrow expression
    if f"{PARTITION_COLUMN}=false/" in path:
        return ds.field(PARTITION_COLUMN) == False  # noqa: E712
    return ds.scalar(True)


def _trusted_string_bound(value: Any) -> bool:
    """Files written before statistics went out as UTF-8 carry surrogate escapes that deltalake
    decodes wrongly (U+20000 reads as U+10000): a string bound outside the Basic Multilingual
    Plane is not trusted to prune. Such keys are rare, so their files are simply read."""
    return not isinstance(value, str) or value.isascii() or all(ord(ch) < 0x10000 for ch in value)


def _file_guarantees(dt: DeltaTable, schema: pa.Schema) -> dict[str, ds.Expression]:
    """Per file (its path as the log names it, unquoted): the partition value, and for the
    STATS_COLUMNS the bounds and null counts its add action states — only those it states."""
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return {}
    names = set(actions.column_names)
    n = actions.num_rows

    def col(name: str) -> list[Any]:
        return actions.column(name).to_pylist() if name in names else [None] * n

    columns = [c for c in schema.names if c in STATS_COLUMNS]
    nulls = {c: col(f"null_count.{c}") for c in columns}
    bounds = {(c, side): col(f"{side}.{c}") for c in columns for side in ("min", "max")}
    parts, records = col(f"partition.{PARTITION_COLUMN}"), col("num_records")
    out: dict[str, ds.Expression] = {}
    for i, path in enumerate(col("path")):
        terms = []
        if parts[i] is not None:
            terms.append(ds.field(PARTITION_COLUMN) == pa.scalar(bool(parts[i]), pa.bool_()))
        for c in columns:
            if nulls[c][i] is not None and records[i] is not None:
                if nulls[c][i] == records[i]:
                    terms.append(ds.field(c).is_null())
                    continue
                if nulls[c][i] == 0:
                    terms.append(ds.field(c).is_valid())
            t = schema.field(c).type
            low, high = bounds[(c, "min")][i], bounds[(c, "max")][i]
            if low is not None and _trusted_string_bound(low):
                terms.append(ds.field(c) >= pa.scalar(low, t))
            if high is not None and _trusted_string_bound(high):
                terms.append(ds.field(c) <= pa.scalar(high, t))
        guarantee = ds.scalar(True)
        for term in terms:
            guarantee = guarantee & term
        out[unquote(path)] = guarantee
    return out


def read_canonical(
    uri: str | Path,
    *,
    storage_options: dict[str, str] | None = None,
    current_only: bool = False,
    columns: Sequence[str] | None = None,
) -> pa.Table | None:
    """The table's latest snapshot (or only its current rows) as Arrow; None if it does not exist."""
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return None
    expr = ds.field(PARTITION_COLUMN) == True if current_only else None  # noqa: E712
    return dataset.to_table(columns=list(columns) if columns else None, filter=expr)


def optimize_history(uri: str | Path, *, storage_options: dict[str, str] | None = None) -> dict[str, Any]:
    """Compact the history partition, z-ordered by key, so late-version lookups skip files.

    Maintenance, not part of a merge; a merge running at the same time simply retries.
    """
    dt = DeltaTable(str(uri), storage_options=lake_storage_options(str(uri), storage_options))
    return dt.optimize.z_order([SOURCE_SERVICE, SOURCE_ID], partition_filters=[(PARTITION_COLUMN, "=", "false")])
