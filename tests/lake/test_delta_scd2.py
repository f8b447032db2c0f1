"""The SCD2 merge into a real Delta table (tmp dir), read back with deltalake."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable

from avesa.lake import delta_merge, delta_tables, delta_writer
from avesa.lake.delta_tables import MergeConflictError, canonical_dataset, merge_scd2, read_canonical
from avesa.transform.scd2 import InvalidVersionsError, Scd2Stats, merge_versions
from tests.transform.scd2_support import BUSINESS, absorbed_times, assert_invariants, at, canonical, table, v


@pytest.fixture
def uri(tmp_path: Path) -> str:
    return str(tmp_path / "acme" / "canonical" / "companies")


def apply(uri: str, rows: list[dict], **kwargs) -> delta_tables.MergeResult:
    return merge_scd2(uri, table(rows), BUSINESS, **kwargs)


def stored(uri: str) -> list[dict]:
    return canonical(DeltaTable(uri).to_pyarrow_table())


def orphans(uri: str) -> set[str]:
    """Data files on disk that no commit ever added."""
    added = set()
    for log in Path(uri, "_delta_log").glob("*.json"):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(Path(action["add"]["path"]).name)
    return {p.name for p in Path(uri).rglob("*.parquet")} - added


def data_files(uri: str) -> set[str]:
    return set(DeltaTable(uri).file_uris())


# --------------------------------------------------------------------------------- the rules


def test_validity_comes_from_the_source_timestamp(uri):
    apply(uri, [v("1", 5, "a", run=9)])
    apply(uri, [v("1", 7, "b", run=1)])
    rows = stored(uri)
    assert [(r["effective_start_date"], r["effective_end_date"], r["is_current"]) for r in rows] == [
        (at(5), at(7), False), (at(7), None, True)]
    assert_invariants(DeltaTable(uri).to_pyarrow_table())


def test_no_change_versions_are_absorbed_not_new_rows(uri):
    apply(uri, [v("1", 1, "a")])
    result = apply(uri, [v("1", 2, "a", by="bob")])
    rows = stored(uri)
    assert len(rows) == 1 and absorbed_times(rows[0]) == [at(2)]
    assert result.stats.unchanged_skipped == 1 and result.stats.rows_updated == 1


def test_all_versions_of_a_key_in_one_batch_are_kept_in_order(uri):
    apply(uri, [v("1", 3, "c"), v("1", 1, "a"), v("1", 2, "b")])
    assert [(r["name"], r["is_current"]) for r in stored(uri)] == [("a", False), ("b", False), ("c", True)]


def test_late_version_lands_in_history(uri):
    apply(uri, [v("1", 1, "a"), v("1", 5, "c")])
    result = apply(uri, [v("1", 3, "b")])
    assert [(r["name"], r["effective_start_date"], r["effective_end_date"]) for r in stored(uri)] == [
        ("a", at(1), at(3)), ("b", at(3), at(5)), ("c", at(5), None)]
    assert result.stats.rows_inserted == 1 and result.stats.rows_updated == 1


def test_late_version_splits_an_absorbed_run(uri):
    apply(uri, [v("1", 1, "a"), v("1", 3, "a", by="carol")])
    apply(uri, [v("1", 2, "b")])
    rows = stored(uri)
    assert [(r["name"], r["effective_start_date"], r["last_updated_by"]) for r in rows] == [
        ("a", at(1), "alice"), ("b", at(2), "alice"), ("a", at(3), "carol")]


def test_late_version_at_the_current_rows_instant_with_another_hash(uri):
    # b wins the instant (lower hash or not, the rule is total) and equals the row before: the
    # merge must read that history row, which it only learns once it has read the current row
    apply(uri, [v("1", 1, "x"), v("1", 2, "y")])
    apply(uri, [v("1", 2, "x", deleted=True)])  # a delete at the same instant wins it
    apply(uri, [v("1", 3, "x", deleted=True)])
    expected, _ = merge_versions(None, table([v("1", 1, "x"), v("1", 2, "y"), v("1", 2, "x", deleted=True),
                                              v("1", 3, "x", deleted=True)]), BUSINESS)
    assert stored(uri) == canonical(expected)


def test_duplicates_collapse_and_rivals_pick_deterministically(uri, tmp_path):
    apply(uri, [v("1", 1, "a"), v("1", 1, "a")])
    assert len(stored(uri)) == 1
    other = str(tmp_path / "other")
    apply(uri, [v("2", 1, "x")])
    apply(uri, [v("2", 1, "y")])
    apply(other, [v("2", 1, "y")])
    apply(other, [v("2", 1, "x")])
    mine = [r for r in stored(uri) if r["source_id"] == "2"]
    assert mine == stored(other)


def test_delete_then_reopen(uri):
    apply(uri, [v("1", 1, "a")])
    result = apply(uri, [v("1", 2, "a", deleted=True)])
    assert result.stats.rows_closed == 1
    apply(uri, [v("1", 3, "a")])
    assert [(r["is_deleted"], r["is_current"]) for r in stored(uri)] == [
        (False, False), (True, False), (False, True)]


def test_replaying_a_batch_commits_nothing(uri):
    rows = [v("1", 1, "a"), v("1", 2, "b"), v("2", 1, "z")]
    apply(uri, rows)
    version = DeltaTable(uri).version()
    result = apply(uri, [{**r, "run_id": "run-009", "loaded_at": at(20_000)} for r in rows])
    assert result.table_version is None and DeltaTable(uri).version() == version
    assert result.stats == Scd2Stats(versions_received=3, duplicates=3, keys_received=2)


def test_any_batch_order_gives_the_same_table(uri, tmp_path):
    batches = [[v("1", 4, "d"), v("2", 1, "a")], [v("1", 1, "a"), v("1", 2, "a")], [v("1", 3, "b"), v("1", 4, "d")]]
    for b in batches:
        apply(uri, b)
    other = str(tmp_path / "reversed")
    for b in reversed(batches + batches[:1]):
        apply(other, b)
    assert stored(uri) == stored(other)
    reference, _ = merge_versions(None, table([r for b in batches for r in b]), BUSINESS)
    assert stored(uri) == canonical(reference)


def test_the_later_extraction_wins_an_instant_whatever_the_batch_order(uri, tmp_path):
    # two edits in one second of the source's clock, read by two runs; a third run re-reads the second
    batches = [[v("1", 0, "a", extracted=0), v("2", 1, "p", extracted=0)],
               [v("1", 1, "x", run=1, extracted=1)],
               [v("1", 1, "y", run=2, extracted=2), v("2", 1, "p", deleted=True, extracted=2)],
               [v("1", 1, "y", run=3, extracted=3)]]
    for b in batches:
        apply(uri, b, target_file_rows=1)
    other = str(tmp_path / "reversed")
    for b in reversed(batches):
        apply(other, b, target_file_rows=1)
    assert stored(uri) == stored(other)
    rows = stored(uri)
    assert [(r["source_id"], r["name"], r["is_deleted"], r["run_id"], r["is_current"]) for r in rows] == [
        ("1", "a", False, "run-001", False), ("1", "y", False, "run-003", True), ("2", "p", True, "run-001", True)]
    assert_invariants(DeltaTable(uri).to_pyarrow_table())


def test_consecutive_deletes_are_one_deleted_row(uri):
    apply(uri, [v("1", 1, "a")])
    apply(uri, [v("1", 2, "a", deleted=True, extracted=2)])
    result = apply(uri, [v("1", 3, "b", deleted=True, extracted=3)])  # a delete repeating other values
    assert result.stats.unchanged_skipped == 1
    assert [(r["is_deleted"], r["is_current"]) for r in stored(uri)] == [(False, False), (True, True)]


# -------------------------------------------------------------------------------- the stats


def test_stats_of_a_mixed_batch(uri):
    apply(uri, [v("1", 1, "a"), v("2", 1, "a"), v("3", 1, "a"), v("5", 1, "a"), v("5", 9, "q")])
    result = apply(uri, [
        v("1", 2, "b"),                    # closes key 1's row, opens a new one
        v("2", 2, "a", by="bob"),          # unchanged: absorbed into key 2's row
        v("3", 1, "a"),                    # duplicate of what is stored
        v("4", 1, "a"), v("4", 1, "a"),    # a new key, twice
        v("5", 5, "q"),                    # late: q(5) joins q(9)'s run, which now starts at 5
    ])
    assert result.stats == Scd2Stats(
        versions_received=6, duplicates=2, unchanged_skipped=1, new_versions=3,
        rows_inserted=3, rows_updated=3, rows_closed=1, rows_removed=1,
        keys_received=5, keys_new=1, keys_affected=4,
    )
    assert result.attempts == 1 and result.table_version == 2
    meta = DeltaTable(uri).history(1)[0]
    assert meta["avesa.stats"]["new_versions"] == 3


# ----------------------------------------------------------------------------- the layout


def test_partitioned_by_is_current_and_readable_by_any_delta_reader(uri):
    apply(uri, [v("1", 1, "a"), v("1", 2, "b"), v("2", 1, "z")])
    dt = DeltaTable(uri)
    assert dt.metadata().partition_columns == ["is_current"]
    paths = {f.split("/")[-2] for f in dt.file_uris()}
    assert paths == {"is_current=true", "is_current=false"}
    current = read_canonical(uri, current_only=True)
    assert sorted(current.column("source_id").to_pylist()) == ["1", "2"]
    assert dt.schema().to_arrow().field("record_hash").type is not None


def test_a_merge_rewrites_only_the_files_holding_changed_keys(uri):
    apply(uri, [v(str(i), 1, "a") for i in range(10)], target_file_rows=4)  # 3 current files
    before = data_files(uri)
    assert len(before) == 3
    result = apply(uri, [v("0", 2, "b")], target_file_rows=4)
    after = data_files(uri)
    assert result.files_removed == 1 and len(before - after) == 1
    assert result.rows_copied == 3  # the other keys of the one rewritten file


def test_file_statistics_are_right_for_pruning(uri):
    apply(uri, [v(str(i), i, "a") for i in range(10)], target_file_rows=3)
    apply(uri, [v("3", 20, "b")], target_file_rows=3)
    dataset = canonical_dataset(uri)  # deltalake's dataset: fragments carry the add actions' stats
    for sid in ("0", "3", "9"):
        got = dataset.to_table(filter=ds.field("source_id") == sid).column("source_id").to_pylist()
        assert set(got) == {sid}
    micro = at(20).replace(microsecond=999)  # stats are milliseconds: the bounds must be outward
    exact = canonical_dataset(uri)
    assert exact.to_table(filter=ds.field("effective_start_date") == pa.scalar(at(20), pa.timestamp("us", "UTC"))
                          ).num_rows == 1
    assert exact.to_table(filter=ds.field("effective_start_date") == pa.scalar(micro, pa.timestamp("us", "UTC"))
                          ).num_rows == 0
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True))
    assert all(n is not None for n in actions.column("num_records").to_pylist())


def test_microsecond_timestamps_survive_and_prune(uri):
    row = v("1", 1, "a")
    row["last_updated"] = row["last_updated"].replace(microsecond=123_456)
    apply(uri, [row])
    got = canonical_dataset(uri).to_table(
        filter=ds.field("effective_start_date") >= pa.scalar(row["last_updated"], pa.timestamp("us", "UTC")))
    assert got.num_rows == 1 and got.column("last_updated")[0].as_py() == row["last_updated"]


def test_small_current_files_are_coalesced(uri):
    apply(uri, [v(str(i), 1, "a") for i in range(40)], target_file_rows=40)
    for t in range(2, 14):  # each merge writes one small file of new current rows
        apply(uri, [v(str(t), t, "b")], target_file_rows=40)
    current = [f for f in DeltaTable(uri).file_uris() if "is_current=true" in f]
    assert len(current) <= delta_tables.MAX_SMALL_FILES + 2
    assert_invariants(DeltaTable(uri).to_pyarrow_table())
    assert len(read_canonical(uri, current_only=True)) == 40


def test_the_table_grows_new_columns(uri):
    apply(uri, [v("1", 1, "a")])
    rows = table([v("1", 2, "a"), v("2", 1, "z")])
    wider = rows.append_column("region", pa.array([None, "emea"], pa.string()))
    merge_scd2(uri, wider, [*BUSINESS, "region"])
    got = stored(uri)
    assert "region" in DeltaTable(uri).schema().to_arrow().names
    # key 1's new version only adds a null column: same hash, absorbed, no new row
    assert [(r["source_id"], r["region"]) for r in got] == [("1", None), ("2", "emea")]
    with pytest.raises(InvalidVersionsError, match="column types"):
        merge_scd2(uri, rows.set_column(rows.schema.get_field_index("amount"), "amount",
                                        pc.cast(rows.column("amount"), pa.string())), BUSINESS)


def test_bad_versions_write_nothing(uri):
    with pytest.raises(InvalidVersionsError):
        apply(uri, [{**v("1", 1), "last_updated": None}])
    assert not os.path.exists(uri)


# ---------------------------------------------------------------------------- concurrency


def test_a_concurrent_commit_makes_the_merge_retry(uri):
    apply(uri, [v("1", 1, "a")])
    other = [v("2", 1, "z"), v("1", 2, "c")]
    interfered = []

    def someone_else_commits_first() -> None:
        if not interfered:
            interfered.append(True)
            apply(uri, other)

    result = apply(uri, [v("1", 3, "b")], before_commit=someone_else_commits_first)
    assert result.attempts == 2
    reference, _ = merge_versions(None, table([v("1", 1, "a"), *other, v("1", 3, "b")]), BUSINESS)
    assert stored(uri) == canonical(reference)
    assert orphans(uri) == set()  # the failed attempt deleted what it wrote


def test_conflicts_beyond_the_bound_raise_a_transient_error(uri):
    apply(uri, [v("1", 1, "a")])
    n = [0]

    def always_first() -> None:
        n[0] += 1
        apply(uri, [v("9", n[0], "z")])

    with pytest.raises(MergeConflictError):
        apply(uri, [v("1", 3, "b")], before_commit=always_first, max_attempts=2)
    assert all(r["name"] != "b" for r in stored(uri))
    assert orphans(uri) == set()


def test_concurrent_writers_threads(uri):
    apply(uri, [v("0", 0, "seed")])
    batches = [[v(str(k), t, f"n{t}") for k in range(4)] for t in range(1, 5)]
    errors = []

    def run(batch: list[dict]) -> None:
        try:
            apply(uri, batch, max_attempts=20)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    reference, _ = merge_versions(None, table([v("0", 0, "seed"), *[r for b in batches for r in b]]), BUSINESS)
    assert stored(uri) == canonical(reference)


def test_optimize_history_keeps_the_table_and_merges_go_on(uri):
    everything = []
    for t in range(1, 5):
        rows = [v(str(k), t, f"n{t}") for k in range(6)]
        everything += rows
        apply(uri, rows)
    assert delta_tables.optimize_history(uri)["numFilesRemoved"] >= 2
    late = [v("3", 0, "early"), v("4", 9, "x")]  # touches files delta-rs wrote
    apply(uri, late)
    reference, _ = merge_versions(None, table(everything + late), BUSINESS)
    assert stored(uri) == canonical(reference)


def test_history_metadata_is_json(uri):
    apply(uri, [v("1", 1, "a")])
    entry = DeltaTable(uri).history(1)[0]
    json.dumps(entry["avesa.stats"])
    assert entry["avesa.operation"] == "scd2_merge"


# --------------------------------------------------------------------------------- memory


def test_memory_is_bounded_by_a_file_and_the_affected_keys(uri, monkeypatch):
    """Whatever the table size, a merge holds one data file per worker (never the table) and
    hands the timeline logic only the affected keys' rows."""
    apply(uri, [v(str(i), 1, "a") for i in range(600)], target_file_rows=50)
    reads, computed = [], []
    real_read, real_compute = delta_merge.read_data_file, delta_merge.compute_changes

    def spy_read(*args, **kwargs):
        out = real_read(*args, **kwargs)
        reads.append(out.num_rows)
        return out

    def spy_compute(existing, versions, *args, **kwargs):
        computed.append(0 if existing is None else existing.num_rows)
        return real_compute(existing, versions, *args, **kwargs)

    monkeypatch.setattr(delta_merge, "read_data_file", spy_read)
    monkeypatch.setattr(delta_merge, "compute_changes", spy_compute)
    changed = [str(i) for i in range(0, 600, 60)]  # 10 keys spread over the table
    result = apply(uri, [v(k, 2, "b") for k in changed], target_file_rows=50)
    assert result.stats.rows_closed == 10
    assert max(reads) <= 50
    assert sum(computed) == 10  # only the changed keys' current rows reached the timeline logic


