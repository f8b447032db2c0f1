"""A table's canonical build: this run's raw files mapped to versions and merged (SCD2), then the
keys whose records announced their deletion closed. The heaviest work of a run after extraction.

It is a plain function of a picklable `CanonicalBuild` — the files to read, the mapping, the
canonical table's URI — and needs nothing of the process it runs in: no state store, no
connector, no event loop. So `pipeline/build_runner.py` can run it in a thread or, on a machine
with a second core, in a process of its own, where mapping and merging never hold the
extraction's interpreter lock. What it charges to the CPU stages (`stage_cpu`) comes back in its
result, so a build in another process is accounted like one in a thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from avesa.catalog.models import CanonicalTable, Mapping
from avesa.domain.errors import AvesaError
from avesa.domain.timeutil import utc_now
from avesa.domain.work import TableRef
from avesa.lake.delta_tables import merge_scd2
from avesa.lake.raw_files import iter_raw_batches, list_raw_files
from avesa.observability.stage_cpu import stage
from avesa.pipeline.reconcile import announced_deletions
from avesa.transform.columnar_mapping import RAW_COLUMNS
from avesa.transform.mapping import NulledValues, compiled

MERGE_BATCH_ROWS = 200_000
COLUMNAR_GROUP_ROWS = 8_192
"""Live raw rows mapped by one query: its fixed cost (planning, a few hundred Arrow calls: ~10 ms)
spread over enough rows, its memory (the records' text, ~5 KB each) bounded."""
COLUMNAR_MIN_ROWS = 256
"""Fewer rows than this (an incremental run's few changes) are mapped by the row function."""


@dataclass(frozen=True)
class ChunkFiles:
    """One chunk's share of the build: its raw files' names start with `prefix`, and they must hold
    the `records` its checkpoints counted."""

    chunk_id: str
    prefix: str
    records: int


@dataclass(frozen=True)
class CanonicalBuild:
    """Everything a build needs, and nothing that cannot cross to another process."""

    table: TableRef
    mapping: Mapping
    canonical: CanonicalTable
    uri: str
    """The canonical Delta table the versions merge into."""
    raw_directory: str
    chunks: list[ChunkFiles]


@dataclass
class BuiltVersions:
    """What a build did: versions created, keys closed as deleted, values nulled by column, and the
    CPU it spent by stage (seconds) when another process ran it (`build_runner.py` fills it in)."""

    created: int = 0
    deletes: int = 0
    nulled: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)


class RawFilesShort(AvesaError):
    """A chunk's raw files hold fewer records than its checkpoints counted."""


def latest_reading(versions: pa.Table) -> pa.Table:
    """Of versions one extraction read twice — same key, source stamp and `extracted_at` (the same
    raw file: a Graph delta may return an item more than once) — the one read last: files are read
    in order and rows in file order. The merge tells apart versions read at different times."""
    keys = ["source_id", "last_updated", "extracted_at"]
    n = versions.num_rows
    if n < 2:
        return versions
    groups = versions.select(keys).append_column("__row", pa.array(range(n), pa.int64()))
    last = groups.group_by(keys, use_threads=False).aggregate([("__row", "max")])
    if last.num_rows == n:
        return versions
    kept = last.column("__row_max")
    return versions.take(pc.take(kept, pc.sort_indices(kept)))


def _announce(announced: dict[str, tuple[datetime, datetime | None]], rows: pa.Table) -> None:
    """Keep each key's latest announcement of its deletion (raw rows carry extracted_at)."""
    for record_id, stamp, at in zip(rows.column("record_id").to_pylist(), rows.column("source_updated_at").to_pylist(),
                                    rows.column("extracted_at").to_pylist(), strict=True):
        seen = announced.get(record_id)
        if seen is None or (stamp, at) >= seen:
            announced[record_id] = (stamp, at)


