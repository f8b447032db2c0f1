"""Canonical Delta tables: the SCD2 merge and reads, the face of the `delta_*` modules below —
the only ones that talk to deltalake.

Where the merge lives: the timeline rules are pure functions in :mod:`avesa.transform.scd2`
(pyarrow in -> pyarrow out, no I/O). This module is the orchestration around them: it finds the
stored rows a batch affects, hands them with the batch to ``compute_changes``, and commits the
rows it says to remove and insert as one Delta transaction. ``lake`` imports ``transform``
(and ``domain``); ``transform`` imports neither ``lake`` nor deltalake.

Public API: :func:`merge_scd2` (-> :class:`MergeResult`), :func:`read_canonical`,
:func:`canonical_dataset`, :func:`optimize_history`; errors :class:`MergeConflictError` (a TransientError) and
``InvalidVersionsError`` (from the scd2 module; a BadDataError and a ValueError).

Layout
------
- Partitioned by ``is_current``. ``is_current=true`` holds exactly one row per key; that is the
  partition merges read and rewrite. ``is_current=false`` (history) mostly *receives* rows — a
  closed row is appended to it — and is rewritten only where a late version re-cuts a key's
  past. BI queries for current state prune to one partition.
- No global sort or bucketing. A merge rewrites exactly the current files holding a row that
  changed, keeps every other file, and writes the new current rows of the batch's keys, in key
  order, to a new file. Files therefore group keys by when they last changed, which is what SaaS
  change streams reward (this week's open tickets change again; a company untouched for a year
  rarely does): the benchmark's "hot keys" merge rewrites no unchanged row. File min/max
  ``source_id`` statistics (and row-group statistics inside files) let a batch skip the files
  and row groups whose key range it misses — an initial load is written in key order, so its
  files have disjoint ranges. Files below a quarter of the target size are coalesced as they
  pile up (in both partitions); :func:`optimize_history` z-orders history by key on demand.
- Copy-on-write is inherent to Delta without deletion vectors (deltalake cannot write them): if
  a batch's keys are spread uniformly over the key space, every current file holds one of them
  and is rewritten: ~1.3 s per million current rows on this 2-core machine (2.3 s of CPU). The
  benchmark measures that worst case as its headline.
- Files are written with pyarrow directly (not through deltalake's writer) and committed as
  add/remove actions with exact Delta statistics for the columns readers and merges filter on
  (STATS_COLUMNS), as UTF-8 JSON: strings cut at a code point, timestamps rounded outward to
  milliseconds with four-digit years (1..9999). Reads (:func:`canonical_dataset`) prune with
  exactly the bounds the add actions state, never a bound they lack. Current files: snappy (rewritten
  often: cheap CPU); history files: zstd (written once: fewer bytes). Strings the source file
  dictionary-encodes are read and written back as dictionaries.

The modules, one job each
-------------------------
- :mod:`avesa.lake.delta_storage`: the table's filesystem (local or S3), its files, reading one;
- :mod:`avesa.lake.delta_stats`: the statistics a file's add action states;
- :mod:`avesa.lake.delta_writer`: writing and coalescing data files, the table's schema;
- :mod:`avesa.lake.delta_merge`: the SCD2 merge (step by step in its docstring);
- :mod:`avesa.lake.delta_reads`: the snapshot as a pruning dataset, history compaction.
"""

from avesa.lake.delta_merge import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TARGET_FILE_ROWS,
    MAX_SMALL_FILES,
    MergeConflictError,
    MergeResult,
    merge_scd2,
)
from avesa.lake.delta_reads import canonical_dataset, optimize_history, read_canonical
from avesa.lake.delta_stats import STATS_COLUMNS
from avesa.lake.delta_storage import PARTITION_COLUMN
from avesa.transform.scd2 import InvalidVersionsError

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_TARGET_FILE_ROWS",
    "MAX_SMALL_FILES",
    "PARTITION_COLUMN",
    "STATS_COLUMNS",
    "InvalidVersionsError",
    "MergeConflictError",
    "MergeResult",
    "canonical_dataset",
    "merge_scd2",
    "optimize_history",
    "read_canonical",
]
