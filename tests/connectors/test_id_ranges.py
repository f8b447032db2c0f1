"""Cutting the id space into ranges (connectors/id_ranges.py): whatever the known ids, the ranges
cover every id exactly once — numbers in numeric order (ConnectWise), text in text order
(sys_ids, Salesforce ids) — so a listing by ranges lists what one walk lists."""

from __future__ import annotations

from itertools import pairwise

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from avesa.connectors.id_ranges import MAX_RANGES, WHOLE, IdRange, in_id_order, range_count, split
from avesa.pipeline import id_listing
from avesa.pipeline.id_listing import plan_ranges

numbers = st.integers(min_value=0, max_value=10**12).map(str)
sys_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
salesforce_ids = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                         min_size=18, max_size=18)
id_kinds = st.sampled_from([numbers, sys_ids, salesforce_ids])


def assert_partition(ranges: list[IdRange], ids: list[str]) -> None:
    assert ranges[0].after is None and ranges[-1].through is None
    assert all(a.through == b.after for a, b in pairwise(ranges))
    for rid in ids:
        assert sum(r.holds(rid) for r in ranges) == 1, (rid, ranges)


@given(id_kinds.flatmap(lambda kind: st.tuples(st.lists(kind), st.lists(kind, max_size=30))),
       st.integers(min_value=-1, max_value=20))
def test_ranges_cover_every_id_exactly_once(known_and_other: tuple[list[str], list[str]], count: int) -> None:
    """Known ids (duplicates and all) place the boundaries; ids the source holds beyond them — new
    records, and whatever lies between — still fall in exactly one range."""
    known, other = known_and_other
    ordered = in_id_order(known)
    ranges = split(ordered, count)
    assert 1 <= len(ranges) <= max(1, min(count, len(set(known))))
    assert_partition(ranges, known + other)


@given(st.lists(numbers, min_size=1))
def test_numbers_are_in_numeric_order_and_text_in_text_order(ids: list[str]) -> None:
    assert in_id_order(ids) == sorted(set(ids), key=int)
    text = [f"x{rid}" for rid in ids]
    assert in_id_order(text) == sorted(set(text))


def test_no_known_id_is_one_unbounded_range() -> None:
    assert split([], 8) == [WHOLE] and split(["5"], 1) == [WHOLE]
    assert WHOLE.holds("anything") and plan_ranges(known([]), 1000) == [WHOLE]


def test_ranges_share_the_known_ids_evenly() -> None:
    ranges = split([str(i) for i in range(1, 101)], 4)
    assert [(r.after, r.through) for r in ranges] == [(None, "25"), ("25", "50"), ("50", "75"), ("75", None)]


@given(st.integers(min_value=0, max_value=10**7), st.integers(min_value=1, max_value=10_000))
def test_small_tables_list_in_one_walk_and_large_ones_in_a_few_ranges(ids: int, page_size: int) -> None:
    count = range_count(ids, page_size)
    pages = -(-ids // page_size)
    assert 1 <= count <= MAX_RANGES
    if pages < 4:
        assert count == 1
    else:
        assert count == min(MAX_RANGES, pages // 2)


def test_a_fifteen_page_table_is_cut_in_seven_and_a_huge_one_in_eight() -> None:
    assert range_count(15_000, 1000) == 7
    assert range_count(3_000, 1000) == 1
    assert range_count(10**7, 1000) == MAX_RANGES


def test_plan_ranges_counts_distinct_ids_and_samples_a_large_table(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [str(i) for i in range(1, 4_001)]
    ranges = plan_ranges(known([*ids, *ids]), 1000)  # a run's raw ids and the canonical keys overlap
    assert len(ranges) == range_count(4_000, 1000) == 2
    assert_partition(ranges, ["0", *ids, "4001", "99999"])

    monkeypatch.setattr(id_listing, "SAMPLE", 100)  # boundaries from a sample: still a partition
    sampled = known([str(i) for i in range(1, 20_001)])
    assert sampled.distinct == 20_000 and 100 <= len(sampled.sample) <= 101
    ranges = plan_ranges(sampled, 1000)
    assert len(ranges) == range_count(20_000, 1000) == MAX_RANGES
    assert_partition(ranges, [str(i) for i in range(0, 20_002, 7)])
    through = [int(r.through) for r in ranges if r.through is not None]  # the sample spreads them out
    assert all(abs(b - 2_500 * (j + 1)) <= 200 for j, b in enumerate(through)), through


def known(ids: list[str]) -> id_listing.KnownIds:
    return id_listing.known_ids(pa.chunked_array([pa.array(ids, pa.string())]))
