"""Pure transformations, pyarrow in -> pyarrow out, no I/O.

- ``mapping``: raw source records -> canonical versions (catalog mappings).
- ``record_hash``: the stable content hash of a version (business columns + is_deleted).
- ``scd2``: SCD Type 2 timelines — dedupe, no-change absorption, late versions, deletes — and the
  diff of a recomputed timeline against the stored rows. ``avesa.lake.delta_tables`` applies that
  diff to a canonical Delta table.
"""
