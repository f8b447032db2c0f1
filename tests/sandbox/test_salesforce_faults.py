"""Salesforce limits and faults: per-minute throttling, the daily allocation, one-shot and random faults, latency."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from avesa_sandbox import SandboxAdmin

from .salesforce_support import SfClient, error_code, fresh_org
from .support import BROKEN_ANSWERS, assert_broken_once, assert_one_shot_fault, one_shot_errors

TASKS = "SELECT Id, Subject FROM Task"


@pytest.fixture
def sf(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sff", counts={"Task": 450}) as client:
        yield client


def usage(response: httpx.Response) -> tuple[int, int]:
    used, limit = response.headers["Sforce-Limit-Info"].removeprefix("api-usage=").split("/")
    return int(used), int(limit)


def test_every_data_response_reports_the_daily_usage(sf: SfClient) -> None:
    first = sf.query(TASKS)
    second = sf.query("SELECT Bogus FROM Task")
    third = sf.get("limits")
    assert usage(first) == (1, 100_000)
    assert second.status_code == 400 and usage(second) == (2, 100_000)
    assert usage(third) == (3, 100_000)
    assert third.json()["DailyApiRequests"] == {"Max": 100_000, "Remaining": 99_997}


def test_the_daily_allocation_runs_out_with_403_request_limit_exceeded(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.set_knobs(sf.instance, daily_request_limit=3)
    statuses = [sf.query(TASKS).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 403, 403]
    refused = sf.query(TASKS)
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert usage(refused) == (3, 3)
    admin.set_knobs(sf.instance, daily_request_limit=10)
    assert sf.query(TASKS).status_code == 200
    with pytest.raises(Exception, match="daily_request_limit"):
        admin.set_knobs(sf.instance, daily_request_limit=0)


def test_requests_past_the_per_minute_rate_get_429_with_retry_after(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.set_knobs(sf.instance, rate_limit_per_minute=6, rate_limit_burst=3)
    statuses = [sf.query(TASKS).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    throttled = sf.query(TASKS)
    assert throttled.status_code == 429 and error_code(throttled) == "REQUEST_LIMIT_EXCEEDED"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    assert usage(throttled)[0] == 3  # throttled requests are not counted against the allocation
    assert admin.stats(sf.instance)["throttled"] == 3
    admin.set_knobs(sf.instance, rate_limit_per_minute=None)
    assert sf.query(TASKS).status_code == 200


ERROR_CODES = {429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION", 503: "SERVER_UNAVAILABLE"}


# a 502 comes from the edge as HTML (tested below); a 503-retry-after fault is served as a normal answer
@pytest.mark.parametrize(("kind", "status", "retry_after"), one_shot_errors("502", "503-retry-after"))
def test_one_shot_error_responses(
    admin: SandboxAdmin, sf: SfClient, kind: str, status: int, retry_after: str | None
) -> None:
    admin.add_fault(sf.instance, kind, count=2, table="task", retry_after=7)
    assert sf.query("SELECT Id FROM Account").status_code == 200  # other objects are not affected
    assert sf.query("SELECT COUNT() FROM Task").status_code == 200  # nor count queries of the object

    def check(response: httpx.Response) -> None:
        assert error_code(response) == ERROR_CODES[status]
        assert "Sforce-Limit-Info" in response.headers

    assert_one_shot_fault(admin, sf.instance, kind, status, retry_after, lambda: sf.query(TASKS), check)


def test_a_502_comes_from_the_edge_as_html(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.add_fault(sf.instance, "502", table="Task")
    response = sf.query(TASKS)
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html") and b"Bad Gateway" in response.content


def test_faults_hit_the_next_batches_of_an_object_too(admin: SandboxAdmin, sf: SfClient) -> None:
    first = sf.query(TASKS, batch_size=200).json()
    admin.add_fault(sf.instance, "503", table="Task")
    assert sf.get(first["nextRecordsUrl"]).status_code == 503
    retried = sf.get(first["nextRecordsUrl"])  # the cursor survives: retry the same batch
    assert retried.status_code == 200 and len(retried.json()["records"]) == 200


@pytest.mark.parametrize(("kind", "error"), BROKEN_ANSWERS)
def test_reset_and_truncated_break_one_answer(
    admin: SandboxAdmin, sf: SfClient, kind: str, error: type[Exception]
) -> None:
    assert_broken_once(admin, sf.instance, kind, "Task", error, lambda: sf.query(TASKS))


def test_malformed_body_is_not_json(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.add_fault(sf.instance, "malformed", table="Task")
    response = sf.query(TASKS)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert sf.query(TASKS).json()["totalSize"] == 450


def test_slow_delays_the_normal_answer(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.add_fault(sf.instance, "slow", table="Task", delay_ms=300)
    started = time.perf_counter()
    response = sf.query(TASKS)
    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 200 and response.json()["totalSize"] == 450


def test_faults_can_target_any_object_and_scope(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.add_fault(sf.instance, "503", scope="any")
    assert sf.get("limits").status_code == 503
    admin.add_fault(sf.instance, "500", scope="count", table="Contact")
    assert sf.query("SELECT Id FROM Contact").status_code == 200
    assert sf.query("SELECT COUNT() FROM Contact").status_code == 500
    admin.add_fault(sf.instance, "500", scope="get", table="Account")
    account = sf.query("SELECT Id FROM Account LIMIT 1").json()["records"][0]["Id"]
    assert sf.get(f"sobjects/Account/{account}").status_code == 500


def test_random_faults_follow_the_knobs(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.set_knobs(sf.instance, error_rate=1.0)
    assert {sf.query(TASKS).status_code for _ in range(10)} <= {500, 502, 503}
    admin.set_knobs(sf.instance, error_rate=0.0, malformed_rate=1.0)
    with pytest.raises(ValueError):
        sf.query(TASKS).json()
    admin.set_knobs(sf.instance, malformed_rate=0.0, reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sf.query(TASKS)
    admin.set_knobs(sf.instance, reset_rate=0.0, truncated_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sf.query(TASKS)
    admin.set_knobs(sf.instance, truncated_rate=0.0)
    assert sf.query(TASKS).status_code == 200


def test_latency_knobs(admin: SandboxAdmin, sf: SfClient) -> None:
    admin.set_knobs(sf.instance, latency_ms=150)
    started = time.perf_counter()
    assert sf.query("SELECT Id FROM Task LIMIT 1").status_code == 200
    assert time.perf_counter() - started >= 0.15
    admin.set_knobs(sf.instance, latency_ms=0, latency_per_record_ms=1)
    started = time.perf_counter()
    assert len(sf.query("SELECT Id FROM Task LIMIT 200").json()["records"]) == 200
    assert time.perf_counter() - started >= 0.2
