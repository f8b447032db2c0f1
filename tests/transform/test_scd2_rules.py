"""The SCD2 rules on the pure functions (the same rules through a real Delta table are in
tests/lake/test_delta_scd2.py)."""

from __future__ import annotations

import json
import struct

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from avesa.domain.errors import AvesaError
from avesa.transform.scd2 import (
    InvalidVersionsError,
    Scd2Stats,
    check_timeline,
    compute_changes,
    merge_versions,
    normalize_versions,
)
from tests.transform.scd2_support import BUSINESS, absorbed_times, assert_invariants, at, canonical, table, v


def merge(existing: pa.Table | None, rows: list[dict]) -> tuple[pa.Table, Scd2Stats]:
    return merge_versions(existing, table(rows), BUSINESS)


def starts(t: pa.Table, sid: str = "1") -> list:
    return [r["effective_start_date"] for r in canonical(t) if r["source_id"] == sid]


def test_validity_comes_from_the_source_timestamp_not_load_time():
    t, _ = merge(None, [v("1", 5, "a", run=9), v("1", 7, "b", run=1)])
    rows = canonical(t)
    assert [r["effective_start_date"] for r in rows] == [at(5), at(7)]
    assert [r["effective_end_date"] for r in rows] == [at(7), None]
    assert [r["is_current"] for r in rows] == [False, True]
    assert_invariants(t)


def test_a_version_with_the_same_hash_as_the_one_before_is_not_a_new_row():
    t, stats = merge(None, [v("1", 1, "a"), v("1", 2, "a", by="bob"), v("1", 3, "b")])
    rows = canonical(t)
    assert [r["name"] for r in rows] == ["a", "b"]
    assert absorbed_times(rows[0]) == [at(2)]
    entry = json.loads(rows[0]["absorbed_versions"])[0]
    assert entry["last_updated_by"] == "bob" and entry["run_id"] == "run-001"
    assert stats.unchanged_skipped == 1 and stats.new_versions == 2


def test_non_business_columns_do_not_make_a_version():
    t, _ = merge(None, [v("1", 1, "a", by="alice"), v("1", 2, "a", by="bob", run=2)])
    assert t.num_rows == 1


def test_several_versions_of_a_key_in_one_batch_are_all_kept_in_order():
    t, stats = merge(None, [v("1", 3, "c"), v("1", 1, "a"), v("1", 2, "b")])
    assert [r["name"] for r in canonical(t)] == ["a", "b", "c"]
    assert stats == Scd2Stats(versions_received=3, new_versions=3, rows_inserted=3, keys_received=1, keys_new=1,
                              keys_affected=1)


def test_a_late_version_is_placed_where_it_belongs():
    t, _ = merge(None, [v("1", 1, "a"), v("1", 5, "c")])
    t, stats = merge(t, [v("1", 3, "b")])
    assert [(r["name"], r["effective_start_date"], r["effective_end_date"]) for r in canonical(t)] == [
        ("a", at(1), at(3)), ("b", at(3), at(5)), ("c", at(5), None)]
    assert stats.rows_inserted == 1 and stats.rows_updated == 1 and stats.rows_closed == 0
    assert_invariants(t)


def test_a_late_version_splits_a_row_that_absorbed_a_later_version():
    # v1 and v3 hash the same and are stored as one row; v2 arrives late between them
    t, _ = merge(None, [v("1", 1, "a", by="alice"), v("1", 3, "a", by="carol")])
    assert t.num_rows == 1
    t, stats = merge(t, [v("1", 2, "b")])
    rows = canonical(t)
    assert [(r["name"], r["effective_start_date"]) for r in rows] == [("a", at(1)), ("b", at(2)), ("a", at(3))]
    assert rows[2]["last_updated_by"] == "carol"  # v3 comes back with its own columns
    assert all(r["absorbed_versions"] is None for r in rows)
    assert stats.new_versions == 1 and stats.rows_inserted == 2 and stats.rows_updated == 1
    everything_at_once, _ = merge(None, [v("1", 1, "a"), v("1", 3, "a", by="carol"), v("1", 2, "b")])
    assert canonical(t) == canonical(everything_at_once)