def build_canonical(job: CanonicalBuild) -> BuiltVersions:
    """Map this run's raw files to versions and merge them, a bounded batch at a time; then close the
    keys whose records announced their deletion.

    A table's versions up to MERGE_BATCH_ROWS are one Delta commit, so a record that cannot be read
    fails the table before anything of it is merged. A bigger table commits batch by batch — whole
    raw files at a time, so that the records one file holds twice meet in one batch; a failure after
    the first leaves true versions merged and the watermark unmoved, and the next run merges the rest
    again (SCD2 absorbs what it already holds).

    Every version carries its raw file's `extracted_at`: of two versions of a key with the same
    source stamp (two edits within one tick of the source's clock), the one read later wins."""
    mapping = compiled(job.mapping, job.canonical)
    ref = job.table
    prefixes = [c.prefix for c in job.chunks]
    paths = list_raw_files(job.raw_directory, prefixes)
    landed = dict.fromkeys(prefixes, 0)  # rows found in each chunk's files
    nulled = NulledValues()
    built = BuiltVersions()
    pending: list[pa.Table] = []
    pending_rows = 0
    loaded_at = utc_now()

    def merge_pending() -> None:
        nonlocal pending, pending_rows
        if pending:
            with stage("merge"):
                result = merge_scd2(job.uri, latest_reading(pa.concat_tables(pending)), mapping.business_columns)
            built.created += result.stats.new_versions
            pending, pending_rows = [], 0

    announced: dict[str, tuple[datetime, datetime | None]] = {}
    group: list[pa.Table] = []  # live raw rows not yet mapped: mapped together, a query per group
    group_rows = 0

    def map_group() -> None:
        nonlocal group, group_rows, pending_rows
        if not group:
            return
        raw = pa.concat_tables(group)
        group, group_rows = [], 0
        with stage("mapping"):
            if raw.num_rows >= COLUMNAR_MIN_ROWS:
                versions = mapping.columnar.to_versions(raw, tenant_id=ref.tenant_id, run_id=ref.run_id,
                                                        loaded_at=loaded_at, nulled=nulled)
            else:  # a query's fixed cost is more than a few records cost the row function
                versions = mapping.columnar.by_rows(raw, tenant_id=ref.tenant_id, run_id=ref.run_id,
                                                    loaded_at=loaded_at, nulled=nulled)
        pending.append(versions)
        pending_rows += versions.num_rows

    for path in paths:
        name = path.rsplit("/", 1)[-1]
        prefix = next(p for p in prefixes if name.startswith(p))
        for batch in iter_raw_batches([path], job.raw_directory, [*RAW_COLUMNS, "source_deleted"]):
            landed[prefix] += batch.num_rows
            rows = pa.Table.from_batches([batch])
            if "source_deleted" in rows.column_names:
                gone = pc.fill_null(rows.column("source_deleted"), False)
                _announce(announced, rows.filter(gone))
                rows = rows.filter(pc.invert(gone))
            group.append(rows.select(list(RAW_COLUMNS)))
            group_rows += rows.num_rows
        if group_rows >= COLUMNAR_GROUP_ROWS:
            map_group()
        if pending_rows + group_rows >= MERGE_BATCH_ROWS:
            map_group()
            merge_pending()
    map_group()
    _check_landed(ref, job.chunks, landed)
    merge_pending()
    tombstones = announced_deletions(job.uri, mapping, announced, run_id=ref.run_id, detected_at=loaded_at)
    if tombstones is not None:
        built.created += merge_scd2(job.uri, tombstones, mapping.business_columns).stats.new_versions
        built.deletes = tombstones.num_rows
    built.nulled = dict(nulled)
    return built


def _check_landed(ref: TableRef, chunks: list[ChunkFiles], landed: dict[str, int]) -> None:
    """Every record a chunk checkpointed is in its raw files, or the table fails before its last
    merge and its watermark stays: a worker that lost its chunk while writing a file can still
    replace the file of that name its successor wrote (extract.py checks its lease just before a
    write, not during it), and a smaller file would lose the records in between without a word."""
    short = [(c, landed[c.prefix]) for c in chunks if landed[c.prefix] < c.records]
    if short:
        listed = ", ".join(f"{c.chunk_id} ({found} of {c.records})" for c, found in short[:3])
        raise RawFilesShort(f"{ref.label}: the raw files of {len(short)} chunk(s) hold fewer records than their "
                            f"checkpoints counted: {listed}. A file was replaced after it was checkpointed (a "
                            "worker that had lost its chunk wrote it); the watermark stays, so the next run reads "
                            "these records again")
