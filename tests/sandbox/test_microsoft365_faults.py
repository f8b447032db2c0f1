"""Microsoft 365 throttling (429 + Retry-After + Graph's throttle headers), faults and latency knobs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from avesa_sandbox import SandboxAdmin

from .microsoft365_support import GraphClient, fresh_tenant
from .support import BROKEN_ANSWERS, assert_broken_once, assert_one_shot_fault, one_shot_errors

ERROR_CODES = {429: "TooManyRequests", 500: "generalException", 502: "BadGateway", 503: "serviceNotAvailable"}


@pytest.fixture
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    with fresh_tenant(admin, "fault") as client:
        yield client


def test_requests_past_the_rate_get_429_with_throttle_headers(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(graph.instance, rate_limit_per_minute=6, rate_limit_burst=5)
    responses = [graph.get("users") for _ in range(7)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
    assert "x-ms-throttle-limit-percentage" not in responses[0].headers
    assert float(responses[4].headers["x-ms-throttle-limit-percentage"]) >= 0.8  # near the limit: a warning
    throttled = responses[-1]
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert 1 <= int(throttled.headers["retry-after"]) <= 10
    creds = graph.credentials
    assert (
        throttled.headers["x-ms-throttle-scope"]
        == f"Tenant_Application/ReadWrite/{creds['client_id']}/{creds['tenant_id']}"
    )
    assert throttled.headers["x-ms-throttle-information"] == "ResourceUnitLimitExceeded"
    stats = admin.stats(graph.instance)
    assert stats["throttled"] == 2 and stats["by_status"]["200"] >= 5
    admin.set_knobs(graph.instance, rate_limit_per_minute=None)
    assert graph.get("users").status_code == 200


def test_the_bucket_refills(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(graph.instance, rate_limit_per_minute=600, rate_limit_burst=1)  # one token per 0.1 s
    assert graph.get("groups").status_code == 200
    assert graph.get("groups").status_code == 429
    time.sleep(0.15)
    assert graph.get("groups").status_code == 200


@pytest.mark.parametrize(("kind", "status", "retry_after"), one_shot_errors())
def test_one_shot_error_responses(
    graph: GraphClient, admin: SandboxAdmin, kind: str, status: int, retry_after: str | None
) -> None:
    admin.add_fault(graph.instance, kind, count=2, table="users", retry_after=7)
    assert graph.get("groups").status_code == 200  # other tables are not affected

    def check(response: httpx.Response) -> None:
        assert response.json()["error"]["code"] == ERROR_CODES[status]

    assert_one_shot_fault(admin, graph.instance, kind, status, retry_after, lambda: graph.get("users"), check)


def test_faults_can_target_delta_count_and_single_gets(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "503", table="users", scope="count")
    admin.add_fault(graph.instance, "500", table="devices", scope="get")
    admin.add_fault(graph.instance, "429", table="groups")
    assert graph.get("users/$count", {"ConsistencyLevel": "eventual"}).status_code == 503
    device = graph.get("devices", **{"$top": 1}).json()["value"][0]["id"]
    assert graph.get(f"devices/{device}").status_code == 500
    assert graph.get("groups/delta").status_code == 429


@pytest.mark.parametrize(("kind", "error"), BROKEN_ANSWERS)
def test_reset_and_truncated_break_one_answer(
    graph: GraphClient, admin: SandboxAdmin, kind: str, error: type[Exception]
) -> None:
    assert_broken_once(admin, graph.instance, kind, "devices", error, lambda: graph.get("devices"))


def test_malformed_body_is_not_json(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "malformed", table="users")
    response = graph.get("users")
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)


def test_slow_fault_and_latency_knob_delay_the_answer(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "slow", table="users", delay_ms=300)
    started = time.perf_counter()
    assert graph.get("users").status_code == 200
    assert time.perf_counter() - started >= 0.3
    admin.set_knobs(graph.instance, latency_ms=150)
    started = time.perf_counter()
    assert graph.get("organization").status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_random_faults_follow_the_error_rate_knob(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(graph.instance, error_rate=1.0)
    statuses = {graph.get("users").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and statuses
    admin.set_knobs(graph.instance, error_rate=0.0)
    assert graph.get("users").status_code == 200
