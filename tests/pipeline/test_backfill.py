"""`avesa backfill`: windows in the ledger, SCD2 history left as it was, watermarks untouched, a run
beside the scheduled sync, continuing an interrupted backfill, and the cap on windows in flight."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.work import BackfillRequest, ChunkAttempt, SyncMode, TableRef, TableStatus
from avesa.pipeline.backfill import resolve_backfill
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.plan import backfill_windows
from avesa.runtime import local
from avesa.runtime.local import backfill_sync
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import CONNECTWISE_SYNCED, canonical, let_source_clock_pass, sync
from tests.pipeline.test_end_to_end import _assert_matches_source

SINCE = datetime(2023, 12, 1, tzinfo=UTC)  # before the sandbox's data window (2024-01-01 on)
TABLES = {"service_tickets": "service/tickets", "time_entries": "time/entries",
          "company_companies": "company/companies", "company_contacts": "company/contacts"}
CANONICAL = ("tickets", "time_entries", "companies", "contacts")
# say when a version was read and loaded, not what the source said: a re-read refreshes them
LOAD_COLUMNS = {"run_id", "loaded_at", "extracted_at"}


def _without_load(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in LOAD_COLUMNS}
    if out.get("absorbed_versions"):
        entries = json.loads(out["absorbed_versions"])
        out["absorbed_versions"] = [{k: v for k, v in e.items() if k not in LOAD_COLUMNS} for e in entries]
    return out


def _history(ctx: PipelineContext, tenant: str) -> dict[str, list[dict]]:
    """Every canonical row of the tenant but its load metadata, in a stable order."""
    tables = {}
    for name in CANONICAL:
        rows = [_without_load(r) for r in canonical(ctx, tenant, name).to_pylist()]
        tables[name] = sorted(rows, key=lambda r: (r["source_table"], r["source_id"], r["effective_start_date"]))
    return tables


def _watermarks(ctx: PipelineContext, tenant: str) -> dict[str, datetime | None]:
    return {table: ctx.state.get_watermark(tenant, "connectwise", table) for table in TABLES}


def _assert_one_current_row_per_key_and_no_duplicate_version(ctx: PipelineContext, tenant: str) -> None:
    for name in CANONICAL:
        rows = canonical(ctx, tenant, name).to_pylist()
        current = Counter((r["source_table"], r["source_id"]) for r in rows if r["is_current"])
        assert set(current.values()) == {1}, f"{name}: a key without exactly one current row"
        assert current.keys() == {(r["source_table"], r["source_id"]) for r in rows}
        starts = Counter((r["source_table"], r["source_id"], r["effective_start_date"]) for r in rows)
        assert max(starts.values()) == 1, f"{name}: a version landed twice"


def _ref(run, tr) -> TableRef:
    return TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                    mode=SyncMode(tr.mode), run_started_at=run.started_at)


def test_windows_are_stateless_and_cover_the_range_and_defaults_come_from_the_catalog(
        new_instance, register, make_ctx) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    windows = backfill_windows(start, start + timedelta(days=65), 30)
    assert windows == [(start, start + timedelta(days=30)), (start + timedelta(days=30), start + timedelta(days=60)),
                       (start + timedelta(days=60), start + timedelta(days=65))]
    assert backfill_windows(start, start + timedelta(days=65), 30) == windows

    tenant = register(make_ctx(), new_instance("defaults"), tables=["service_tickets"])
    now = datetime(2026, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    window, tables, _ = resolve_backfill(make_ctx(), BackfillRequest(tenant_id=tenant, service="connectwise"), now)
    assert (window.start, window.end, window.window_days) == (
        datetime(2024, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 1, 12, tzinfo=UTC), 30)  # ConnectWise: 730 / 30
    assert tables == ["service_tickets"]
    future = BackfillRequest(tenant_id=tenant, service="connectwise", since=start, until=now + timedelta(days=9))
    assert resolve_backfill(make_ctx(), future, now)[0].end == now.replace(microsecond=0)  # never past now


def test_a_backfill_relands_old_versions_without_changing_history_or_watermarks(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx) -> None:
    tenant = register(make_ctx(), new_instance("bf"))
    assert not sync(make_ctx()).failed
    sandbox_admin.mutate(tenant, updates=40, inserts=10, deletes=5, seed=5, tables=CONNECTWISE_SYNCED)
    let_source_clock_pass(sandbox_admin, [tenant])
    assert not sync(make_ctx(), full=True).failed  # history with closed versions and deletes
    before, marks = _history(make_ctx(), tenant), _watermarks(make_ctx(), tenant)

    ctx = make_ctx(target_chunk_records=30, page_size=10, records_per_file=20)
    request = BackfillRequest(tenant_id=tenant, service="connectwise", since=SINCE, window_days=365)
    summary = backfill_sync(ctx, request)
    assert summary.status == "complete" and not summary.failed
    assert {(r.table.mode, r.status) for r in summary.results} == {(SyncMode.BACKFILL, TableStatus.COMPLETE)}
    live = sum(len(sandbox_admin.record_ids(tenant, path)) for path in TABLES.values())
    assert summary.records == live  # every live record's current version was landed again

    assert _history(make_ctx(), tenant) == before  # SCD2: nothing new, nothing lost, nothing re-cut
    assert _watermarks(make_ctx(), tenant) == marks
    ctx = make_ctx()
    run = ctx.state.get_run(summary.run_id)
    assert run.kind == "backfill"
    chunks = [c for tr in ctx.state.list_table_runs(run_id=run.run_id) for c in ctx.state.list_chunks(_ref(run, tr))]
    window = timedelta(days=365)
    for c in chunks:  # every chunk lies inside one window of the request
        index = (c.range_start - SINCE) // window
        assert c.range_end <= SINCE + (index + 1) * window and c.status == "complete"
    windows_used = {(c.table, (c.range_start - SINCE) // window) for c in chunks}
    assert len(chunks) > len(windows_used), "a window holding more than a chunk's worth is split further"


def test_a_first_backfill_loads_the_tables_and_leaves_the_first_sync_a_full_read(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx) -> None:
    tenant = register(make_ctx(), new_instance("first"))
    summary = backfill_sync(make_ctx(), BackfillRequest(tenant_id=tenant, service="connectwise", since=SINCE,
                                                        window_days=180))
    assert summary.status == "complete" and not summary.failed
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    assert set(_watermarks(make_ctx(), tenant).values()) == {None}
    after = sync(make_ctx())
    assert not after.failed and after.records == summary.records  # no watermark: the whole table
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    _assert_one_current_row_per_key_and_no_duplicate_version(make_ctx(), tenant)


def test_at_most_max_backfill_windows_are_extracted_at_once(
        new_instance, register, make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("cap"), tables=["time_entries", "service_tickets"])
    active, peak = 0, 0
    real = local.run_chunk

    async def counting(ctx: PipelineContext, attempt: ChunkAttempt, **kwargs: object):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await asyncio.sleep(0.05)
            return await real(ctx, attempt, **kwargs)
        finally:
            active -= 1

    monkeypatch.setattr(local, "run_chunk", counting)
    summary = backfill_sync(make_ctx(max_backfill_windows=2),
                            BackfillRequest(tenant_id=tenant, service="connectwise", since=SINCE, window_days=30))
    assert not summary.failed
    assert peak == 2


def _env(avesa_home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "AVESA_HOME": str(avesa_home), **extra}


def _wait_for_new_raw_files(raw_root: Path, baseline: int, more: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(raw_root.rglob("*.parquet"))) < baseline + more:
        assert child.poll() is None, child.communicate()[0]
        time.sleep(0.02)
    assert len(list(raw_root.rglob("*.parquet"))) >= baseline + more, "the backfill should have landed files"


@pytest.mark.slow
def test_a_backfill_runs_beside_an_incremental_sync_of_the_same_tenant(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("beside", knobs={"latency_ms": 200}))
    assert not sync(make_ctx()).failed
    sandbox_admin.mutate(tenant, updates=30, inserts=10, deletes=3, seed=7, tables=CONNECTWISE_SYNCED)
    let_source_clock_pass(sandbox_admin, [tenant])
    raw_root = avesa_home / "lake" / tenant / "raw"
    baseline = len(list(raw_root.rglob("*.parquet")))

    small = {"AVESA_PAGE_SIZE": "10", "AVESA_RECORDS_PER_FILE": "20", "AVESA_TARGET_CHUNK_RECORDS": "40"}
    child = subprocess.Popen([sys.executable, "-m", "avesa", "backfill", "--tenant", tenant, "--service", "connectwise",
                              "--since", "2023-12-01", "--window-days", "60"], env=_env(avesa_home, **small),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_for_new_raw_files(raw_root, baseline, 2, child)
    # the backfill holds no sync lock: nothing is skipped; this run also looks for the deletes
    incremental = sync(make_ctx(reconcile_interval_hours=0))
    assert child.poll() is None, "the backfill should still be running when the incremental sync ends"
    assert not incremental.failed and not incremental.skipped
    assert {r.table.tenant_id for r in incremental.results} == {tenant}
    assert sum(r.versions_created for r in incremental.results) > 0
    assert sum(r.deletes for r in incremental.results) > 0
    marks = _watermarks(make_ctx(), tenant)

    output, _ = child.communicate(timeout=300)
    assert child.returncode == 0, output
    assert "watermarks unchanged" in output
    assert _watermarks(make_ctx(), tenant) == marks
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    _assert_one_current_row_per_key_and_no_duplicate_version(make_ctx(), tenant)
    [backfill] = [r for r in make_ctx().state.list_runs() if r.kind == "backfill"]
    assert backfill.status == "complete"


@pytest.mark.slow
def test_an_interrupted_backfill_is_left_by_avesa_run_and_continued_by_the_same_command(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = register(make_ctx(), new_instance("bfcrash", knobs={"latency_ms": 120}))
    assert not sync(make_ctx()).failed
    marks = _watermarks(make_ctx(), tenant)
    raw_root = avesa_home / "lake" / tenant / "raw"
    baseline = len(list(raw_root.rglob("*.parquet")))
    small = {"AVESA_PAGE_SIZE": "10", "AVESA_RECORDS_PER_FILE": "20", "AVESA_TARGET_CHUNK_RECORDS": "40"}
    args = ["backfill", "--tenant", tenant, "--service", "connectwise", "--since", "2023-12-01", "--window-days", "45"]
    child = subprocess.Popen([sys.executable, "-m", "avesa", *args], env=_env(avesa_home, **small),
                             stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    _wait_for_new_raw_files(raw_root, baseline, 3, child)
    child.send_signal(signal.SIGKILL)
    child.wait()
    [interrupted] = [r for r in make_ctx().state.list_runs(status="running") if r.kind == "backfill"]

    for key, value in small.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 0, ran.output
    assert f"interrupted backfill run {interrupted.run_id}" in ran.output and "resuming" not in ran.output
    assert make_ctx().state.get_run(interrupted.run_id).status == "running"
    listed = runner.invoke(app, ["jobs", "list"]).output
    line = next(line for line in listed.splitlines() if interrupted.run_id in line)
    assert "backfill" in line and "interrupted" in line

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"continuing interrupted backfill run {interrupted.run_id}" in again.output
    ctx = make_ctx()
    assert [r.run_id for r in ctx.state.list_runs() if r.kind == "backfill"] == [interrupted.run_id]
    assert ctx.state.get_run(interrupted.run_id).status == "complete"
    assert _watermarks(ctx, tenant) == marks
    _assert_matches_source(ctx, sandbox_admin, tenant)
    for table, path in TABLES.items():  # the continued run landed every record once: nothing redone
        files = [f for f in (raw_root / "connectwise" / table).glob("*.parquet")
                 if interrupted.run_id in pq.read_table(f, columns=["run_id"])["run_id"].to_pylist()]
        ids = pq.read_table(files, columns=["record_id"])["record_id"].to_pylist() if files else []
        assert len(ids) == len(set(ids)), f"{table}: a record landed twice in the continued backfill"
        assert set(ids) == {str(i) for i in sandbox_admin.record_ids(tenant, path)}, f"{table}: records lost"
