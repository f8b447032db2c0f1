"""Chunk planning: dense windows are bisected, sparse ones joined, and the chunks always tile the range
with exact counts."""

from __future__ import annotations

import asyncio
import bisect
import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from avesa.pipeline.chunking import plan_spans, target_records

START = datetime(2024, 1, 1, tzinfo=UTC)
LENGTH = 400 * 86400  # seconds


def _counter(stamps: list[datetime], calls: list[int]):
    async def count(lo: datetime, hi: datetime) -> int:
        calls.append(1)
        return bisect.bisect_left(stamps, hi) - bisect.bisect_left(stamps, lo)

    return count


@settings(max_examples=60, deadline=None)
@given(offsets=st.lists(st.one_of(st.integers(0, LENGTH - 1), st.integers(0, 3600)), min_size=1, max_size=3000),
       target=st.integers(10, 500))
def test_spans_tile_the_range_and_hold_exact_counts(offsets: list[int], target: int) -> None:
    stamps = sorted(START + timedelta(seconds=o) for o in offsets)
    end = START + timedelta(seconds=LENGTH)
    calls: list[int] = []
    spans = asyncio.run(plan_spans(START, end, len(stamps), target, _counter(stamps, calls)))
    assert spans[0][0] == START and spans[-1][1] == end
    for (_, hi, _), (lo, _, _) in itertools.pairwise(spans):
        assert hi == lo  # contiguous: no record can fall between chunks
    assert sum(n for _, _, n in spans) == len(stamps)
    for lo, hi, n in spans:
        assert n == bisect.bisect_left(stamps, hi) - bisect.bisect_left(stamps, lo)
        dense = n > 1.5 * target
        assert not dense or hi - lo <= timedelta(seconds=1) or len(calls) > 0


def test_a_burst_in_one_minute_is_cut_finely_and_a_quiet_year_stays_one_chunk() -> None:
    quiet = [START + timedelta(days=d) for d in range(0, 360, 30)]  # 12 records over a year
    burst = [START + timedelta(days=365, seconds=s % 60) for s in range(3000)]  # 3,000 in one minute
    stamps = sorted(quiet + burst)
    end = START + timedelta(days=366)
    spans = asyncio.run(plan_spans(START, end, len(stamps), 500, _counter(stamps, [])))
    widths = [hi - lo for lo, hi, _ in spans]
    assert widths[0] > timedelta(days=300)  # the quiet year (and the empty edges) is one chunk
    assert max(n for _, _, n in spans) <= 750  # the burst is split into pieces of about the target
    assert len(spans) >= 6


def test_an_api_that_cannot_count_keeps_the_even_guess() -> None:
    async def cannot(lo: datetime, hi: datetime) -> None:
        return None

    spans = asyncio.run(plan_spans(START, START + timedelta(days=10), 1000, 250, cannot))
    assert len(spans) == 4 and sum(n for *_, n in spans) == 1000


def test_target_follows_the_measured_speed_but_never_below_a_page() -> None:
    assert target_records(5000, 1000, None, 600) == 5000
    assert target_records(5000, 1000, 10.0, 600) == 3000  # 10 records/s x 600 s x 0.5
    assert target_records(5000, 1000, 1.0, 600) == 1000  # one page at least


@settings(max_examples=200, deadline=None)
@given(pieces=st.integers(2, 16), start_offset=st.integers(0, 1000), micro=st.integers(0, 999_999),
       length=st.integers(1, LENGTH))
def test_split_points_cut_the_range_strictly_inside_in_order(pieces: int, start_offset: int, micro: int,
                                                              length: int) -> None:
    from avesa.pipeline.chunking import split_points

    start = START + timedelta(seconds=start_offset, microseconds=micro)
    end = start + timedelta(seconds=length)
    bounds = split_points(start, end, pieces)
    assert len(bounds) <= pieces - 1
    assert all(start < b < end for b in bounds)
    assert bounds == sorted(set(bounds))


def test_a_chunk_halves_when_dense_or_when_slots_would_idle_but_never_for_its_last_page() -> None:
    from avesa.pipeline.chunking import should_halve

    def spare(n: int):
        return lambda: n

    assert should_halve(8_001, 4000, 1000, None)  # more than two chunks' worth left
    assert not should_halve(8_000, 4000, 1000, None)
    assert not should_halve(8_000, 4000, 1000, spare(0))  # nobody idle
    assert should_halve(1_001, 4000, 1000, spare(3))  # idle slots take part of a chain
    assert not should_halve(1_000, 4000, 1000, spare(3))  # one page left: nothing to share
