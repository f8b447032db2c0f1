"""kill -9 in the middle of `avesa run`: the ledger shows what the run landed and that its owner is
gone; a plain `avesa run` finishes the interrupted run without losing or duplicating a record, and
without leaving the temporary file of a write the kill cut short."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.timeutil import compact_stamp
from avesa.domain.work import SyncMode, TableRef
from avesa_sandbox import SandboxAdmin
from tests.pipeline.test_end_to_end import _assert_matches_source

SMALL_STEPS = {"AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "40", "AVESA_TARGET_CHUNK_RECORDS": "100"}


def _ref(run, tr) -> TableRef:
    return TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                    mode=SyncMode(tr.mode), run_started_at=run.started_at)


def _leave_a_killed_write(raw_root: Path, run, chunk, age_seconds: float = 0.0) -> Path:
    """The temporary file a write killed before its rename leaves behind: not even Parquet."""
    directory = raw_root / chunk.service / chunk.table
    directory.mkdir(parents=True, exist_ok=True)
    leftover = directory / f".{compact_stamp(run.started_at)}_{chunk.chunk_id}_{chunk.seq:05d}.parquet.0123abcd.tmp"
    leftover.write_bytes(b"half a parquet file")
    stamp = time.time() - age_seconds
    os.utime(leftover, (stamp, stamp))
    return leftover


def _kill_a_run_mid_extraction(avesa_home: Path, tenant: str) -> Path:
    env = {**os.environ, **SMALL_STEPS, "AVESA_HOME": str(avesa_home)}
    child = subprocess.Popen([sys.executable, "-m", "avesa", "run"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    raw_root = avesa_home / "lake" / tenant / "raw"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(raw_root.rglob("*.parquet"))) < 3:
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert len(list(raw_root.rglob("*.parquet"))) >= 3, "the run should have landed some files before the kill"
    return raw_root


@pytest.mark.slow
def test_a_run_killed_mid_chunk_is_finished_by_the_next_run(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("crash", knobs={"latency_ms": 120}))
    raw_root = _kill_a_run_mid_extraction(avesa_home, tenant)

    ctx = make_ctx()
    [interrupted] = ctx.state.list_runs(status="running")
    assert ctx.state.get_watermark(tenant, "connectwise", "time_entries") is None  # not finalized
    chunks = [c for tr in ctx.state.list_table_runs(run_id=interrupted.run_id)
              for c in ctx.state.list_chunks(_ref(interrupted, tr))]
    assert any(c.status != "complete" for c in chunks), "the kill should land mid-extraction"
    landed = sum(c.records for c in chunks)
    assert landed > 0
    # the ledger's count of what the run landed is its chunks' checkpoints, finalized or not
    assert sum(tr.records for tr in ctx.state.list_table_runs(run_id=interrupted.run_id)) == landed
    unfinished = next(c for c in chunks if c.status != "complete")
    leftover = _leave_a_killed_write(raw_root, interrupted, unfinished)

    for key, value in SMALL_STEPS.items():
        monkeypatch.setenv(key, value)
    listed = CliRunner().invoke(app, ["jobs", "list"]).output
    row = next(line for line in listed.splitlines() if line.startswith("│") and interrupted.run_id in line)
    assert "interrupted" in row and "running" not in row and f"{landed:,}" in row, listed
    gone = f"its owner {interrupted.owner} is gone"
    flat = " ".join(listed.split())  # long lines wrap where a host name is long
    assert f"{interrupted.run_id} is interrupted: {gone}" in flat
    assert f"`avesa jobs resume {interrupted.run_id}` or `avesa run` finishes it" in flat
    shown = CliRunner().invoke(app, ["jobs", "show", interrupted.run_id])
    assert shown.exit_code == 0 and "time_entries" in shown.output
    assert f"interrupted ({gone})" in " ".join(shown.output.split()) and "running" not in shown.output, shown.output
    status = CliRunner().invoke(app, ["status"]).output
    assert "running" not in status and "extracting" not in status and "interrupted" in status, status
    for tr in ctx.state.list_table_runs(run_id=interrupted.run_id):
        table_row = next(line for line in status.splitlines() if f"/{tr.table} " in line)
        assert f" {tr.records:,} " in table_row, status
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert f"resuming interrupted run {interrupted.run_id}" in result.output
    assert not leftover.exists(), "the resumed run should remove the temporary file the kill left"
    assert not list(raw_root.rglob("*.tmp"))

    ctx = make_ctx()
    assert ctx.state.get_run(interrupted.run_id).status == "complete"
    assert all(tr.status == "complete" for tr in ctx.state.list_table_runs(run_id=interrupted.run_id))
    _assert_matches_source(ctx, sandbox_admin, tenant)
    # the interrupted run's raw files hold every record of the source exactly once
    for table, path in [("time_entries", "time/entries"), ("service_tickets", "service/tickets"),
                        ("company_companies", "company/companies"), ("company_contacts", "company/contacts")]:
        files = [f for f in (raw_root / "connectwise" / table).glob("*.parquet")
                 if interrupted.run_id in pq.read_table(f, columns=["run_id"])["run_id"].to_pylist()]
        ids = pq.read_table(files, columns=["record_id"])["record_id"].to_pylist() if files else []
        assert len(ids) == len(set(ids)), f"{table}: a record landed twice in the resumed run"
        assert set(ids) == {str(i) for i in sandbox_admin.record_ids(tenant, path)}, f"{table}: records lost"


@pytest.mark.slow
def test_cleanup_stuck_abandons_an_interrupted_run_and_the_next_run_covers_its_range(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("stuck", knobs={"latency_ms": 120}))
    raw_root = _kill_a_run_mid_extraction(avesa_home, tenant)
    [stuck] = make_ctx().state.list_runs(status="running")
    ctx = make_ctx()
    unfinished = next(c for tr in ctx.state.list_table_runs(run_id=stuck.run_id)
                      for c in ctx.state.list_chunks(_ref(stuck, tr)) if c.status != "complete")
    leftover = _leave_a_killed_write(raw_root, stuck, unfinished, age_seconds=2 * 3600)
    runner = CliRunner()
    listed = runner.invoke(app, ["jobs", "cleanup-stuck", "--dry-run"])
    assert f"would abandon {stuck.run_id}" in listed.output
    assert make_ctx().state.get_run(stuck.run_id).status == "running"
    assert f"abandoned {stuck.run_id}" in runner.invoke(app, ["jobs", "cleanup-stuck"]).output
    assert make_ctx().state.get_run(stuck.run_id).status == "abandoned"
    abandoned = [c for tr in make_ctx().state.list_table_runs(run_id=stuck.run_id)
                 for c in make_ctx().state.list_chunks(_ref(stuck, tr))]
    assert not [c for c in abandoned if c.status == "running" or c.lease_owner is not None]
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    assert "resuming" not in result.output
    # nobody resumes an abandoned run: the next run of the table removes the old leftover of its write
    assert not leftover.exists()
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