def test_a_late_version_equal_to_its_neighbours_is_absorbed():
    t, _ = merge(None, [v("1", 1, "a"), v("1", 5, "b")])
    t, stats = merge(t, [v("1", 3, "a")])
    rows = canonical(t)
    assert [r["name"] for r in rows] == ["a", "b"] and absorbed_times(rows[0]) == [at(3)]
    assert stats.unchanged_skipped == 1 and stats.rows_updated == 1


def test_a_late_version_can_make_two_rows_one():
    # a(1) b(3) stored; a late b(2) makes the row starting at 3 an absorbed version of the row at 2
    t, _ = merge(None, [v("1", 1, "a"), v("1", 3, "b")])
    t, stats = merge(t, [v("1", 2, "b")])
    rows = canonical(t)
    assert [(r["name"], r["effective_start_date"]) for r in rows] == [("a", at(1)), ("b", at(2))]
    assert absorbed_times(rows[1]) == [at(3)]
    assert stats.rows_removed == 1 and stats.rows_inserted == 1 and stats.rows_updated == 1


def test_identical_duplicates_collapse():
    t, stats = merge(None, [v("1", 1, "a"), v("1", 1, "a"), v("1", 1, "a")])
    assert t.num_rows == 1
    assert stats.duplicates == 2 and stats.new_versions == 1


@pytest.mark.parametrize("order", [0, 1])
def test_rival_versions_at_one_instant_pick_deterministically(order):
    rivals = [v("1", 1, "x"), v("1", 1, "y")]
    one, _ = merge(None, rivals if order else rivals[::-1])
    other, _ = merge(merge(None, [rivals[order]])[0], [rivals[1 - order]])
    assert canonical(one) == canonical(other) and one.num_rows == 1


def test_at_one_instant_a_delete_wins():
    for rows in ([v("1", 1, "a"), v("1", 1, "a", deleted=True)], [v("1", 1, "a", deleted=True), v("1", 1, "a")]):
        t, _ = merge(None, rows)
        assert canonical(t)[0]["is_deleted"] is True


def test_a_reextracted_version_keeps_its_first_load():
    t, _ = merge(None, [v("1", 1, "a", run=1)])
    t2, stats = merge(t, [v("1", 1, "a", run=2)])
    assert canonical(t2) == canonical(t)
    assert stats.duplicates == 1 and stats.rows_inserted == stats.rows_updated == 0
    # and the other way round: the earlier load replaces the later one
    late_first, _ = merge(None, [v("1", 1, "a", run=2)])
    fixed, stats = merge(late_first, [v("1", 1, "a", run=1)])
    assert canonical(fixed) == canonical(t) and stats.rows_updated == 1


def test_delete_closes_and_a_later_version_reopens():
    t, _ = merge(None, [v("1", 1, "a")])
    t, stats = merge(t, [v("1", 2, "a", deleted=True)])
    rows = canonical(t)
    assert [(r["is_deleted"], r["is_current"]) for r in rows] == [(False, False), (True, True)]
    assert stats.rows_closed == 1 and stats.new_versions == 1
    t, _ = merge(t, [v("1", 3, "a")])
    rows = canonical(t)
    assert [(r["is_deleted"], r["is_current"]) for r in rows] == [(False, False), (True, False), (False, True)]
    assert_invariants(t)


def test_consecutive_deletes_are_one_row():
    t, _ = merge(None, [v("1", 1, "a"), v("1", 2, "a", deleted=True), v("1", 3, "a", deleted=True)])
    assert [r["is_deleted"] for r in canonical(t)] == [False, True]


def test_applying_the_same_batch_again_changes_nothing():
    rows = [v("1", 1, "a"), v("1", 2, "b"), v("2", 1, "z"), v("2", 2, "z")]
    t, _ = merge(None, rows)
    again, stats = merge(t, rows)
    assert canonical(again) == canonical(t)
    assert stats == Scd2Stats(versions_received=4, duplicates=4, keys_received=2)


def test_stats_of_a_mixed_batch():
    t, _ = merge(None, [v("1", 1, "a"), v("2", 1, "a"), v("3", 1, "a")])
    t, stats = merge(t, [
        v("1", 2, "b"),             # closes key 1's row, opens a new one
        v("2", 2, "a", by="bob"),   # unchanged: absorbed
        v("3", 1, "a"),             # duplicate of the stored version
        v("4", 1, "a"), v("4", 1, "a"),  # new key, duplicated in the batch
    ])
    assert stats == Scd2Stats(
        versions_received=5, duplicates=2, unchanged_skipped=1, new_versions=2,
        rows_inserted=2, rows_updated=2, rows_closed=1, rows_removed=0,
        keys_received=4, keys_new=1, keys_affected=3,
    )
    assert stats.versions_received == stats.duplicates + stats.unchanged_skipped + stats.new_versions
    assert "5 versions received" in stats.summary()


