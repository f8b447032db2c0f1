"""Writing a canonical table's data files with pyarrow directly — each file's add action with exact
statistics — coalescing small ones into files of the target size, and the table's schema
(created on first use, evolved by adding nullable columns)."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from deltalake.schema import Field as DeltaField
from deltalake.transaction import AddAction, RemoveAction

from avesa.lake.delta_stats import STATS_COLUMNS, dictionary_columns, file_stats
from avesa.lake.delta_storage import PARTITION_COLUMN, DataFile, Storage
from avesa.transform.scd2 import (
    InvalidVersionsError,
)

# The current partition is rewritten by merges: snappy halves the CPU of zstd there. History is
# written once and kept for years: zstd, half the bytes.
COMPRESSION = {True: "snappy", False: "zstd"}


@dataclass
class Writer:
    storage: Storage
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
                           use_dictionary=dictionary_columns(data), store_schema=False,
                           write_statistics=[c for c in data.column_names if c in STATS_COLUMNS],
                           write_page_index=False, row_group_size=1 << 20)
            size = sink.tell()
        return AddAction(relative, size, {PARTITION_COLUMN: partition}, int(time.time() * 1000), True,
                         file_stats(data))

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


class Coalescer:
    """Collects small tables for one partition and writes them as files of ~target rows, as soon
    as there are enough: memory stays bounded whatever the merge rewrites. Thread-safe."""

    def __init__(self, writer: Writer, current: bool, target_rows: int) -> None:
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


def remove_action(f: DataFile) -> RemoveAction:
    return RemoveAction(f.path, True, int(time.time() * 1000), f.size, f.partition_values)




def open_or_create(uri: str, schema: pa.Schema, storage_options: dict[str, str] | None) -> DeltaTable:
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


def table_schema(dt: DeltaTable) -> pa.Schema:
    return pa.schema(dt.schema().to_arrow())


def evolve_schema(dt: DeltaTable, wanted: pa.Schema) -> pa.Schema:
    """Add the batch's new columns to the table (nullable); fail on a changed column type."""
    schema = table_schema(dt)
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
        schema = table_schema(dt)
    return schema
