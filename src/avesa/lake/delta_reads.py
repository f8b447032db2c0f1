"""Reading a canonical table: its latest snapshot as a pyarrow dataset that prunes files with
exactly the bounds their add actions state, and history compaction on demand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from avesa.lake.delta_stats import STATS_COLUMNS, trusted_string_bound
from avesa.lake.delta_storage import PARTITION_COLUMN, storage_for
from avesa.lake.object_store import storage_options as lake_storage_options
from avesa.transform.scd2 import (
    SOURCE_ID,
    SOURCE_SERVICE,
)


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
    storage = storage_for(str(uri), storage_options)
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
            if low is not None and trusted_string_bound(low):
                terms.append(ds.field(c) >= pa.scalar(low, t))
            if high is not None and trusted_string_bound(high):
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