# ------------------------------------------------------------------ statistics at the edges

ASTRAL_IDS = ["\U0001F600", "id-\U00020000", "\U0001F468\u200d\U0001F4BB", "\U00010000x", "z\U0010FFFD", "plain"]


def delta_reader(uri: str) -> ds.Dataset:
    """deltalake's own dataset: it prunes files with the add actions' statistics, as written."""
    return DeltaTable(uri).to_pyarrow_dataset()


def test_keys_outside_the_basic_multilingual_plane_keep_one_current_row(uri):
    apply(uri, [v(k, 1, "a") for k in ASTRAL_IDS], target_file_rows=1)  # a file per key
    apply(uri, [v(k, 2, "b") for k in ASTRAL_IDS], target_file_rows=1)
    rows = stored(uri)
    assert_invariants(DeltaTable(uri).to_pyarrow_table())
    assert sorted(r["source_id"] for r in rows if r["is_current"]) == sorted(ASTRAL_IDS)
    assert all(r["name"] == "b" for r in rows if r["is_current"])
    for key in ASTRAL_IDS:  # the statistics round-trip: a filtered read finds every key's rows
        got = delta_reader(uri).to_table(filter=ds.field("source_id") == key)
        assert sorted(got.column("name").to_pylist()) == ["a", "b"], key


