"""Read canonical tables as Arrow, for reconciliation, `avesa query` and checks.

DuckDB's delta extension is downloaded at run time (impossible offline), so reads go through the
Delta log into a pyarrow dataset (`delta_tables.canonical_dataset`), which prunes files by
partition and statistics.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds

from avesa.lake.delta_tables import canonical_dataset


def read_current(uri: str, *, source_service: str, source_table: str,
                 storage_options: dict[str, str] | None = None) -> pa.Table | None:
    """Current rows of one source table inside a canonical table; None if the table does not exist."""
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return None
    expr = (
        (ds.field("is_current") == True)  # noqa: E712 - pyarrow expression, not a Python comparison
        & (ds.field("source_service") == source_service)
        & (ds.field("source_table") == source_table)
    )
    return dataset.to_table(filter=expr)
