"""`avesa serve` as an operator runs it: its own process, a sandbox tenant on a 1-second schedule,
`/metrics` scraped over real HTTP with the ledger's numbers, SIGTERM for a clean exit — mid-chunk
too — and the next start resuming the interrupted run with nothing lost or landed twice."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.timeutil import utc_now
from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.pipeline.test_end_to_end import _assert_matches_source

SMALL_STEPS = {"AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "40", "AVESA_TARGET_CHUNK_RECORDS": "100"}


class Served:
    """`python -m avesa serve --port 0` in its own process; its output read as it comes."""

    def __init__(self, home: Path, **env: str) -> None:
        self.lines: list[str] = []
        full_env = {**os.environ, "AVESA_HOME": str(home), "AVESA_SERVE_POLL_SECONDS": "0.3",
                    "AVESA_FULL_SCHEDULE": "off", **env}
        self.process = subprocess.Popen([sys.executable, "-m", "avesa", "serve", "--port", "0"], env=full_env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_for(lambda: next((x for x in self.lines if "metrics at http://" in x), None), 30)
        self.url = re.search(r"(http://[\d.]+:\d+)/metrics", line).group(1)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, found: Callable[[], object], seconds: float) -> object:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = found()
            if value:
                return value
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError("avesa serve exited early:\n" + "\n".join(self.lines))
            time.sleep(0.05)
        raise AssertionError(f"timed out after {seconds}s; output:\n" + "\n".join(self.lines))

    def stop(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _ctx(home: Path) -> PipelineContext:
    return PipelineContext.from_settings(Settings(home=home))


def _metrics(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = httpx.get(f"{url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


def _table(tenant: str, table: str) -> tuple[tuple[str, str], ...]:
    return (("service", "connectwise"), ("table", table), ("tenant", tenant))


@pytest.mark.slow
def test_serve_runs_on_schedule_exposes_the_ledgers_numbers_and_stops_cleanly(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tables = ["service_tickets", "company_companies"]
    tenant = register(make_ctx(), new_instance("served"), tables=tables)
    served = Served(avesa_home, AVESA_SCHEDULE="every 1s")
    try:
        served.wait_for(lambda: len([r for r in _ctx(avesa_home).state.list_runs() if r.status == "complete"]) >= 2,
                        30)
        # stop the schedule, let the last run end: then the numbers can be compared exactly
        assert CliRunner().invoke(app, ["schedule", "set", "off", "--tenant", tenant]).exit_code == 0
        served.wait_for(lambda: not httpx.get(f"{served.url}/healthz").json()["running"]
                        and "schedule_removed" in "\n".join(served.lines), 15)
        metrics = _metrics(served.url)
        ctx = _ctx(avesa_home)
        runs = ctx.state.list_runs()
        assert len(runs) >= 2 and all(r.status == "complete" for r in runs)
        assert metrics[("avesa_runs_started_total", (("mode", "incremental"),))] == len(runs)
        assert metrics[("avesa_runs_completed_total", (("mode", "incremental"),))] == len(runs)
        assert metrics[("avesa_run_duration_seconds_count", (("mode", "incremental"),))] == len(runs)
        history = ctx.state.list_table_runs(tenant_id=tenant)
        now = utc_now()
        for table in tables:
            mine = [tr for tr in history if tr.table == table]
            labels = _table(tenant, table)
            assert metrics[("avesa_table_records_total", labels)] == sum(tr.records for tr in mine)
            assert metrics[("avesa_chunk_records_total", labels)] == sum(tr.records for tr in mine)
            assert metrics[("avesa_table_versions_total", labels)] == sum(tr.versions_created for tr in mine)
            assert metrics[("avesa_table_duration_seconds_count", labels)] == len(mine)
            chunks = [c for tr in mine for c in ctx.state.list_chunks(TableRef(
                run_id=tr.run_id, tenant_id=tenant, service="connectwise", table=table, mode=SyncMode(tr.mode),
                run_started_at=tr.started_at))]
            assert metrics[("avesa_table_chunks_total", labels)] == len(chunks)
            assert metrics[("avesa_chunk_pages_total", labels)] == sum(c.pages for c in chunks)
            assert metrics[("avesa_chunk_api_calls_total", labels)] >= sum(c.pages for c in chunks)
            watermark = ctx.state.get_watermark(tenant, "connectwise", table)
            lag = metrics[("avesa_table_lag_seconds", labels)]
            assert abs(lag - (now - watermark).total_seconds()) < 5
        assert metrics[("avesa_tenant_tables_total", (("tenant", tenant),))] == len(history)
        assert metrics[("avesa_tenant_failures_total", (("tenant", tenant),))] == 0
        # the dashboard on the same port, at /
        page = httpx.get(f"{served.url}/", timeout=10)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"] and tenant in page.text
        # OpenMetrics when the scraper asks for it
        open_metrics = httpx.get(f"{served.url}/metrics", headers={"Accept": "application/openmetrics-text"})
        assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
        assert open_metrics.text.rstrip().endswith("# EOF")
    finally:
        code = served.stop()
        served.kill()
    assert code == 0, "\n".join(served.lines)
    output = "\n".join(served.lines)
    assert "serve_stopped" in output and "stopped; interrupted runs resume at the next start" in output
    assert "dashboard at /" in output and "no dashboard" not in output
    assert "run_started" in output and "table_finished" in output  # the console log of a process off a terminal


@pytest.mark.slow
def test_sigterm_mid_chunk_lands_the_files_and_the_next_start_resumes_the_run(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("drain", knobs={"latency_ms": 120}))
    raw_root = avesa_home / "lake" / tenant / "raw"
    env = {**SMALL_STEPS, "AVESA_SCHEDULE": "every 1h"}
    served = Served(avesa_home, **env)  # never synced: its first run starts at once
    try:
        served.wait_for(lambda: len(list(raw_root.rglob("*.parquet"))) >= 3, 60)
        started = time.monotonic()
        code = served.stop()
    finally:
        served.kill()
    assert code == 0, "\n".join(served.lines)
    assert time.monotonic() - started < 30, "SIGTERM waits for the current pages, not for the run"
    assert "run_stopped" in "\n".join(served.lines)

    ctx = _ctx(avesa_home)
    [run] = ctx.state.list_runs(status="running")  # left for the next start, as a crash leaves it
    table_runs = ctx.state.list_table_runs(run_id=run.run_id)
    assert any(tr.status != "complete" for tr in table_runs), "SIGTERM should land mid-run"
    chunks = [c for tr in table_runs for c in ctx.state.list_chunks(TableRef(
        run_id=run.run_id, tenant_id=tenant, service="connectwise", table=tr.table, mode=SyncMode(tr.mode),
        run_started_at=run.started_at))]
    assert not [c for c in chunks if c.status == "running" or c.lease_owner], "every chunk stopped and let go"
    assert [c for c in chunks if c.status == "incomplete" and c.records > 0], "a chunk was stopped between its files"
    assert not list(raw_root.rglob("*.tmp")), "no file was cut short"
    for chunk in chunks:  # what each chunk checkpointed is exactly what its files hold
        files = sorted((raw_root / "connectwise" / chunk.table).glob(f"*_{chunk.chunk_id}_*.parquet"))
        assert sum(pq.read_metadata(f).num_rows for f in files) == chunk.records
    for tr in table_runs:  # an unfinished table was not finalized: its watermark did not move
        assert (ctx.state.get_watermark(tenant, "connectwise", tr.table) is None) == (tr.status != "complete")

    again = Served(avesa_home, **env)
    try:
        again.wait_for(lambda: _ctx(avesa_home).state.get_run(run.run_id).status == "complete", 90)
        assert f"run_resumed run_id={run.run_id}" in "\n".join(again.lines)
    finally:
        assert again.stop() == 0
        again.kill()
    ctx = _ctx(avesa_home)
    assert [r.run_id for r in ctx.state.list_runs()] == [run.run_id], "resumed, not run again"
    _assert_matches_source(ctx, sandbox_admin, tenant)
    for table, path in [("time_entries", "time/entries"), ("service_tickets", "service/tickets"),
                        ("company_companies", "company/companies"), ("company_contacts", "company/contacts")]:
        files = list((raw_root / "connectwise" / table).glob("*.parquet"))
        ids = pq.read_table(files, columns=["record_id"])["record_id"].to_pylist() if files else []
        assert len(ids) == len(set(ids)), f"{table}: a record landed twice"
        assert set(ids) == {str(i) for i in sandbox_admin.record_ids(tenant, path)}, f"{table}: records lost"