def test_files_written_with_escaped_statistics_are_still_merged_right(uri, monkeypatch):
    """Tables written before statistics went out as UTF-8 hold surrogate escapes deltalake decodes
    wrongly (U+20000 as U+10000): their bounds are not trusted, so the merge still finds the row."""
    real = delta_writer.file_stats

    def escaped(table: pa.Table) -> str:
        return json.dumps(json.loads(real(table)))  # what the old writer wrote: ASCII escapes

    monkeypatch.setattr(delta_writer, "file_stats", escaped)
    apply(uri, [v(k, 1, "a") for k in ASTRAL_IDS], target_file_rows=1)
    monkeypatch.undo()
    apply(uri, [v(k, 2, "b") for k in ASTRAL_IDS], target_file_rows=1)
    assert_invariants(DeltaTable(uri).to_pyarrow_table())
    for key in ASTRAL_IDS:  # AVESA's own reads do not trust those bounds either
        got = canonical_dataset(uri).to_table(filter=ds.field("source_id") == key)
        assert sorted(got.column("name").to_pylist()) == ["a", "b"], key


def test_long_and_astral_string_bounds_still_bound_their_values(uri):
    long_ids = ["k" * 63 + "\U00020000" + "tail", "k" * 70, "\U0010FFFF" * 80 + "x", "k" * 64]
    apply(uri, [v(k, 1, "a") for k in long_ids], target_file_rows=2)
    for key in long_ids:
        got = delta_reader(uri).to_table(filter=ds.field("source_id") == key)
        assert got.column("source_id").to_pylist() == [key]


