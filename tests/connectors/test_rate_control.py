"""The rate a budget learns from 429s (rate_control.py) and how the budget paces by it: halved once
per burst of 429s, never above the documented rate nor below the floor, climbing back slowly, and
never a burst while it learns or right after it changed its pace."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.rate_control import DECREASE, MIN_PER_MINUTE, RECOVERY_SECONDS, AdaptiveRate
from avesa.connectors.rate_headers import Allowance

# (seconds until the event, how long before it the refused request was sent); None: no 429, time passes
EVENTS = st.lists(st.tuples(st.floats(0, 120), st.one_of(st.none(), st.floats(0, 30))), max_size=40)


@given(ceiling=st.floats(1, 100_000), events=EVENTS)
def test_the_rate_stays_within_bounds_halves_at_most_once_per_burst_and_only_climbs_between(
        ceiling: float, events: list[tuple[float, float | None]]) -> None:
    policy = AdaptiveRate(ceiling=ceiling)
    now = 0.0
    for gap, sent_before in events:
        before_gap = policy.rate(now)
        now += gap
        before = policy.rate(now)
        assert before >= before_gap - 1e-9 * ceiling  # with no 429, the rate only climbs
        assert min(MIN_PER_MINUTE, ceiling) <= before <= ceiling
        if sent_before is None:
            continue
        lowered_at = policy.lowered_at if policy.learning else None
        sent_at = now - sent_before
        lowered = policy.refused(now, sent_at)
        after = policy.rate(now)
        if lowered_at is not None and sent_at < lowered_at:
            assert not lowered and after == before  # sent at the old rate: it says nothing of the new one
        else:
            assert lowered and after == pytest.approx(max(policy.floor, before * DECREASE))


@given(ceiling=st.floats(10, 100_000), drops=st.integers(1, 12))
def test_without_429s_the_rate_is_back_at_the_documented_one_and_bursts_again(ceiling: float, drops: int) -> None:
    policy = AdaptiveRate(ceiling=ceiling)
    for n in range(drops):
        policy.refused(float(n), float(n))
    drew, lowered_at = policy.drew_429, policy.lowered_at
    assert drew is not None and policy.rate(lowered_at) == pytest.approx(max(policy.floor, drew * DECREASE))
    # back at the rate that drew the last 429 after RECOVERY_SECONDS, then faster: cubically
    assert policy.rate(lowered_at + RECOVERY_SECONDS) == pytest.approx(drew)
    assert policy.rate(drops + 20 * RECOVERY_SECONDS) == ceiling and not policy.learning


def test_a_burst_of_concurrent_429s_lowers_the_rate_once() -> None:
    policy = AdaptiveRate(ceiling=300)
    answers = [policy.refused(now=1.0 + i / 100, sent_at=0.9) for i in range(8)]  # eight sent together
    assert answers == [True] + [False] * 7
    assert policy.rate(1.1) == pytest.approx(150, rel=0.01)
    assert policy.refused(now=2.0, sent_at=1.5)  # one sent at the new rate: lowered again
    assert policy.rate(2.0) == pytest.approx(policy.drew_429 * DECREASE)


def test_recovery_is_slow_near_the_rate_that_drew_the_429_and_quick_past_it() -> None:
    policy = AdaptiveRate(ceiling=300)
    policy.refused(now=0.0, sent_at=0.0)
    policy.refused(now=1.0, sent_at=0.5)
    policy.refused(now=2.0, sent_at=1.5)  # 300 -> 150 -> ~80 -> ~40 (it climbs a little in between)
    start, drew = 2.0, policy.drew_429
    assert drew is not None and 75 < drew < 85 and policy.rate(start) == pytest.approx(drew / 2)
    assert policy.rate(start + 10) == pytest.approx(drew * 2 / 3)  # a third of the way back after 10 s
    assert policy.rate(start + RECOVERY_SECONDS + 5) < drew * 1.01  # lingers at the rate that drew the 429
    assert policy.rate(start + 3 * RECOVERY_SECONDS) == 300  # documented rate back within ~a minute past it


async def _elapsed_for(budget: RateBudget, requests: int) -> float:
    started = time.monotonic()
    for _ in range(requests):
        await budget.acquire()
    return time.monotonic() - started


def test_after_a_429_requests_go_one_at_a_time_at_half_the_rate() -> None:
    async def run() -> tuple[float, float]:
        budget = RateBudget(600, 50)  # documented: 10/s in bursts of 50
        burst = await _elapsed_for(budget, 6)
        assert budget.refused(sent_at=time.monotonic(), retry_after=None)
        return burst, await _elapsed_for(budget, 6)

    burst, paced = asyncio.run(run())
    assert burst < 0.1  # within the documented burst: at once
    assert paced >= 5 * 60 / 300 * 0.9  # 5/s, evenly spaced: no burst left after the 429


def test_a_slower_pace_from_rate_headers_does_not_hand_out_a_fresh_burst() -> None:
    async def run() -> float:
        budget = RateBudget(6000, 50)
        budget.observe(Allowance(remaining=1000, resets_in=60))  # 1000/min from now on
        assert budget.requests_per_minute == pytest.approx(1000)
        return await _elapsed_for(budget, 5)

    assert asyncio.run(run()) >= 4 * 60 / 1000 * 0.9


def test_a_budget_reports_requests_429s_and_rates() -> None:
    budget = RateBudget(300, 50)

    async def run() -> None:
        for _ in range(3):
            await budget.acquire()
            budget.answered()
        await budget.acquire()
        budget.refused(sent_at=time.monotonic(), retry_after=0.01)

    asyncio.run(run())
    figures = budget.figures()
    assert {k: figures[k] for k in ("requests", "http_429", "rate_lowered", "documented_per_minute",
                                    "lowest_per_minute")} == {"requests": 4, "http_429": 1, "rate_lowered": 1,
                                                              "documented_per_minute": 300, "lowest_per_minute": 150}
    assert figures["paused_seconds"] == pytest.approx(0.01, abs=0.01)
    assert budget.recently_allowed()[:2] == (4, 1)
