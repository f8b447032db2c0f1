"""Property: the same versions, split into any batches, applied in any order, any number of times,
give the same table — equal in every column — and that table is the one the rules call for: the
later extraction wins an instant, consecutive deletes are one row, -0.0 and 0.0 are one value, and
ids outside the Basic Multilingual Plane and instants in year 1 and year 9999 are ordinary data."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.transform.scd2 import check_timeline, merge_versions
from tests.transform.scd2_support import (
    BUSINESS,
    assert_invariants,
    canonical,
    expected_timeline,
    observed_timeline,
    schedules,
    table,
    version_sets,
)

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data())
def test_any_split_any_order_any_repeats_gives_the_same_table(data):
    vary_authors = data.draw(st.booleans())
    versions = data.draw(version_sets(vary_authors=vary_authors, edges=data.draw(st.booleans())))
    reference, _ = merge_versions(None, table(versions), BUSINESS)
    result = None
    for batch in data.draw(schedules(versions)):
        result, stats = merge_versions(result, table(batch), BUSINESS)
        assert stats.versions_received == stats.duplicates + stats.unchanged_skipped + stats.new_versions
    assert canonical(result) == canonical(reference)
    assert_invariants(result)
    assert check_timeline(result) == []
    if not vary_authors:  # the oracle models rivals that differ in content or in load only
        assert observed_timeline(reference) == expected_timeline(versions)


@settings(SETTINGS, max_examples=30)
@given(st.booleans().flatmap(lambda edges: version_sets(edges=edges)))
def test_merging_into_itself_is_a_no_op(versions):
    once, _ = merge_versions(None, table(versions), BUSINESS)
    twice, stats = merge_versions(once, table(versions), BUSINESS)
    assert canonical(twice) == canonical(once)
    assert stats.rows_inserted == stats.rows_updated == stats.rows_removed == 0
    assert stats.duplicates == len(versions)
