"""The SCD2 merge of one tenant's versions into a canonical Delta table: it finds the stored rows a
batch affects, hands them with the batch to `compute_changes` (avesa.transform.scd2), and commits
the rows to remove and insert as one Delta transaction.

Merge, step by step (every read pinned to one table version)
------------------------------------------------------------
1. Read ``source_service, source_id, effective_start_date`` of the current files the batch's ids
   can be in (file and row-group statistics skip the others) to find each key's current row.
2. A key is *late* when one of its new versions is older than its current row. Only late keys
   need their history, read with the ids pushed down. Every other key needs its current row
   alone (see the scd2 module docstring). A version exactly as old as the current row but with
   another hash also needs the history; step 3 spots it once it has read the current row.
3. Per current file holding batch keys, in parallel: read it, run ``compute_changes`` for its
   keys, and if it loses rows, write it again without them.
4. Keys with no current row are new: their rows come from the batch alone.
5. Rewrite the history files that lost rows (late keys only); write the inserted rows; commit
   removes + adds in one transaction. Memory: one data file per worker, the batch and the
   affected keys' rows — never the table.

Concurrency: the commit refuses to land on top of any other commit (``max_commit_retries=0``),
so a merge is serializable against every other writer; a ``CommitFailedError`` re-runs the whole
merge on the new snapshot (bounded by ``max_attempts``, jittered backoff) after deleting the
files the failed attempt wrote. A batch that changes nothing commits nothing. On S3 the storage
options must give deltalake a safe commit (conditional put or a lock), as for any Delta writer.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import CommitFailedError
from deltalake.transaction import AddAction, CommitProperties

from avesa.domain.errors import TransientError
from avesa.lake.delta_storage import PARTITION_COLUMN, DataFile, data_files, may_hold, read_data_file, storage_for
from avesa.lake.delta_writer import Coalescer, Writer, evolve_schema, open_or_create, remove_action
from avesa.lake.object_store import storage_options as lake_storage_options
from avesa.transform.scd2 import (
    DEFAULT_LOAD_COLUMNS,
    EFFECTIVE_START,
    IS_CURRENT,
    LAST_UPDATED,
    RECORD_HASH,
    SOURCE_ID,
    SOURCE_SERVICE,
    Scd2Stats,
    composite_key,
    compute_changes,
    conform,
    normalize_versions,
    observation_schema,
    output_schema,
)

DEFAULT_TARGET_FILE_ROWS = 131_072
DEFAULT_MAX_ATTEMPTS = 6
MAX_SMALL_FILES = 8  # per partition: coalesce files under target/4 rows once there are more
_FALSE = pa.scalar(False, pa.bool_())  # typed scalars: untyped ones cost a failed numpy import
_AT = pa.scalar("@", pa.string())
_EMPTY = pa.scalar("", pa.string())
_KEY_SCAN_COLUMNS = (SOURCE_SERVICE, SOURCE_ID, EFFECTIVE_START)


@dataclass(frozen=True)
class MergeResult:
    """What :func:`merge_scd2` did. ``stats`` are the SCD2 counts a run summary prints."""

    stats: Scd2Stats
    table_version: int | None  # the Delta version committed; None when nothing changed
    attempts: int  # 1 unless concurrent writers forced a retry
    files_added: int = 0
    files_removed: int = 0
    rows_copied: int = 0  # unchanged rows rewritten because their file held a changed row
    seconds: float = 0.0


class MergeConflictError(TransientError):
    """Concurrent writers kept committing first; the whole merge may simply be run again."""




def _decoded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    return conform(table, schema)




def _arange(n: int) -> pa.Array:
    """0, 1, …, n-1 as int64, built in C (a Python range costs ~20 ms per 100k)."""
    ones = pa.repeat(pa.scalar(1, pa.int64()), n)
    return pc.subtract(pc.cumulative_sum(ones), pa.scalar(1, pa.int64()))


def _identity(table: pa.Table) -> pa.Array:
    """One string per row for (key, effective_start_date), the identity of a stored row."""
    start = pc.cast(pc.cast(table.column(EFFECTIVE_START).combine_chunks(), pa.int64()), pa.string())
    return pc.binary_join_element_wise(composite_key(table), _AT, start, _EMPTY)


@dataclass
class _GroupResult:
    stats: Scd2Stats
    inserted: pa.Table
    removed_history: pa.Array  # identities of removed history rows
    adds: list[AddAction]
    removes: list[DataFile]
    rows_copied: int


class _Merge:
    def __init__(self, uri: str, storage_options: dict[str, str] | None, versions: pa.Table,
                 business: Sequence[str], load_columns: Sequence[str], target_rows: int, workers: int) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.storage = storage_for(uri, storage_options)
        self.versions = versions
        self.business = list(business)
        self.load_columns = list(load_columns)
        self.target_rows = target_rows
        self.workers = workers
        self.writer = Writer(self.storage)

    # -- one attempt -----------------------------------------------------------------------
    def run(self, before_commit: Callable[[], None] | None) -> MergeResult:
        self.coalescers = {c: Coalescer(self.writer, c, self.target_rows) for c in (True, False)}
        self.history_file_of: dict[str, DataFile] = {}  # identity of a history row read -> its file
        wanted = output_schema(self.versions.schema)
        dt = open_or_create(self.uri, wanted, self.storage_options)
        schema = evolve_schema(dt, wanted)
        read_version = dt.version()
        batch = conform(self.versions, observation_schema(schema))
        batch_keys = composite_key(batch)
        files = data_files(dt)
        current_files = [f for f in files if f.current]
        history_files = [f for f in files if not f.current]
        self.batch_ids = pc.unique(batch.column(SOURCE_ID).combine_chunks())
        # sorted, for bisecting file and row-group statistics (UTF-8 order = code point order)
        batch_ids = self.batch_ids.take(pc.sort_indices(self.batch_ids)).to_pylist() if files else []
        key_set = pc.unique(batch_keys)

        # 1. where is each batch key's current row?
        candidates = [f for f in current_files if may_hold(f, batch_ids)]

        def scan(f: DataFile) -> pa.Table:
            t = read_data_file(self.storage, f, schema, _KEY_SCAN_COLUMNS, sorted_ids=batch_ids)
            t = _decoded(t, pa.schema([schema.field(c) for c in _KEY_SCAN_COLUMNS]))
            return t.filter(pc.is_in(composite_key(t), value_set=key_set))

        with ThreadPoolExecutor(self.workers) as pool:
            scans = list(pool.map(scan, candidates))
        hits = [(f, s) for f, s in zip(candidates, scans, strict=True) if s.num_rows]
        groups = _group_files(hits)
        found = pa.concat_tables([s for _, s in hits]) if hits else None

        # 2. late keys need their history (those with a version as old as the current row but
        #    another hash are only found once the current row is read: see _group)
        history = None
        if found is not None and found.num_rows:
            late = _late_keys(batch, batch_keys, found)
            if len(late):
                history = self._history(history_files, schema, late)
        self._history_files = history_files

        # 3. current files holding batch keys
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda g: self._group(g, schema, batch, batch_keys, history), groups))

        # 4. keys never stored
        known = pc.unique(composite_key(found)) if found is not None else pa.array([], pa.string())
        new_mask = pc.invert(pc.is_in(batch_keys, value_set=known))
        if pc.any(new_mask).as_py():
            change = compute_changes(None, batch.filter(new_mask), self.business, load_columns=self.load_columns)
            results.append(_GroupResult(change.stats, conform(change.inserted, schema), pa.array([], pa.string()),
                                        [], [], 0))

        stats = sum((r.stats for r in results), Scd2Stats())
        adds = [a for r in results for a in r.adds]
        removes = [f for r in results for f in r.removes]
        rows_copied = sum(r.rows_copied for r in results)
        inserted = [r.inserted for r in results if r.inserted.num_rows]

        # 5. history files losing rows, then the new rows
        removed_history = pa.concat_arrays([r.removed_history.cast(pa.string()) for r in results]) \
            if results else pa.array([], pa.string())
        if len(removed_history):
            h_adds, h_removes, copied = self._rewrite_history(schema, removed_history)
            adds += h_adds
            removes += h_removes
            rows_copied += copied
        rows = pa.concat_tables(inserted) if inserted else schema.empty_table()
        if len(inserted) > 1:  # keep files in key order: tighter min/max statistics
            rows = rows.sort_by([(SOURCE_SERVICE, "ascending"), (SOURCE_ID, "ascending"),
                                 (EFFECTIVE_START, "ascending")])
        cur_mask = pc.fill_null(rows.column(IS_CURRENT), _FALSE)
        rewritten = {f.path for f in removes}
        for current, new_rows in ((True, rows.filter(cur_mask)), (False, rows.filter(pc.invert(cur_mask)))):
            coalescer = self.coalescers[current]
            partition = [f for f in (current_files if current else history_files) if f.path not in rewritten]
            small_files = [f for f in partition if (f.num_records or 0) < self.target_rows // 4]
            writing = new_rows.num_rows or coalescer.rows
            if writing and len(small_files) + 1 > MAX_SMALL_FILES:  # coalesce small files as they pile up
                for f in small_files:
                    piece = _decoded(read_data_file(self.storage, f, schema), schema)
                    coalescer.add(piece)
                    removes.append(f)
                    rows_copied += piece.num_rows
            coalescer.add(new_rows)
            adds += coalescer.flush(self.workers)  # also the files it wrote while workers fed it

        if not adds and not removes:
            return MergeResult(stats, None, 1, rows_copied=rows_copied)
        if before_commit is not None:
            before_commit()
        meta = {"avesa.operation": "scd2_merge", "avesa.read_version": read_version,
                "avesa.stats": stats.as_dict()}
        dt.create_write_transaction(
            [*adds, *(remove_action(f) for f in removes)], "append", schema, partition_by=[PARTITION_COLUMN],
            commit_properties=CommitProperties(custom_metadata=meta, max_commit_retries=0),
        )
        # max_commit_retries=0: the commit landed exactly on top of the version we read
        return MergeResult(stats, read_version + 1, 1, len(adds), len(removes), rows_copied)

    # -- pieces ----------------------------------------------------------------------------
    def _hits(self, t: pa.Table, batch_keys: pa.Array) -> pa.Array:
        """Row numbers of `t` holding a batch key (ids first: cheaper than building every key)."""
        ids = t.column(SOURCE_ID)
        if pa.types.is_dictionary(ids.type):
            ids = ids.cast(pa.string())
        candidates = pc.indices_nonzero(pc.is_in(ids, value_set=self.batch_ids))
        keys = composite_key(t.select([SOURCE_SERVICE, SOURCE_ID]).take(candidates))
        return candidates.filter(pc.is_in(keys, value_set=batch_keys))

    def _history(self, files: list[DataFile], schema: pa.Schema, late_keys: pa.Array) -> pa.Table:
        """Every history row of the late keys (ids pushed down to row groups); remembers which
        file holds each, for rewriting the files that lose rows."""
        ids = sorted(set(pc.unique(_ids_of(late_keys)).to_pylist()))
        candidates = [f for f in files if may_hold(f, ids)]

        def read(f: DataFile) -> pa.Table:
            t = _decoded(read_data_file(self.storage, f, schema, sorted_ids=ids), schema)
            t = t.filter(pc.is_in(composite_key(t), value_set=late_keys))
            for identity in _identity(t).to_pylist():
                self.history_file_of[identity] = f
            return t

        with ThreadPoolExecutor(self.workers) as pool:
            parts = list(pool.map(read, candidates))
        return pa.concat_tables(parts) if parts else schema.empty_table()

    def _group(self, files: list[DataFile], schema: pa.Schema, batch: pa.Table, batch_keys: pa.Array,
               history: pa.Table | None) -> _GroupResult:
        tables = [read_data_file(self.storage, f, schema) for f in files]
        hit_rows = [self._hits(t, batch_keys) for t in tables]
        existing_parts = [_decoded(t.take(rows), schema) for t, rows in zip(tables, hit_rows, strict=True)]
        existing = pa.concat_tables(existing_parts)
        group_keys = pc.unique(composite_key(existing))
        versions = batch.filter(pc.is_in(batch_keys, value_set=group_keys))
        stored = existing
        if history is not None and history.num_rows:
            mine = history.filter(pc.is_in(composite_key(history), value_set=group_keys))
            if mine.num_rows:
                stored = pa.concat_tables([existing, mine])
        contested = _late_keys(versions, composite_key(versions), existing, contested=True)
        if len(contested):  # rare: read the history step 2 could not know was needed
            more = self._history(self._history_files, schema, contested)
            more = more.filter(pc.invert(pc.is_in(_identity(more), value_set=_identity(stored))))
            if more.num_rows:
                stored = pa.concat_tables([stored, more])
        change = compute_changes(stored, versions, self.business, load_columns=self.load_columns)
        removed = stored.filter(change.removed)
        removed_current = pc.fill_null(removed.column(IS_CURRENT).combine_chunks(), _FALSE)
        removed_cur_ids = _identity(removed.filter(removed_current))
        removed_hist_ids = _identity(removed.filter(pc.invert(removed_current)))
        adds: list[AddAction] = []
        removes: list[DataFile] = []
        copied = 0
        if len(removed_cur_ids):
            for f, t, rows, part in zip(files, tables, hit_rows, existing_parts, strict=True):
                gone_rows = rows.filter(pc.is_in(_identity(part), value_set=removed_cur_ids))
                if not len(gone_rows):
                    continue
                removes.append(f)
                keep = pc.invert(pc.is_in(_arange(t.num_rows), value_set=gone_rows.cast(pa.int64())))
                survivors = t.filter(keep)
                copied += survivors.num_rows
                if survivors.num_rows >= self.target_rows // 2:
                    adds.append(self.writer.write(survivors, True))
                else:  # small: joins others into a file of normal size
                    self.coalescers[True].add(_decoded(survivors, schema))
        return _GroupResult(change.stats, conform(change.inserted, schema), removed_hist_ids, adds, removes, copied)

    def _rewrite_history(self, schema: pa.Schema, removed: pa.Array) -> tuple[list[AddAction], list[DataFile], int]:
        """Rewrite the history files holding `removed` rows (identities) without them."""
        files = {id(f): f for f in (self.history_file_of[i] for i in removed.to_pylist())}.values()

        def rewrite(f: DataFile) -> tuple[list[AddAction], int]:
            t = read_data_file(self.storage, f, schema)
            survivors = t.filter(pc.invert(pc.is_in(_identity(t), value_set=removed)))
            return ([self.writer.write(survivors, False)] if survivors.num_rows else []), survivors.num_rows

        with ThreadPoolExecutor(self.workers) as pool:
            done = list(pool.map(rewrite, files))
        return [a for adds, _ in done for a in adds], list(files), sum(n for _, n in done)


def _ids_of(keys: pa.Array) -> pa.Array:
    """source_id part of composite keys ("<len>:<service><id>")."""
    out = []
    for k in keys.to_pylist():
        n, rest = k.split(":", 1)
        out.append(rest[int(n):])
    return pa.array(out, pa.string())


def _late_keys(batch: pa.Table, batch_keys: pa.Array, current: pa.Table, *, contested: bool = False) -> pa.Array:
    """Batch keys with a version older than their stored current row — or, with `contested`
    (`current` must then hold record_hash), instead those with a version exactly as old as it
    but another hash. Either way the row before the current one may change, so the key's
    history must be read."""
    left = pa.table({"k": batch_keys, "ts": batch.column(LAST_UPDATED), "h": batch.column(RECORD_HASH)})
    right = {"k": composite_key(current), "cur_ts": current.column(EFFECTIVE_START)}
    if contested:
        right["cur_h"] = current.column(RECORD_HASH)
    j = left.join(pa.table(right), keys="k", join_type="inner")
    if j.num_rows == 0:
        return pa.array([], pa.string())
    if contested:
        same_ts = pc.equal(j.column("ts"), j.column("cur_ts"))
        late = pc.and_(same_ts, pc.not_equal(j.column("h"), j.column("cur_h")))
    else:
        late = pc.less(j.column("ts"), j.column("cur_ts"))
    return pc.unique(j.filter(late).column("k").combine_chunks())


def _group_files(hits: list[tuple[DataFile, pa.Table]]) -> list[list[DataFile]]:
    """One group per file, except that files sharing a key (a broken invariant) go together."""
    owner: dict[str, int] = {}
    parent = list(range(len(hits)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (_, scan) in enumerate(hits):
        for k in composite_key(scan).to_pylist():
            if k in owner:
                parent[root(i)] = root(owner[k])
            else:
                owner[k] = i
    groups: dict[int, list[DataFile]] = {}
    for i, (f, _) in enumerate(hits):
        groups.setdefault(root(i), []).append(f)
    return list(groups.values())




def merge_scd2(
    uri: str | Path,
    versions: pa.Table,
    business_columns: Sequence[str],
    *,
    storage_options: dict[str, str] | None = None,
    load_columns: Sequence[str] = DEFAULT_LOAD_COLUMNS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    target_file_rows: int = DEFAULT_TARGET_FILE_ROWS,
    max_workers: int | None = None,
    before_commit: Callable[[], None] | None = None,
) -> MergeResult:
    """Merge one tenant's versions of one canonical table into the Delta table at `uri`.

    `uri` is a local path or ``s3://bucket/prefix/...`` (``storage_options`` as deltalake takes
    them: ``AWS_ACCESS_KEY_ID``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``…); the
    table is created on first use. `versions` follows the input contract in avesa.transform.scd2
    and is validated before anything is read or written (InvalidVersionsError). `load_columns`
    are the columns that only say when/how a version was loaded (rule 4 of the scd2 module); an
    ``extracted_at`` column, when the versions carry one, decides between versions of a key with
    the same ``last_updated``: the one read from the source later wins.

    Returns a :class:`MergeResult`: the SCD2 stats, the Delta version committed (None if the batch
    changed nothing), attempts, files added/removed, unchanged rows copied, seconds.

    Concurrent writers: a commit conflict re-runs the merge on the new snapshot, at most
    `max_attempts` times in all, then MergeConflictError (a TransientError) is raised.
    `before_commit` is a test seam, called just before each commit.
    """
    started = time.perf_counter()
    normalized = normalize_versions(versions, business_columns)
    workers = max_workers or min(4, os.cpu_count() or 1)
    uri = str(uri)
    storage_options = lake_storage_options(uri, storage_options)
    for attempt in range(1, max_attempts + 1):
        merge = _Merge(uri, storage_options, normalized, business_columns, load_columns, target_file_rows, workers)
        try:
            result = merge.run(before_commit)
        except CommitFailedError as exc:
            merge.writer.discard()
            if attempt == max_attempts:
                raise MergeConflictError(
                    f"{uri}: other writers committed first {attempt} times in a row; nothing was written, "
                    "run the merge again"
                ) from exc
            time.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
            continue
        except BaseException:
            merge.writer.discard()
            raise
        return MergeResult(result.stats, result.table_version, attempt, result.files_added, result.files_removed,
                           result.rows_copied, time.perf_counter() - started)
    raise AssertionError("unreachable")