EDGE_TIMES = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
              datetime(1000, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC),
              datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
              datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)]


@pytest.mark.parametrize("files", [1, 100])
def test_timestamps_at_the_calendar_edges_survive_filtered_reads(uri, files):
    rows = [{**v(str(i), 0, "a"), "last_updated": t} for i, t in enumerate(EDGE_TIMES)]
    apply(uri, rows, target_file_rows=files)
    ts = pa.timestamp("us", "UTC")
    for i, t in enumerate(EDGE_TIMES):
        for expr in (ds.field("last_updated") == pa.scalar(t, ts), ds.field("effective_start_date") >= pa.scalar(t, ts),
                     ds.field("effective_start_date") <= pa.scalar(t, ts)):
            got = set(delta_reader(uri).to_table(filter=expr).column("source_id").to_pylist())
            assert str(i) in got, (t, str(expr))
    # a later version of the year-1 key closes its row: the merge found it through the same statistics
    apply(uri, [{**v("0", 0, "b"), "last_updated": datetime(1, 1, 2, tzinfo=UTC)}], target_file_rows=files)
    assert [(r["name"], r["is_current"]) for r in stored(uri) if r["source_id"] == "0"] == [("a", False), ("b", True)]


def test_filters_on_columns_without_file_statistics_find_their_rows(uri):
    """Business columns carry no file statistics; a filtered read (pyarrow or DuckDB over the
    dataset) must read the files rather than skip them."""
    import duckdb

    apply(uri, [v("1", 1, "a", amount=7), v("1", 2, "b", amount=7), v("2", 1, "c", amount=8)])
    dataset = canonical_dataset(uri)
    assert dataset.to_table(filter=ds.field("name") == "b").column("source_id").to_pylist() == ["1"]
    assert dataset.to_table(filter=ds.field("amount") == 7).num_rows == 2
    con = duckdb.connect()
    con.register("companies", dataset)
    current = con.sql("SELECT count(*) FROM companies WHERE amount = 7 AND effective_end_date IS NULL")
    assert current.fetchall() == [(1,)]
    assert con.sql("SELECT source_id FROM companies WHERE name = 'c'").fetchall() == [("2",)]
