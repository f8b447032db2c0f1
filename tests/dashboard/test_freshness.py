"""Freshness targets and buckets: the most specific target wins, and a table's colour only ever
gets worse as its data ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from avesa.dashboard.freshness import Bucket, freshness, short_duration, target_for
from avesa.settings import Settings

ORDER = [Bucket.FRESH, Bucket.LATE, Bucket.STALE]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_most_specific_target_wins(tmp_path) -> None:
    settings = Settings(home=tmp_path, freshness_target_hours=12, freshness_targets={
        "service_tickets": 2, "servicenow/service_tickets": 3, "acme/connectwise/service_tickets": 1})
    assert target_for(settings, "acme", "connectwise", "service_tickets") == timedelta(hours=1)
    assert target_for(settings, "other", "servicenow", "service_tickets") == timedelta(hours=3)
    assert target_for(settings, "other", "connectwise", "service_tickets") == timedelta(hours=2)
    assert target_for(settings, "acme", "connectwise", "time_entries") == timedelta(hours=12)


def test_targets_come_from_the_environment_and_must_be_positive(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVESA_FRESHNESS_TARGETS", '{"service_tickets": 0.5}')
    monkeypatch.setenv("AVESA_FRESHNESS_TARGET_HOURS", "6")
    settings = Settings(home=tmp_path)
    assert target_for(settings, "t", "connectwise", "service_tickets") == timedelta(minutes=30)
    assert target_for(settings, "t", "connectwise", "time_entries") == timedelta(hours=6)
    for refused in ('{"service_tickets": -1}', '{"service_tickets": 1e9}'):
        monkeypatch.setenv("AVESA_FRESHNESS_TARGETS", refused)
        with pytest.raises(ValidationError, match="freshness_targets"):
            Settings(home=tmp_path)
    monkeypatch.delenv("AVESA_FRESHNESS_TARGETS")
    monkeypatch.setenv("AVESA_FRESHNESS_TARGET_HOURS", "inf")
    with pytest.raises(ValidationError, match="freshness_target_hours"):
        Settings(home=tmp_path)


@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(1, 1e5))
def test_a_bucket_never_improves_as_data_ages(a: float, b: float, target_seconds: float) -> None:
    target = timedelta(seconds=target_seconds)
    younger, older = sorted((a, b))
    first = freshness(NOW - timedelta(seconds=younger), target, NOW)
    second = freshness(NOW - timedelta(seconds=older), target, NOW)
    assert ORDER.index(first.bucket) <= ORDER.index(second.bucket)
    assert (first.bucket is Bucket.FRESH) == (first.age <= target)


def test_a_sync_that_reads_past_now_is_fresh_with_no_age_and_none_is_never() -> None:
    ahead = freshness(NOW + timedelta(minutes=5), timedelta(hours=1), NOW)
    assert ahead.bucket is Bucket.FRESH and ahead.age == timedelta(0)
    assert freshness(None, timedelta(hours=1), NOW).bucket is Bucket.NEVER


@pytest.mark.parametrize(("seconds", "shown"), [(42, "42s"), (600, "10m"), (3 * 3600 + 300, "3h 05m"),
                                                (4 * 86400 + 7200, "4d 02h")])
def test_ages_fit_a_cell(seconds: int, shown: str) -> None:
    assert short_duration(timedelta(seconds=seconds)) == shown
    assert short_duration(None) == "—"
