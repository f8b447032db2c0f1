"""The lake: raw Parquet files and canonical Delta tables, on a local path or ``s3://``.

``delta_tables`` is the face of the canonical Delta tables, whose jobs live one per module:
``delta_storage`` (the table's filesystem and files), ``delta_stats`` (file statistics),
``delta_writer`` (data files and schema), ``delta_merge`` (the SCD2 merge, the only writer) and
``delta_reads``. Reading goes through a pyarrow dataset, never DuckDB's extensions (they download
at run time). ``object_store`` turns a lake URL into a filesystem and storage options, for raw
files and Delta tables alike.
"""
