"""`avesa jobs cancel`: an interrupted run is never resumed and the next run starts from the
watermarks; a run still working in another process notices and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import let_source_clock_pass
from tests.pipeline.test_end_to_end import _assert_matches_source

SMALL_STEPS = {"AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "40", "AVESA_TARGET_CHUNK_RECORDS": "100"}
TABLES = ("service_tickets", "time_entries", "company_companies", "company_contacts")
runner = CliRunner()


def _start_run(avesa_home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, **SMALL_STEPS, "AVESA_HOME": str(avesa_home)}
    return subprocess.Popen([sys.executable, "-m", "avesa", "run", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_files(raw_root: Path, count: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(raw_root.rglob("*.parquet"))) < count:
        assert child.poll() is None, child.communicate()[0]
        time.sleep(0.02)
    assert len(list(raw_root.rglob("*.parquet"))) >= count, "the run should have landed files"


def _chunks(ctx: PipelineContext, run_id: str) -> list:
    run = ctx.state.get_run(run_id)
    return [c for tr in ctx.state.list_table_runs(run_id=run_id)
            for c in ctx.state.list_chunks(TableRef(run_id=run_id, tenant_id=tr.tenant_id, service=tr.service,
                                                    table=tr.table, mode=SyncMode(tr.mode),
                                                    run_started_at=run.started_at))]


def _watermarks(ctx: PipelineContext, tenant: str) -> dict:
    return {t: ctx.state.get_watermark(tenant, "connectwise", t) for t in TABLES}


@pytest.mark.slow
def test_a_cancelled_interrupted_run_is_not_resumed_and_the_next_run_starts_from_the_watermarks(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("cancel", knobs={"latency_ms": 120}))
    for key, value in SMALL_STEPS.items():
        monkeypatch.setenv(key, value)
    assert runner.invoke(app, ["run"]).exit_code == 0
    raw_root = avesa_home / "lake" / tenant / "raw"
    child = _start_run(avesa_home, "--full")
    _wait_for_files(raw_root, len(list(raw_root.rglob("*.parquet"))) + 3, child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    [interrupted] = make_ctx().state.list_runs(status="running")
    marks = _watermarks(make_ctx(), tenant)
    assert any(c.status != "complete" for c in _chunks(make_ctx(), interrupted.run_id))

    cancelled = runner.invoke(app, ["jobs", "cancel", interrupted.run_id])
    assert cancelled.exit_code == 0, cancelled.output
    assert f"cancelled {interrupted.run_id}" in cancelled.output
    ctx = make_ctx()
    assert ctx.state.get_run(interrupted.run_id).status == "cancelled"
    chunks = _chunks(ctx, interrupted.run_id)
    assert all(c.lease_owner is None for c in chunks)
    assert {c.status for c in chunks} <= {"complete", "cancelled"} and any(c.status == "cancelled" for c in chunks)
    assert {tr.status for tr in ctx.state.list_table_runs(run_id=interrupted.run_id)} <= {"complete", "cancelled"}
    assert _watermarks(ctx, tenant) == marks
    listed = runner.invoke(app, ["jobs", "list"]).output
    assert "cancelled" in next(line for line in listed.splitlines() if interrupted.run_id in line)
    assert "no interrupted runs" in runner.invoke(app, ["jobs", "resume"]).output
    again = runner.invoke(app, ["jobs", "cancel", interrupted.run_id])
    assert again.exit_code == 2 and "has finished" in again.output
    retried = runner.invoke(app, ["jobs", "retry", interrupted.run_id])
    assert retried.exit_code == 2 and "only a failed run can be retried" in retried.output

    sandbox_admin.mutate(tenant, updates=20, inserts=5, seed=9)
    let_source_clock_pass(sandbox_admin, [tenant])
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.output
    ctx = make_ctx()
    [latest] = list(ctx.state.list_runs(limit=1))
    assert latest.run_id != interrupted.run_id and latest.status == "complete"
    lookback = ctx.settings.lookback_seconds
    for tr in ctx.state.list_table_runs(run_id=latest.run_id):  # fresh, from the watermark the cancel left
        assert tr.mode == "incremental"
        assert tr.range_start.timestamp() == marks[tr.table].replace(microsecond=0).timestamp() - lookback
    _assert_matches_source(ctx, sandbox_admin, tenant)
    assert ctx.state.get_run(interrupted.run_id).status == "cancelled"


@pytest.mark.slow
def test_a_run_working_in_another_process_stops_when_cancelled(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("live", knobs={"latency_ms": 150}))
    raw_root = avesa_home / "lake" / tenant / "raw"
    child = _start_run(avesa_home)
    _wait_for_files(raw_root, 3, child)
    [running] = make_ctx().state.list_runs(status="running")
    cancelled = runner.invoke(app, ["jobs", "cancel", running.run_id])
    assert cancelled.exit_code == 0, cancelled.output
    stopped_at = time.monotonic()

    output, _ = child.communicate(timeout=60)
    assert time.monotonic() - stopped_at < 30, "the worker should stop at its next checkpoint"
    assert child.returncode == 1, output
    assert f"run {running.run_id} was cancelled" in output
    ctx = make_ctx()
    assert ctx.state.get_run(running.run_id).status == "cancelled"
    chunks = _chunks(ctx, running.run_id)
    assert all(c.lease_owner is None for c in chunks)
    assert not [c for c in chunks if c.status == "running"]
    table_runs = ctx.state.list_table_runs(run_id=running.run_id)
    assert any(tr.status == "cancelled" for tr in table_runs)
    for tr in table_runs:  # a cancelled table never moved its watermark
        if tr.status != "complete":
            assert ctx.state.get_watermark(tenant, "connectwise", tr.table) is None

    result = runner.invoke(app, ["run"], env={"AVESA_HOME": str(avesa_home)})
    assert result.exit_code == 0, result.output
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
