import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from avesa.pipeline.plan import split_range

BASE = datetime(2024, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=1, max_value=10**8),
       st.integers(min_value=1, max_value=500))
def test_chunks_tile_the_range_exactly(offset: int, length: int, pieces: int) -> None:
    start = BASE + timedelta(seconds=offset)
    end = start + timedelta(seconds=length)
    ranges = split_range(start, end, pieces)
    assert ranges[0][0] == start and ranges[-1][1] == end
    for (lo, hi), (next_lo, _) in itertools.pairwise(ranges):
        assert lo < hi and hi == next_lo  # contiguous, non-overlapping, non-empty
    assert len(ranges) <= pieces
    assert all(lo.microsecond == 0 and hi.microsecond == 0 for lo, hi in ranges)