def test_compute_changes_needs_only_the_current_row_when_versions_are_newer():
    full, _ = merge(None, [v("1", 1, "a"), v("1", 2, "b"), v("1", 3, "c")])
    current_only = full.filter(pa.compute.field("is_current"))
    batch = normalize_versions(table([v("1", 4, "d")]), BUSINESS)
    change = compute_changes(current_only, batch, BUSINESS)
    assert change.removed.to_pylist() == [True]
    assert sorted((r["name"], r["is_current"]) for r in change.inserted.to_pylist()) == [("c", False), ("d", True)]


def test_absorbed_versions_round_trip_their_types():
    rows = [v("1", 1, "a", run=1), v("1", 2, "a", by="bob", run=3)]
    t, _ = merge(None, rows)
    # merging a late version forces the absorbed one to be rebuilt from JSON into a real row
    t, _ = merge(t, [v("1", 1, "b", run=1, amount=7)])
    t, _ = merge(t, [v("1", 1, "b", run=1, amount=7)])
    expected, _ = merge(None, [*rows, v("1", 1, "b", run=1, amount=7)])
    assert canonical(t) == canonical(expected)


def test_several_services_share_a_table_without_mixing_keys():
    t, _ = merge(None, [v("1", 1, "a", service="connectwise"), v("1", 2, "b", service="servicenow")])
    assert sorted((r["source_service"], r["is_current"]) for r in canonical(t)) == [
        ("connectwise", True), ("servicenow", True)]


def test_bad_versions_are_refused():
    with pytest.raises(InvalidVersionsError, match="null source_id"):
        merge(None, [{**v("1", 1), "source_id": None}])
    with pytest.raises(InvalidVersionsError, match="one tenant"):
        merge(None, [v("1", 1), {**v("2", 1), "tenant_id": "other"}])
    with pytest.raises(InvalidVersionsError, match="lacks required columns"):
        merge_versions(None, table([v("1", 1)]).drop_columns(["is_deleted"]), BUSINESS)
    with pytest.raises(InvalidVersionsError, match="SCD columns"):
        merge_versions(None, table([v("1", 1)]).append_column("is_current", pa.array([True])), BUSINESS)
    with pytest.raises(ValueError):  # also a plain ValueError, and an AvesaError for the pipeline
        merge_versions(None, table([v("1", 1)]), ["last_updated"])
    assert issubclass(InvalidVersionsError, AvesaError)


def test_input_types_are_normalised():
    t = table([v("1", 1, "a")])
    wide = pa.table({
        **{c: t.column(c) for c in t.column_names},
        "name": t.column("name").cast(pa.large_string()),
        "last_updated": t.column("last_updated").cast(pa.timestamp("ns", tz="UTC")),
    })
    a, _ = merge_versions(None, wide, BUSINESS)
    b, _ = merge_versions(None, t, BUSINESS)
    assert canonical(a) == canonical(b)


def test_check_timeline_reports_broken_tables():
    t, _ = merge(None, [v("1", 1, "a"), v("1", 2, "b")])
    assert check_timeline(t) == []
    broken = t.set_column(t.schema.get_field_index("is_current"), "is_current", pa.array([True, True]))
    assert any("is_current" in p for p in check_timeline(broken))


# ------------------------------------------------------------------------ edges of the rules


def test_at_one_instant_the_later_extraction_wins_in_any_batch_order():
    # two edits in one whole second of the source's clock: run 1 read the first, run 2 the second
    first = v("1", 1, "x", run=1, extracted=1)
    second = v("1", 1, "y", run=2, extracted=2)
    for batches in ([[first], [second]], [[second], [first]], [[first, second]], [[second, first], [first]]):
        t = None
        for b in batches:
            t, _ = merge(t, b)
        rows = canonical(t)
        assert [(r["name"], r["run_id"], r["is_current"]) for r in rows] == [("y", "run-002", True)], batches
    # a full sync re-reads the second edit: it stays; a re-read of the first cannot bring it back
    t, stats = merge(t, [v("1", 1, "y", run=3, extracted=3)])
    assert [(r["name"], r["run_id"]) for r in canonical(t)] == [("y", "run-003")]
    assert stats.duplicates == 1 and stats.new_versions == 0


