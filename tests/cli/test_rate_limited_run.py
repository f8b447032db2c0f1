"""`avesa run` against a ConnectWise instance that enforces a fifth of the documented 300 requests a
minute (and says nothing but `Retry-After`): the run slows down and completes, with the figures in
its log. A source that answers 429 forever fails the table after the configured wait, saying so."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.cli.ground_truth import check_tenant
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.cli.test_cli import _env_for

runner = CliRunner()
SOURCE_PER_MINUTE = 60
SETTLED_AFTER = 6.0  # seconds: the first 429s teach the budget the instance's rate


def _register(admin: SandboxAdmin, name: str, tables: str | None = None) -> None:
    args = ["service", "add", "--tenant-id", name, "--company-name", "Slow Co", "--service", "connectwise"]
    added = runner.invoke(app, [*args, "--tables", tables] if tables else args, env=_env_for(admin, name))
    assert added.exit_code == 0, added.output


def _log(home: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / "logs" / "avesa.jsonl").read_text().splitlines()]


def _answers(admin: SandboxAdmin, instance: str) -> tuple[int, int]:
    by_status = admin.stats(instance)["by_status"]
    return sum(by_status.values()), by_status.get("429", 0)


@pytest.mark.slow
def test_a_run_against_an_instance_five_times_slower_than_documented_completes_with_few_429s(
        sandbox_admin: SandboxAdmin, new_instance, make_ctx, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    name = new_instance("slow")
    _register(sandbox_admin, name)  # the four default tables, 332 records
    sandbox_admin.set_knobs(name, rate_limit_per_minute=SOURCE_PER_MINUTE, rate_limit_burst=5)
    sandbox_admin.reset_stats(name)
    monkeypatch.setenv("AVESA_PAGE_SIZE", "25")
    monkeypatch.setenv("AVESA_TARGET_CHUNK_RECORDS", "50")  # several chunks a table: many requests at once

    settled: list[tuple[int, int]] = []
    timer = threading.Timer(SETTLED_AFTER, lambda: settled.append(_answers(sandbox_admin, name)))
    started = time.monotonic()
    timer.start()
    try:
        result = runner.invoke(app, ["run"])
    finally:
        timer.cancel()
    seconds = time.monotonic() - started

    assert result.exit_code == 0, result.output
    checks = check_tenant(make_ctx(), sandbox_admin, name, name)
    assert checks and all(c.ok and c.source_rows > 0 for c in checks), checks  # every record landed

    requests, refused = _answers(sandbox_admin, name)
    assert settled, "the run ended before the first seconds were over"
    later_requests, later_429s = requests - settled[0][0], refused - settled[0][1]
    assert later_requests >= 10 and later_429s <= max(1, 0.1 * later_requests), (settled, requests, refused)

    log = _log(avesa_home)
    budget = next(e for e in log if e["event"] == "rate_budget" and e["tenant_id"] == name)
    assert (budget["requests"], budget["http_429"]) == (requests, refused) and refused >= 1
    assert budget["documented_per_minute"] == 300 and budget["lowest_per_minute"] < SOURCE_PER_MINUTE
    assert budget["rate_lowered"] >= 1 and budget["paused_seconds"] >= 1.0
    assert SOURCE_PER_MINUTE * 0.5 <= budget["achieved_per_minute"] <= SOURCE_PER_MINUTE * 1.5, budget
    assert (requests - refused) * 60 / seconds <= SOURCE_PER_MINUTE * 1.5  # burst aside, never faster
    lowered = [e for e in log if e["event"] == "rate_lowered" and e["tenant_id"] == name]
    assert lowered and lowered[0]["from_per_minute"] == 300 and lowered[0]["to_per_minute"] == 150
    finished = next(e for e in log if e["event"] == "run_finished")
    assert finished["status"] == "complete" and finished["http_429"] == refused

    assert f"{name}/connectwise rate limited: {refused} of {requests} requests answered 429" in result.output


def test_a_source_that_429s_forever_fails_the_table_after_the_configured_wait(
        sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    name = new_instance("never")
    _register(sandbox_admin, name, "company_companies,service_tickets")
    sandbox_admin.add_fault(name, "429", count=100_000, table="company/companies", scope="any", retry_after=1)
    monkeypatch.setenv("AVESA_RATE_LIMIT_MAX_WAIT_SECONDS", "4")

    result = runner.invoke(app, ["run"])

    assert result.exit_code == 1, result.output
    failed = {e["table"]: e for e in _log(avesa_home) if e["event"] == "table_finished"}
    assert failed["service_tickets"]["status"] == "complete"  # the other table is not held up by it
    error = failed["company_companies"]["error"]
    assert failed["company_companies"]["status"] == "failed"
    waited = re.search(r"GET company/companies\S*(?: page \d+)?: rate limited \(HTTP 429\); gave up after "
                       r"(\d+\.\d)s of waiting over (\d+) attempts, as (waiting the 1s more it asked for would "
                       r"pass|that is the most) AVESA_RATE_LIMIT_MAX_WAIT_SECONDS \(4s\)( allows)?\.", error)
    assert waited and 3.0 <= float(waited[1]) <= 5.5 and int(waited[2]) >= 3, error
    assert re.search(r"In the last \d+s it answered \d+ of \d+ requests: it seems to allow about [\d.]+ "
                     r"requests/minute \(documented: 300/minute\)\.", error), error  # service_tickets got through
    assert "1 table(s) failed" in result.output and "gave up after" in result.output


def test_a_wait_bound_that_is_not_a_positive_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="rate_limit_max_wait_seconds"):
        Settings(rate_limit_max_wait_seconds=0)
