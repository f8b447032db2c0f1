"""Rate limit rule headers and 429, one-shot and random faults, latency, bad requests."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from avesa_sandbox import SandboxAdmin

from .servicenow_support import SnClient, fresh_sn_instance, sn_instance  # noqa: F401
from .support import assert_one_shot_fault, one_shot_errors


def test_rate_limit_headers_and_429_over_the_limit(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    assert "X-RateLimit-Limit" not in sn_fresh.get("incident", sysparm_limit=1).headers  # no rule, no headers
    admin.set_knobs(sn_fresh.name, rate_limit_per_minute=6, rate_limit_burst=3)
    responses = [sn_fresh.get("incident", sysparm_limit=1) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    now = time.time()
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "360"
        assert len(response.headers["X-RateLimit-Rule"]) == 32
        assert now - 5 <= int(response.headers["X-RateLimit-Reset"]) <= now + 60
    throttled = responses[-1]
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    assert abs(int(throttled.headers["X-RateLimit-Reset"]) - (now + int(throttled.headers["Retry-After"]))) <= 2
    body = throttled.json()
    assert body["status"] == "failure" and body["error"]["message"] == "Rate limit exceeded"
    assert admin.stats(sn_fresh.name)["throttled"] == 2
    admin.set_knobs(sn_fresh.name, rate_limit_per_minute=None)
    assert sn_fresh.get("incident").status_code == 200


def test_unauthenticated_requests_do_not_use_the_quota(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    admin.set_knobs(sn_fresh.name, rate_limit_per_minute=6, rate_limit_burst=1)
    for _ in range(3):
        assert sn_fresh.get("incident", auth=("x", "y")).status_code == 401
    assert sn_fresh.get("incident").status_code == 200


@pytest.mark.parametrize(("kind", "status", "retry_after"), one_shot_errors("503-retry-after"))
def test_one_shot_error_responses(
    admin: SandboxAdmin, sn_fresh: SnClient, kind: str, status: int, retry_after: str | None
) -> None:
    admin.add_fault(sn_fresh.name, kind, count=2, table="incident", retry_after=7)
    assert sn_fresh.get("problem").status_code == 200  # other tables are not affected
    stats_url = f"{sn_fresh.url}/api/now/stats/incident"
    assert sn_fresh.get_url(stats_url, params={"sysparm_count": "true"}).status_code == 200  # nor counts

    def check(response: httpx.Response) -> None:
        if status in (502, 503):  # a gateway page, not the API
            assert response.headers["content-type"].startswith("text/html")
        else:
            assert response.json()["status"] == "failure"

    assert_one_shot_fault(admin, sn_fresh.name, kind, status, retry_after, lambda: sn_fresh.get("incident"), check)


def test_reset_truncated_malformed_and_slow(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    admin.add_fault(sn_fresh.name, "reset", table="incident")
    with pytest.raises(httpx.TransportError):
        sn_fresh.get("incident")
    admin.add_fault(sn_fresh.name, "truncated", table="incident")
    with pytest.raises(httpx.RemoteProtocolError):
        sn_fresh.get("incident")
    admin.add_fault(sn_fresh.name, "malformed", table="incident")
    response = sn_fresh.get("incident")
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    admin.add_fault(sn_fresh.name, "slow", table="incident", delay_ms=300)
    started = time.perf_counter()
    assert sn_fresh.get("incident", sysparm_limit=5).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert sn_fresh.get("incident").json()["result"]


def test_faults_by_scope(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    record = sn_fresh.get("incident", sysparm_limit=1).json()["result"][0]
    admin.add_fault(sn_fresh.name, "500", table="incident", scope="get")
    assert sn_fresh.get("incident").status_code == 200
    assert sn_fresh.get_url(f"{sn_fresh.url}/api/now/table/incident/{record['sys_id']}").status_code == 500
    admin.add_fault(sn_fresh.name, "503", scope="count")
    assert sn_fresh.get_url(f"{sn_fresh.url}/api/now/stats/sys_user").status_code == 503
    admin.add_fault(sn_fresh.name, "502", scope="any")
    assert sn_fresh.get("sys_audit_delete").status_code == 502


def test_random_faults_follow_the_knobs(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    admin.set_knobs(sn_fresh.name, error_rate=1.0)
    assert {sn_fresh.get("incident").status_code for _ in range(8)} <= {500, 502, 503}
    admin.set_knobs(sn_fresh.name, error_rate=0.0, malformed_rate=1.0)
    with pytest.raises(ValueError):
        sn_fresh.get("incident").json()
    admin.set_knobs(sn_fresh.name, malformed_rate=0.0, reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sn_fresh.get("incident")
    admin.set_knobs(sn_fresh.name, reset_rate=0.0, truncated_rate=1.0)
    with pytest.raises(httpx.TransportError):
        sn_fresh.get("incident")
    admin.set_knobs(sn_fresh.name, truncated_rate=0.0, error_rate=0.5)
    statuses = [sn_fresh.get("incident", sysparm_limit=1).status_code for _ in range(60)]
    assert 10 < statuses.count(200) < 50


def test_latency_knobs(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    admin.set_knobs(sn_fresh.name, latency_ms=150)
    started = time.perf_counter()
    assert sn_fresh.get("incident", sysparm_limit=1).status_code == 200
    assert time.perf_counter() - started >= 0.15
    admin.set_knobs(sn_fresh.name, latency_ms=0, latency_per_record_ms=2)
    started = time.perf_counter()
    assert len(sn_fresh.get("incident", sysparm_limit=80).json()["result"]) == 80
    assert time.perf_counter() - started >= 0.16


def test_bad_requests_are_answered_like_the_platform(sn: SnClient) -> None:
    unknown = sn.get("no_such_table")
    assert unknown.status_code == 400
    assert unknown.json() == {"error": {"message": "Invalid table no_such_table", "detail": None}, "status": "failure"}
    assert sn.get_url(f"{sn.url}/api/now/tables/incident").status_code == 400
    assert sn.get_url(f"{sn.url}/api/now/table/incident/a/b").status_code == 400
    assert sn.get("task").status_code == 403
    writes = [
        sn.http.post(f"{sn.url}/api/now/table/incident", json={"short_description": "x"}, auth=sn.auth),
        sn.http.patch(f"{sn.url}/api/now/table/incident/{'a' * 32}", json={}, auth=sn.auth),
        sn.http.delete(f"{sn.url}/api/now/table/incident/{'a' * 32}", auth=sn.auth),
    ]
    for response, operation in zip(writes, ("Insert", "Update", "Delete"), strict=True):
        assert response.status_code == 403
        assert response.json()["error"] == {
            "message": "Operation Failed",
            "detail": f"ACL Exception {operation} Failed due to security constraints",
        }
