"""Read canonical Delta tables as Arrow: for reconciliation, `avesa query` and tests.

DuckDB's delta extension is downloaded at run time (impossible offline), so reads go through
deltalake's pyarrow dataset, which also prunes files by the filter's statistics.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError


def open_dataset(uri: str, storage_options: dict[str, str] | None = None) -> ds.Dataset | None:
    """The table's current snapshot as a pyarrow dataset, or None if the table does not exist yet."""
    try:
        return DeltaTable(uri, storage_options=storage_options).to_pyarrow_dataset()
    except TableNotFoundError:
        return None


def read_current(uri: str, *, source_service: str, source_table: str,
                 storage_options: dict[str, str] | None = None) -> pa.Table | None:
    """Current rows of one source table inside a canonical table."""
    dataset = open_dataset(uri, storage_options)
    if dataset is None:
        return None
    expr = (
        (ds.field("is_current") == True)  # noqa: E712 - pyarrow expression, not a Python comparison
        & (ds.field("source_service") == source_service)
        & (ds.field("source_table") == source_table)
    )
    return dataset.to_table(filter=expr)
