"""Where a canonical table's files are and how one is read: a pyarrow filesystem rooted at the
table (local or S3, the lake's own storage options), the add actions as files with their
`source_id` bounds, and reading a data file with row-group pruning by key."""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable

from avesa.lake.delta_stats import DICTIONARY_HINT, trusted_string_bound
from avesa.lake.object_store import filesystem, is_object_store
from avesa.transform.scd2 import (
    IS_CURRENT,
    SOURCE_ID,
)

PARTITION_COLUMN = IS_CURRENT


@dataclass(frozen=True)
class Storage:
    """A pyarrow filesystem rooted at the table, for reading and writing data files directly."""

    fs: pafs.FileSystem
    root: str
    local: bool

    def path(self, relative: str) -> str:
        relative = unquote(relative)
        return f"{self.root}/{relative}" if self.root else relative


def storage_for(uri: str, storage_options: dict[str, str] | None) -> Storage:
    """The table's storage, from the lake's one URL rule (object_store.filesystem, which raw files
    use too): a local folder or `file://` path, or `s3://bucket/prefix` with these options."""
    fs, root = filesystem(uri, storage_options)
    return Storage(fs, root.rstrip("/"), not is_object_store(uri))




@dataclass
class DataFile:
    path: str
    current: bool
    size: int
    num_records: int | None
    min_id: str | None
    max_id: str | None

    @property
    def partition_values(self) -> dict[str, str | None]:
        return {PARTITION_COLUMN: "true" if self.current else "false"}


def data_files(dt: DeltaTable) -> list[DataFile]:
    actions = pa.table(dt.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return []
    cols = actions.column_names

    def col(name: str) -> list[Any]:
        return actions.column(name).to_pylist() if name in cols else [None] * actions.num_rows

    part = col(f"partition.{PARTITION_COLUMN}")
    return [
        DataFile(p, bool(c), s, n, lo if trusted_string_bound(lo) else None, hi if trusted_string_bound(hi) else None)
        for p, c, s, n, lo, hi in zip(col("path"), part, col("size_bytes"), col("num_records"),
                                      col(f"min.{SOURCE_ID}"), col(f"max.{SOURCE_ID}"), strict=True)
    ]


def may_hold(f: DataFile, sorted_ids: list[str]) -> bool:
    """Delta stats say the file may hold one of `sorted_ids`."""
    if f.min_id is None or f.max_id is None:
        return True
    i = bisect_left(sorted_ids, f.min_id)
    return i < len(sorted_ids) and sorted_ids[i] <= f.max_id


def row_groups(md: pq.FileMetaData, sorted_ids: list[str] | None) -> list[int]:
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


def read_data_file(storage: Storage, f: DataFile, schema: pa.Schema, columns: Sequence[str] | None = None,
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
        groups = row_groups(md, sorted_ids)
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
    metadata = {DICTIONARY_HINT: json.dumps(encoded)}
    return pa.Table.from_arrays(out, names=names).replace_schema_metadata(metadata)
