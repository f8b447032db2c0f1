"""Microsoft 365 throttling (429 + Retry-After + Graph's throttle headers), faults and latency knobs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from avesa.sandbox import SandboxAdmin

from .microsoft365_support import GraphClient, new_instance


@pytest.fixture
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    name = new_instance(admin, "fault")
    client = GraphClient(admin, name)
    yield client
    client.close()
    admin.delete_instance(name)


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


@pytest.mark.parametrize(
    ("kind", "status", "code", "retry_after"),
    [
        ("429", 429, "TooManyRequests", "7"),
        ("429-no-retry-after", 429, "TooManyRequests", None),
        ("500", 500, "generalException", None),
        ("502", 502, "BadGateway", None),
        ("503", 503, "serviceNotAvailable", None),
        ("503-retry-after", 503, "serviceNotAvailable", "7"),
    ],
)
def test_one_shot_error_responses(
    graph: GraphClient, admin: SandboxAdmin, kind: str, status: int, code: str, retry_after: str | None
) -> None:
    admin.add_fault(graph.instance, kind, count=2, table="users", retry_after=7)
    assert graph.get("groups").status_code == 200  # other tables are not affected
    for _ in range(2):
        response = graph.get("users")
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert response.headers.get("retry-after") == retry_after
    assert graph.get("users").status_code == 200
    assert admin.faults(graph.instance) == []
    assert admin.stats(graph.instance)["faults"] == {kind: 2}


def test_faults_can_target_delta_count_and_single_gets(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "503", table="users", scope="count")
    admin.add_fault(graph.instance, "500", table="devices", scope="get")
    admin.add_fault(graph.instance, "429", table="groups")
    assert graph.get("users/$count", {"ConsistencyLevel": "eventual"}).status_code == 503
    device = graph.get("devices", **{"$top": 1}).json()["value"][0]["id"]
    assert graph.get(f"devices/{device}").status_code == 500
    assert graph.get("groups/delta").status_code == 429


def test_reset_closes_the_connection(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "reset", table="users")
    with pytest.raises(httpx.TransportError):
        graph.get("users")
    assert graph.get("users").status_code == 200


def test_truncated_body_stops_before_content_length(graph: GraphClient, admin: SandboxAdmin) -> None:
    admin.add_fault(graph.instance, "truncated", table="devices")
    with pytest.raises(httpx.RemoteProtocolError):
        graph.get("devices")
    assert graph.get("devices").status_code == 200


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
