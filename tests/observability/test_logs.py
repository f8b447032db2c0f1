"""The event log: levels (`--log-level`, AVESA_LOG_LEVEL), `run_started`, rotation, and progress
printed as the run goes when the output is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.observability import events
from avesa_sandbox import SandboxAdmin


@pytest.fixture(autouse=True)
def _info_again():
    """The level is the process's: put it back for the next test."""
    yield
    events.set_level("info", max_bytes=50_000_000, backups=5)


def _log(home: Path) -> list[dict]:
    return [json.loads(line) for line in (home / "logs" / "avesa.jsonl").read_text().splitlines()]


def test_each_run_starts_with_run_started_and_info_keeps_no_chunk_attempts(
        new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("logs"), tables=["company_companies"])
    assert CliRunner().invoke(app, ["run"]).exit_code == 0
    logged = _log(avesa_home)
    started = [e for e in logged if e["event"] == "run_started"]
    assert len(started) == 1 and started[0]["mode"] == "incremental" and started[0]["tables"] == 1
    run_id = started[0]["run_id"]
    of_run = [e for e in logged if e.get("run_id") == run_id]
    assert of_run[0]["event"] == "run_started" and of_run[-1]["event"] == "run_finished"
    assert {e["level"] for e in logged} == {"info"}
    assert not [e for e in logged if e["event"] == "chunk_attempt"]
    assert any(e["event"] == "table_finished" and e["tenant_id"] == tenant for e in logged)


def test_debug_adds_every_chunk_attempt_with_its_requests(new_instance, register, make_ctx, avesa_home: Path) -> None:
    register(make_ctx(), new_instance("debug"), tables=["company_companies"])
    assert CliRunner().invoke(app, ["--log-level", "debug", "run"]).exit_code == 0
    attempts = [e for e in _log(avesa_home) if e["event"] == "chunk_attempt"]
    assert attempts and all(e["level"] == "debug" and e["requests"] >= e["pages"] >= 1 for e in attempts)


def test_warning_keeps_only_trouble(sandbox_admin: SandboxAdmin, new_instance, register, make_ctx,
                                    avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("warn"), tables=["service_tickets", "company_companies"])
    sandbox_admin.add_fault(tenant, "record-without-id", count=20, table="service/tickets", scope="list")
    monkeypatch.setenv("AVESA_LOG_LEVEL", "WARNING")
    assert CliRunner().invoke(app, ["run"]).exit_code == 1
    logged = _log(avesa_home)
    assert {e["level"] for e in logged} <= {"warning", "error"}
    assert {e["event"] for e in logged} >= {"chunk_failed", "table_finished", "run_finished"}
    assert all(e["status"] == "failed" for e in logged if e["event"] in ("table_finished", "run_finished"))
    assert not [e for e in logged if e["event"] == "run_started"]


def test_an_unknown_level_is_refused_with_the_known_ones(avesa_home: Path) -> None:
    result = CliRunner().invoke(app, ["--log-level", "chatty", "status"])
    assert result.exit_code == 2
    assert "unknown log level 'chatty': use debug, info, warning or error" in result.output


def test_the_log_rotates_and_keeps_the_backups_asked_for(new_instance, register, make_ctx, avesa_home: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    register(make_ctx(), new_instance("rotate"), tables=["company_companies", "service_tickets"])
    monkeypatch.setenv("AVESA_LOG_MAX_BYTES", "1500")
    monkeypatch.setenv("AVESA_LOG_BACKUPS", "2")
    for _ in range(3):
        assert CliRunner().invoke(app, ["--log-level", "debug", "run"]).exit_code == 0
    logs = sorted(p.name for p in (avesa_home / "logs").iterdir())
    assert logs == ["avesa.jsonl", "avesa.jsonl.1", "avesa.jsonl.2"]
    for name in logs:
        path = avesa_home / "logs" / name
        assert path.stat().st_size <= 1500 + 2000  # a file closes at the first line past the limit
        assert all(json.loads(line)["event"] for line in path.read_text().splitlines())


@pytest.mark.slow
def test_off_a_terminal_progress_lines_come_while_the_run_goes(new_instance, register, make_ctx,
                                                               avesa_home: Path) -> None:
    register(make_ctx(), new_instance("plain", knobs={"latency_ms": 150}), tables=["service_tickets"])
    env = {**os.environ, "AVESA_HOME": str(avesa_home), "AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "20",
           "AVESA_PROGRESS_INTERVAL_SECONDS": "0.3"}
    child = subprocess.Popen([sys.executable, "-m", "avesa", "run"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    assert child.stdout is not None
    lines: list[tuple[float, str]] = []
    for line in child.stdout:
        lines.append((time.monotonic(), line.rstrip()))
    child.wait()
    ended = time.monotonic()
    assert child.returncode == 0, "\n".join(text for _, text in lines)
    progress = [(at, text) for at, text in lines if text.startswith("run: ") and "tables done" in text]
    assert progress, "\n".join(text for _, text in lines)
    assert ended - progress[0][0] > 0.3, "the first progress line came while the run was still going"
    assert "records," in progress[0][1] and "rec/s" in progress[0][1]
    assert any("service_tickets complete:" in text for _, text in lines)
