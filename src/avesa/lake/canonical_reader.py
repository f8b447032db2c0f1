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


def current_ids(uri: str, *, source_service: str, source_table: str,
                storage_options: dict[str, str] | None = None) -> pa.ChunkedArray:
    """The keys of one source table's current rows, the one column read (none before the table exists)."""
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return pa.chunked_array([], type=pa.string())
    expr = (
        (ds.field("is_current") == True)  # noqa: E712 - pyarrow expression, not a Python comparison
        & (ds.field("source_service") == source_service)
        & (ds.field("source_table") == source_table)
    )
    return dataset.to_table(columns=["source_id"], filter=expr).column("source_id").cast(pa.string())


def read_key_rows(uri: str, *, source_service: str, source_table: str, source_ids: list[str],
                  storage_options: dict[str, str] | None = None) -> pa.Table | None:
    """Every row (history included) of the given keys of one source table; None if the table does
    not exist. File statistics on `source_id` keep the read to the files that may hold them."""
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return None
    expr = (
        (ds.field("source_service") == source_service)
        & (ds.field("source_table") == source_table)
        & ds.field("source_id").isin(pa.array(source_ids, pa.string()))
    )
    return dataset.to_table(filter=expr)


def tenant_rows(uri: str, tenant_id: str, *, storage_options: dict[str, str] | None = None) -> ds.Dataset | None:
    """One tenant's canonical table as a lazily read dataset holding that tenant's rows only.

    The filter on `tenant_id` is kept even though the table lives under the tenant's own prefix:
    a Delta log may name files by absolute path, so a log that points at another tenant's files
    must still not show their rows to a query scoped to this tenant. None if the table does not
    exist.
    """
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return None
    return dataset.filter(ds.field("tenant_id") == tenant_id)


def count_live(uri: str, *, source_service: str, source_table: str,
               storage_options: dict[str, str] | None = None) -> int:
    """Rows of one source table that are live in a canonical table — current and not deleted: what
    the source should count too (0 when the table does not exist yet). Counted from the files'
    statistics and the filtered columns only."""
    dataset = canonical_dataset(uri, storage_options=storage_options)
    if dataset is None:
        return 0
    expr = (
        (ds.field("is_current") == True)  # noqa: E712 - pyarrow expressions, not Python comparisons
        & (ds.field("is_deleted") == False)  # noqa: E712
        & (ds.field("source_service") == source_service)
        & (ds.field("source_table") == source_table)
    )
    return dataset.count_rows(filter=expr)
