"""Throttling (429 + Retry-After), one-shot and random fault injection, latency knobs."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from avesa_sandbox import SandboxAdmin

from .conftest import CwClient
from .support import BROKEN_ANSWERS, assert_broken_once, assert_one_shot_fault, one_shot_errors

TICKETS = "service/tickets"


def test_requests_past_the_rate_get_429_with_retry_after(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.set_knobs(name, rate_limit_per_minute=6, rate_limit_burst=3)
    statuses = [cw.get(TICKETS).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    throttled = cw.get(TICKETS)
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "TooManyRequests"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    stats = admin.stats(name)
    assert stats["throttled"] == 3
    assert stats["by_status"]["200"] == 3
    admin.set_knobs(name, rate_limit_per_minute=None)
    assert cw.get(TICKETS).status_code == 200


def test_token_bucket_refills(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.set_knobs(name, rate_limit_per_minute=600, rate_limit_burst=1)  # one token per 0.1 s
    assert cw.get(TICKETS).status_code == 200
    assert cw.get(TICKETS).status_code == 429
    time.sleep(0.15)
    assert cw.get(TICKETS).status_code == 200


# ConnectWise never answers 503 with Retry-After: that fault is served as a normal answer
@pytest.mark.parametrize(("kind", "status", "retry_after"), one_shot_errors("503-retry-after"))
def test_one_shot_error_responses(
    admin: SandboxAdmin, fresh: tuple[str, CwClient], kind: str, status: int, retry_after: str | None
) -> None:
    name, cw = fresh
    admin.add_fault(name, kind, count=2, table="tickets", retry_after=7)
    assert cw.get("company/companies").status_code == 200  # other tables are not affected
    assert cw.get(f"{TICKETS}/count").status_code == 200  # nor count requests of the same table

    def check(response: httpx.Response) -> None:
        assert response.json()["code"]

    assert_one_shot_fault(admin, name, kind, status, retry_after, lambda: cw.get(TICKETS), check)


@pytest.mark.parametrize(("kind", "error"), BROKEN_ANSWERS)
def test_reset_and_truncated_break_one_answer(
    admin: SandboxAdmin, fresh: tuple[str, CwClient], kind: str, error: type[Exception]
) -> None:
    name, cw = fresh
    assert_broken_once(admin, name, kind, TICKETS, error, lambda: cw.get(TICKETS, pageSize=100))


def test_malformed_body_is_not_json(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.add_fault(name, "malformed", table=TICKETS)
    response = cw.get(TICKETS)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert isinstance(cw.get(TICKETS).json(), list)


def test_slow_delays_the_normal_answer(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.add_fault(name, "slow", table=TICKETS, delay_ms=300)
    started = time.perf_counter()
    response = cw.get(TICKETS)
    assert time.perf_counter() - started >= 0.3
    assert response.status_code == 200 and len(response.json()) == 25


def test_faults_can_target_any_table_and_scope(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.add_fault(name, "503", scope="any")
    assert cw.get("company/contacts/count").status_code == 503
    admin.add_fault(name, "500", scope="count", table="contacts")
    assert cw.get("company/contacts").status_code == 200
    assert cw.get("company/contacts/count").status_code == 500
    with pytest.raises(Exception, match="unknown fault kind"):
        admin.add_fault(name, "explode")


def test_random_faults_follow_the_knobs(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.set_knobs(name, error_rate=1.0)
    assert {cw.get(TICKETS).status_code for _ in range(10)} <= {500, 502, 503}
    admin.set_knobs(name, error_rate=0.0, malformed_rate=1.0)
    with pytest.raises(ValueError):
        cw.get(TICKETS).json()
    admin.set_knobs(name, malformed_rate=0.0, reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        cw.get(TICKETS)
    admin.set_knobs(name, reset_rate=0.0, truncated_rate=1.0)
    with pytest.raises(httpx.TransportError):
        cw.get(TICKETS)
    admin.set_knobs(name, truncated_rate=0.0, error_rate=0.5)
    statuses = [cw.get(TICKETS, fields="id").status_code for _ in range(60)]
    assert 10 < statuses.count(200) < 50
    admin.set_knobs(name, error_rate=0.0)
    with pytest.raises(Exception, match="probability"):
        admin.set_knobs(name, error_rate=2)
    with pytest.raises(Exception, match="unknown knob"):
        admin.set_knobs(name, eror_rate=0.1)


def test_latency_knobs(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.set_knobs(name, latency_ms=150)
    started = time.perf_counter()
    assert cw.get(TICKETS, pageSize=1).status_code == 200
    assert time.perf_counter() - started >= 0.15
    admin.set_knobs(name, latency_ms=0, latency_per_record_ms=2)
    started = time.perf_counter()
    assert len(cw.get(TICKETS, pageSize=80).json()) == 80
    assert time.perf_counter() - started >= 0.16


def test_a_400_echo_quotes_the_request_with_its_credentials_once(admin: SandboxAdmin,
                                                                 fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    admin.add_fault(name, "400-echo", table="tickets")
    echoed = cw.get(TICKETS, pageSize=5)
    assert echoed.status_code == 400
    request = echoed.json()["request"]
    assert request["method"] == "GET" and "pageSize=5" in request["url"]
    assert request["headers"]["authorization"] == cw.headers["Authorization"]
    assert cw.get(TICKETS).status_code == 200  # one-shot


def test_record_without_id_drops_only_the_first_records_id(admin: SandboxAdmin, fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    whole = cw.get(TICKETS, pageSize=3, orderBy="id asc").json()
    admin.add_fault(name, "record-without-id", table="tickets")
    broken = cw.get(TICKETS, pageSize=3, orderBy="id asc")
    assert broken.status_code == 200
    first, *rest = broken.json()
    assert "id" not in first and first == {k: v for k, v in whole[0].items() if k != "id"}
    assert rest == whole[1:]
    assert cw.get(TICKETS, pageSize=3, orderBy="id asc").json() == whole


def test_ids_descending_ignores_order_by_but_keeps_the_conditions(admin: SandboxAdmin,
                                                                  fresh: tuple[str, CwClient]) -> None:
    name, cw = fresh
    ids = [r["id"] for r in cw.get(TICKETS, pageSize=1000, orderBy="id asc").json()]
    admin.add_fault(name, "ids-descending", table="tickets", count=2)
    top = cw.get(TICKETS, pageSize=3, orderBy="id asc").json()
    assert [r["id"] for r in top] == sorted(ids, reverse=True)[:3]
    after = cw.get(TICKETS, pageSize=3, orderBy="id asc", conditions=f"id>{ids[-3]}").json()
    assert [r["id"] for r in after] == [ids[-1], ids[-2]]
    assert [r["id"] for r in cw.get(TICKETS, pageSize=3, orderBy="id asc").json()] == ids[:3]
