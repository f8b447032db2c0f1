"""`avesa query`: DuckDB over the canonical Delta tables of every tenant.

Each canonical table becomes a view (companies, contacts, tickets, time_entries) that unions all
tenants' tables by column name; `tenant_id` tells them apart. Data reaches DuckDB as Arrow from
deltalake, since DuckDB's own delta/httpfs extensions cannot be downloaded offline.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from avesa.lake.delta_tables import canonical_dataset
from avesa.lake.paths import LakeLayout


def connect(lake: LakeLayout, tenant_ids: list[str], canonical_tables: list[str]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table in canonical_tables:
        parts = []
        for tenant_id in tenant_ids:
            dataset = canonical_dataset(lake.canonical_uri(tenant_id, table))
            if dataset is None:
                continue
            name = f"_{table}__{tenant_id.replace('-', '_')}"
            con.register(name, dataset)
            parts.append(f'SELECT * FROM "{name}"')
        if parts:
            con.execute(f'CREATE VIEW "{table}" AS ' + " UNION ALL BY NAME ".join(parts))
    return con


def run_query(lake: LakeLayout, sql: str, tenant_ids: list[str], canonical_tables: list[str]) -> pa.Table:
    con = connect(lake, tenant_ids, canonical_tables)
    try:
        relation = con.sql(sql)
        return relation.to_arrow_table() if relation is not None else pa.table({})
    finally:
        con.close()
