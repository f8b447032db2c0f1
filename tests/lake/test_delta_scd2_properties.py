"""Property, through a real Delta table: any split, any order, any repeats -> the same table as the
pure in-memory merge of everything at once (every column), with the SCD2 invariants — keys outside
the Basic Multilingual Plane and instants in year 1 and year 9999 included, whose file statistics
every merge prunes with."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.dataset as ds
import pytest
from deltalake import DeltaTable
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.lake.delta_tables import merge_scd2
from avesa.transform.scd2 import check_timeline, merge_versions
from tests.transform.scd2_support import BUSINESS, assert_invariants, canonical, schedules, table, v, version_sets


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_delta_merge_matches_the_pure_merge_in_any_split_and_order(data):
    versions = data.draw(version_sets(vary_authors=data.draw(st.booleans()), edges=data.draw(st.booleans())))
    reference, _ = merge_versions(None, table(versions), BUSINESS)
    # tiny files, so keys spread over several current and history files
    target = data.draw(st.sampled_from([2, 3, 4, 6, 1000]))
    with tempfile.TemporaryDirectory() as tmp:
        uri = str(Path(tmp) / "t")
        for batch in data.draw(schedules(versions)):
            result = merge_scd2(uri, table(batch), BUSINESS, target_file_rows=target)
            s = result.stats
            assert s.versions_received == s.duplicates + s.unchanged_skipped + s.new_versions
        got = DeltaTable(uri).to_pyarrow_table()
    assert canonical(got) == canonical(reference)
    assert_invariants(got)
    assert check_timeline(got) == []


@pytest.mark.slow
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=80), min_size=1, max_size=4,
                unique=True))
def test_file_statistics_round_trip_every_unicode_key(keys):
    """Whatever text a key holds — astral characters, control characters, quotes, 80 code points —
    its file's statistics bound it: a filtered read through deltalake finds it, and a later
    version closes its row instead of opening a second current one."""
    with tempfile.TemporaryDirectory() as tmp:
        uri = str(Path(tmp) / "t")
        merge_scd2(uri, table([v(k, 1, "a") for k in keys]), BUSINESS, target_file_rows=1)
        merge_scd2(uri, table([v(k, 2, "b") for k in keys]), BUSINESS, target_file_rows=1)
        dataset = DeltaTable(uri).to_pyarrow_dataset()
        for key in keys:
            got = dataset.to_table(filter=ds.field("source_id") == key)
            assert sorted(got.column("name").to_pylist()) == ["a", "b"], repr(key)
        assert_invariants(DeltaTable(uri).to_pyarrow_table())
