"""The shared rate budget's contract, on every back end (the `store` fixture): one token bucket per
(tenant, service) — a burst, then one slot per interval at the taker's rate — and a pause that holds
every taker until it ends and leaves no burst behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from avesa.state.base import StateStore

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_fresh_budget_allows_its_burst_then_one_request_per_interval(store: StateStore) -> None:
    # 60/minute = one a second, bursts of 3
    assert [store.take_rate_token("acme", "connectwise", 60, 3, T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert store.take_rate_token("acme", "connectwise", 60, 3, T0) == pytest.approx(1.0)
    assert store.take_rate_token("acme", "connectwise", 60, 3, _at(0.25)) == pytest.approx(0.75)
    assert store.take_rate_token("acme", "connectwise", 60, 3, _at(1.0)) == 0.0
    assert store.take_rate_token("acme", "connectwise", 60, 3, _at(1.0)) == pytest.approx(1.0)
    # idle for a minute: the bucket refills to its burst, never beyond
    assert [store.take_rate_token("acme", "connectwise", 60, 3, _at(61)) for _ in range(4)][:3] == [0.0] * 3
    assert store.take_rate_token("acme", "connectwise", 60, 3, _at(61)) > 0


def test_each_tenants_service_has_its_own_budget(store: StateStore) -> None:
    assert store.take_rate_token("acme", "connectwise", 60, 1, T0) == 0.0
    assert store.take_rate_token("acme", "connectwise", 60, 1, T0) > 0
    assert store.take_rate_token("acme", "servicenow", 60, 1, T0) == 0.0
    assert store.take_rate_token("globex", "connectwise", 60, 1, T0) == 0.0


def test_a_pause_holds_every_taker_until_it_ends_and_then_no_burst_goes_out(store: StateStore) -> None:
    assert store.take_rate_token("acme", "connectwise", 60, 5, T0) == 0.0
    store.pause_rate_budget("acme", "connectwise", _at(30))
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(10)) == pytest.approx(20.0)
    store.pause_rate_budget("acme", "connectwise", _at(20))  # a shorter pause does not cut the longer one
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(25)) == pytest.approx(5.0)
    # at its end the bucket is empty: requests resume at the rate, one a second, not in a burst of five
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(30)) == pytest.approx(1.0)
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(31)) == 0.0
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(31)) == pytest.approx(1.0)
    store.pause_rate_budget("acme", "connectwise", _at(40))  # a later pause extends it
    assert store.take_rate_token("acme", "connectwise", 60, 5, _at(35)) == pytest.approx(5.0)


def test_the_bucket_refills_at_the_rate_the_taker_sends_at(store: StateStore) -> None:
    assert store.take_rate_token("acme", "connectwise", 60, 1, T0) == 0.0
    # a worker that learnt the source allows only 30/minute waits two seconds, not one
    assert store.take_rate_token("acme", "connectwise", 30, 1, T0) == pytest.approx(2.0)


def test_a_pause_on_a_budget_nobody_used_yet_holds_too(store: StateStore) -> None:
    store.pause_rate_budget("acme", "connectwise", _at(5))
    assert store.take_rate_token("acme", "connectwise", 600, 10, T0) == pytest.approx(5.0)
    assert store.take_rate_token("acme", "connectwise", 600, 10, _at(5.1)) == 0.0