def test_the_later_extraction_beats_a_delete_at_the_same_instant():
    deleted = v("1", 1, "x", deleted=True, extracted=1)
    recreated = v("1", 1, "x", extracted=2)
    for rows in ([deleted, recreated], [recreated, deleted]):
        t, _ = merge(merge(None, rows[:1])[0], rows[1:])
        assert [(r["is_deleted"], r["is_current"]) for r in canonical(t)] == [(False, True)]


def test_a_reextracted_version_refreshes_its_row_and_counts_as_a_duplicate():
    t, _ = merge(None, [v("1", 1, "a", run=1, extracted=1), v("1", 5, "b", run=1, extracted=1)])
    t, stats = merge(t, [v("1", 5, "b", run=2, extracted=2)])
    assert stats.duplicates == 1 and stats.new_versions == stats.unchanged_skipped == 0
    assert stats.rows_updated == 1 and stats.rows_inserted == 0
    assert [(r["name"], r["run_id"]) for r in canonical(t)] == [("a", "run-001"), ("b", "run-002")]
    again, stats = merge(t, [v("1", 5, "b", run=2, extracted=2)])  # the same extraction again
    assert canonical(again) == canonical(t) and stats.rows_updated == 0


def test_consecutive_deletes_with_different_values_are_one_deleted_row():
    live = v("1", 1, "a")
    deletes = [v("1", 3, "a", deleted=True), v("1", 5, "z", amount=9, deleted=True)]
    t, stats = merge(None, [live, *deletes])
    rows = canonical(t)
    assert [(r["name"], r["is_deleted"], r["is_current"]) for r in rows] == [("a", False, False), ("a", True, True)]
    assert absorbed_times(rows[1]) == [at(5)] and stats.unchanged_skipped == 1
    assert check_timeline(t) == []
    # a late live version between them splits them again: the second delete comes back as it was
    late = v("1", 4, "b")
    split, _ = merge(t, [late])
    assert [(r["name"], r["amount"], r["is_deleted"]) for r in canonical(split)] == [
        ("a", 1, False), ("a", 1, True), ("b", 1, False), ("z", 9, True)]
    assert canonical(split) == canonical(merge(None, [late, *deletes[::-1], live])[0])


def _bits(x: float) -> bytes:
    return struct.pack("<d", x)


OTHER_NAN = struct.unpack("<d", bytes.fromhex("0100f8ffffffffff"))[0]  # a NaN with another payload


@pytest.mark.parametrize("values", [(0.0, -0.0), (float("nan"), OTHER_NAN)])
def test_one_float_value_is_stored_alike_whichever_representation_came_first(values):
    a, b = (v("1", 1, "a", score=x) for x in values)
    one, _ = merge(merge(None, [a])[0], [b])
    other, _ = merge(merge(None, [b])[0], [a])
    assert one.num_rows == other.num_rows == 1
    assert _bits(one.column("score")[0].as_py()) == _bits(other.column("score")[0].as_py())
    assert canonical(one) == canonical(other)


def test_nanoseconds_that_would_make_two_versions_one_are_refused():
    t = table([v("1", 1, "a"), v("1", 1, "b"), v("2", 1, "c")])
    ns = pc.add(pc.cast(t.column("last_updated"), pa.timestamp("ns", tz="UTC")).cast(pa.int64()),
                pa.array([100, 900, 5], pa.int64())).cast(pa.timestamp("ns", tz="UTC"))
    with pytest.raises(InvalidVersionsError, match="nanoseconds"):
        merge_versions(None, t.set_column(t.schema.get_field_index("last_updated"), "last_updated", ns), BUSINESS)
    fine = pa.array([0, 1_000, 5], pa.int64())  # a microsecond apart: both kept, truncation is harmless
    ns = pc.add(pc.cast(t.column("last_updated"), pa.timestamp("ns", tz="UTC")).cast(pa.int64()),
                fine).cast(pa.timestamp("ns", tz="UTC"))
    kept, _ = merge_versions(None, t.set_column(t.schema.get_field_index("last_updated"), "last_updated", ns),
                             BUSINESS)
    assert [r["name"] for r in canonical(kept)] == ["a", "b", "c"]
