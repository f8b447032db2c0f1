"""Acme Helpdesk rate limiting (X-RateLimit-* headers, 429 + Retry-After), faults and latency knobs."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from avesa_sandbox import SandboxAdmin

from .helpdesk_support import HdClient, fresh_hd_instance, hd_instance  # noqa: F401
from .support import BROKEN_ANSWERS, assert_broken_once, assert_one_shot_fault, one_shot_errors

LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
ERROR_CODES = {429: "rate_limited", 500: "internal_error", 502: "bad_gateway", 503: "service_unavailable"}


def test_rate_limit_headers_count_down_then_429_with_retry_after(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(hd_fresh.name, rate_limit_per_minute=6, rate_limit_burst=3)
    responses = [hd_fresh.get("tickets", limit=1) for _ in range(5)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0", "0"]
    now = time.time()
    for response in responses:
        assert response.headers["x-ratelimit-limit"] == "6"
        assert now <= int(response.headers["x-ratelimit-reset"]) <= now + 31  # 3 tokens at 1 per 10 s
    throttled = responses[-1]
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(throttled.headers["retry-after"]) <= 10
    assert "retry-after" not in responses[0].headers
    stats = admin.stats(hd_fresh.name)
    assert stats["throttled"] == 2 and stats["by_status"]["200"] == 3
    admin.set_knobs(hd_fresh.name, rate_limit_per_minute=None)
    unlimited = hd_fresh.get("tickets", limit=1)
    assert unlimited.status_code == 200
    assert not any(h in unlimited.headers for h in LIMIT_HEADERS)  # no limit, no headers


def test_every_answer_carries_the_headers_while_a_limit_applies(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(hd_fresh.name, rate_limit_per_minute=6, rate_limit_burst=200)  # refills too slowly to notice
    answers = [
        hd_fresh.get("tickets"),
        hd_fresh.get("tickets/100001"),
        hd_fresh.get("tickets/1"),  # 404
        hd_fresh.get("nope"),  # 404
        hd_fresh.get("tickets", limit=0),  # 400
        hd_fresh.get("tickets", headers={}),  # 401 (does not use the allowance)
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 404, 400, 401]
    for answer in answers:
        assert all(h in answer.headers for h in LIMIT_HEADERS), answer.status_code
        assert answer.headers["x-ratelimit-limit"] == "6"
    assert [int(a.headers["x-ratelimit-remaining"]) for a in answers] == [199, 198, 197, 196, 195, 195]


def test_unauthenticated_requests_do_not_use_the_allowance(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(hd_fresh.name, rate_limit_per_minute=6, rate_limit_burst=2)
    for _ in range(5):
        assert hd_fresh.get("tickets", headers={"X-Api-Key": "wrong"}).status_code == 401
    assert [hd_fresh.get("tickets").status_code for _ in range(3)] == [200, 200, 429]


def test_the_bucket_refills(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(hd_fresh.name, rate_limit_per_minute=600, rate_limit_burst=1)  # a token per 0.1 s
    assert hd_fresh.get("tickets", limit=1).status_code == 200
    assert hd_fresh.get("tickets", limit=1).status_code == 429
    time.sleep(0.15)
    assert hd_fresh.get("tickets", limit=1).status_code == 200


@pytest.mark.parametrize(("kind", "status", "retry_after"), one_shot_errors())
def test_one_shot_error_responses(
    hd_fresh: HdClient, admin: SandboxAdmin, kind: str, status: int, retry_after: str | None
) -> None:
    admin.add_fault(hd_fresh.name, kind, count=2, table="tickets", retry_after=7)
    assert hd_fresh.get("companies").status_code == 200  # other tables are not affected
    assert hd_fresh.get("tickets/100001").status_code == 200  # nor single-record requests (scope list)

    def check(response: httpx.Response) -> None:
        assert response.json()["error"]["code"] == ERROR_CODES[status]

    assert_one_shot_fault(admin, hd_fresh.name, kind, status, retry_after, lambda: hd_fresh.get("tickets"), check)


def test_fault_scopes_get_and_any(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.add_fault(hd_fresh.name, "500", scope="get")
    assert hd_fresh.get("tickets").status_code == 200
    assert hd_fresh.get("tickets/100001").status_code == 500
    admin.add_fault(hd_fresh.name, "502", count=2, scope="any")
    assert hd_fresh.get("contacts").status_code == 502
    assert hd_fresh.get("contacts/20001").status_code == 502
    assert hd_fresh.get("contacts").status_code == 200


@pytest.mark.parametrize(("kind", "error"), BROKEN_ANSWERS)
def test_reset_and_truncated_break_one_answer(
    hd_fresh: HdClient, admin: SandboxAdmin, kind: str, error: type[Exception]
) -> None:
    assert_broken_once(admin, hd_fresh.name, kind, "tickets", error, lambda: hd_fresh.get("tickets", limit=50))


def test_malformed_body_is_not_json(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.add_fault(hd_fresh.name, "malformed", table="tickets")
    response = hd_fresh.get("tickets", limit=20)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    assert hd_fresh.ok("tickets", limit=20)["data"]


def test_slow_answers_late_but_complete(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.add_fault(hd_fresh.name, "slow", table="tickets", delay_ms=300)
    started = time.monotonic()
    body = hd_fresh.ok("tickets", limit=5)
    assert time.monotonic() - started >= 0.3
    assert len(body["data"]) == 5
    with pytest.raises(httpx.ReadTimeout):
        admin.add_fault(hd_fresh.name, "slow", table="tickets", delay_ms=500)
        hd_fresh.http.get(f"{hd_fresh.root}/api/v2/tickets", headers=hd_fresh.headers, timeout=0.1)


def test_token_expired_does_not_apply_to_api_keys(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.add_fault(hd_fresh.name, "token-expired", table="tickets")
    assert hd_fresh.get("tickets").status_code == 200  # keys do not expire: served normally
    assert admin.faults(hd_fresh.name) == []


def test_random_faults_and_latency_knobs(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.set_knobs(hd_fresh.name, error_rate=1.0)
    statuses = {hd_fresh.get("tickets").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503} and len(statuses) >= 2
    admin.set_knobs(hd_fresh.name, error_rate=0.0, malformed_rate=1.0)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(hd_fresh.get("tickets").content)
    admin.set_knobs(hd_fresh.name, malformed_rate=0.0, latency_ms=150, latency_per_record_ms=2)
    started = time.monotonic()
    assert len(hd_fresh.ok("tickets", limit=50)["data"]) == 50
    assert time.monotonic() - started >= 0.15 + 0.1
    admin.set_knobs(hd_fresh.name, latency_ms=0, latency_per_record_ms=0, reset_rate=1.0)
    with pytest.raises(httpx.TransportError):
        hd_fresh.get("tickets")


def test_a_400_echo_quotes_the_api_key_back_once(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    admin.add_fault(hd_fresh.name, "400-echo", table="contacts")
    echoed = hd_fresh.get("contacts", limit=2)
    assert echoed.status_code == 400
    assert echoed.json()["request"]["headers"]["x-api-key"] == hd_fresh.creds["api_key"]
    assert hd_fresh.get("contacts", limit=2).status_code == 200


def test_record_without_id_drops_only_the_first_records_id(hd_fresh: HdClient, admin: SandboxAdmin) -> None:
    whole = hd_fresh.ok("contacts", limit=3)
    admin.add_fault(hd_fresh.name, "record-without-id", table="contacts")
    broken = hd_fresh.ok("contacts", limit=3)
    assert broken["data"][0] == {k: v for k, v in whole["data"][0].items() if k != "id"}
    assert broken["data"][1:] == whole["data"][1:] and broken["total"] == whole["total"]


def test_ids_descending_ignores_the_sort_but_keeps_the_keyset_condition(hd_fresh: HdClient,
                                                                        admin: SandboxAdmin) -> None:
    ids = [r["id"] for r in hd_fresh.ok("contacts", limit=500)["data"]]
    admin.add_fault(hd_fresh.name, "ids-descending", table="contacts", count=2)
    top = hd_fresh.ok("contacts", limit=3, sort="id")
    assert [r["id"] for r in top["data"]] == sorted(ids, reverse=True)[:3] and top["has_more"] is True
    after = hd_fresh.ok("contacts", limit=3, sort="id", after_id=ids[-3])
    assert [r["id"] for r in after["data"]] == [ids[-1], ids[-2]]
    assert [r["id"] for r in hd_fresh.ok("contacts", limit=3)["data"]] == ids[:3], "two requests, then as asked"
