"""The lake: raw Parquet files and canonical Delta tables, on a local path or ``s3://``.

``delta_tables`` is the only module that writes Delta tables (the SCD2 merge); reading goes
through deltalake's pyarrow dataset, never DuckDB's extensions (they download at run time).
"""
