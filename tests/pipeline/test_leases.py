"""Leases tell the truth: a worker that is alive keeps its leases however slow its pages are, so
`avesa jobs cleanup-stuck` on another host leaves its run alone; a run whose owner elsewhere stopped
renewing is interrupted; and a chunk stopped from outside never stays "running" under a lease."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from avesa.domain.timeutil import utc_now
from avesa.pipeline import raw_sink
from avesa.pipeline.resume import interruption, still_interrupted
from avesa.runtime.local import RunSummary
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import sync
from tests.pipeline.test_cancel import _chunks

FAR_AWAY = "far-away-host:4242"
"""An owner as another host names itself: this host cannot look at its process, only at its leases."""


@pytest.mark.slow
def test_a_chunk_slower_than_its_lease_keeps_it_and_cleanup_stuck_on_another_host_leaves_its_run_alone(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    # every page takes longer than a lease, and no raw file (no checkpoint) lands before the chunk ends
    tenant = register(make_ctx(), new_instance("slow", knobs={"latency_ms": 2500}), tables=["service_tickets"])
    settings = {"lease_seconds": 2.0, "page_size": 20, "records_per_file": 1000, "max_requests_per_tenant": 1}
    ctx = make_ctx(**settings)
    ctx.owner = FAR_AWAY
    finished: dict[str, RunSummary] = {}
    worker = threading.Thread(target=lambda: finished.update(summary=sync(ctx)))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not [c for r in make_ctx().state.list_runs(status="running")
                                                   for c in _chunks(make_ctx(), r.run_id) if c.status == "running"]:
            time.sleep(0.05)
        time.sleep(2 * settings["lease_seconds"])  # the lease it took would have run out twice by now
        [run] = make_ctx().state.list_runs(status="running")
        env = {**os.environ, "AVESA_HOME": str(avesa_home), "AVESA_LEASE_SECONDS": str(settings["lease_seconds"])}
        cleanup = subprocess.run([sys.executable, "-m", "avesa", "jobs", "cleanup-stuck"], env=env,
                                 capture_output=True, text=True, timeout=120, check=False)
        assert cleanup.returncode == 0, cleanup.stderr
        still = make_ctx().state.get_run(run.run_id)
        assert still.status == "running", "the run should still be reading its slow pages"
        assert "no stuck runs" in cleanup.stdout, cleanup.stdout
        [chunk] = [c for c in _chunks(make_ctx(), run.run_id) if c.status == "running"]
        assert chunk.lease_owner == FAR_AWAY and chunk.lease_expires > utc_now()
        assert still.lease_expires is not None and still.lease_expires > utc_now()
    finally:
        worker.join(timeout=120)
    assert finished["summary"].status == "complete"
    assert finished["summary"].records == len(sandbox_admin.record_ids(tenant, "service/tickets"))


@pytest.mark.slow
def test_a_chunk_whose_run_is_cancelled_stops_at_its_next_page_not_at_its_next_file(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx) -> None:
    instance = new_instance("halt", knobs={"latency_ms": 700})
    register(make_ctx(), instance, tables=["service_tickets"])
    ctx = make_ctx(lease_seconds=0.6, page_size=10, records_per_file=1000, max_requests_per_tenant=1)
    finished: dict[str, RunSummary] = {}
    worker = threading.Thread(target=lambda: finished.update(summary=sync(ctx)))
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sandbox_admin.stats(instance)["requests"] < 2:
            time.sleep(0.02)
        [run] = make_ctx().state.list_runs(status="running")
        assert make_ctx().state.cancel_run(run.run_id, utc_now())
        asked = sandbox_admin.stats(instance)["requests"]
    finally:
        worker.join(timeout=120)
    assert finished["summary"].status == "cancelled"
    # the page in flight, and at most one more before the refused renewal is seen — not every page left
    assert sandbox_admin.stats(instance)["requests"] - asked <= 2
    assert len(sandbox_admin.record_ids(instance, "service/tickets")) > 6 * 10, "the chunk should have pages left"


def test_a_run_on_another_host_is_interrupted_only_once_none_of_its_leases_is_live(make_ctx) -> None:
    ctx = make_ctx(lease_seconds=60)
    ctx.state.create_run("run-far", utc_now() - timedelta(hours=1), {}, FAR_AWAY)
    assert interruption(ctx, ctx.state.get_run("run-far"), utc_now()) is not None  # never renewed, an hour old
    # its owner is merging, or waiting for slots: no chunk holds a lease, the run's own lease is live
    assert ctx.state.renew_run_lease("run-far", FAR_AWAY, 60, utc_now())
    assert interruption(ctx, ctx.state.get_run("run-far"), utc_now()) is None
    assert not ctx.state.abandon_run("run-far", FAR_AWAY, utc_now(), still_interrupted(ctx, utc_now()))
    later = utc_now() + timedelta(seconds=61)
    found = interruption(ctx, ctx.state.get_run("run-far"), later)
    assert found is not None and f"its owner {FAR_AWAY} on another host has renewed no lease since" in found.reason
    assert "avesa jobs resume run-far" in found.advice
    assert ctx.state.abandon_run("run-far", FAR_AWAY, later, still_interrupted(ctx, later))
    assert ctx.state.get_run("run-far").status == "abandoned"
    assert not ctx.state.renew_run_lease("run-far", FAR_AWAY, 60, later)  # a finished run is nobody's to renew


def test_chunks_stopped_by_a_sibling_failing_unexpectedly_end_failed_or_incomplete_with_no_lease(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, monkeypatch: pytest.MonkeyPatch) -> None:
    register(make_ctx(), new_instance("stop", knobs={"latency_ms": 100}, counts={"service/tickets": 300}),
             tables=["service_tickets"])
    real = raw_sink.build_raw_table

    def breaks_while_a_split_off_chunk_reads(pages, **fields):
        """The table's first chunk breaks once a chunk it split off is reading (the executor waits on
        the first chunk first, so it stops the others as soon as this one breaks)."""
        if "." not in fields["chunk_id"]:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                children = [c for c in _chunks(make_ctx(), fields["run_id"]) if c.chunk_id != fields["chunk_id"]]
                if any(c.status == "running" for c in children):
                    raise RuntimeError("a bug nothing expected")
                if all(c.status == "complete" for c in children):  # none yet (before its first split), or done
                    break
                time.sleep(0.02)
        return real(pages, **fields)

    monkeypatch.setattr(raw_sink, "build_raw_table", breaks_while_a_split_off_chunk_reads)
    ctx = make_ctx(page_size=20, records_per_file=20, target_chunk_records=20)
    with contextlib.suppress(RuntimeError):  # how the executor reports it is the executor's business
        sync(ctx)
    [run] = make_ctx().state.list_runs()
    chunks = _chunks(make_ctx(), run.run_id)
    assert not [c for c in chunks if c.status == "running" or c.lease_owner is not None]
    # the error is the first chunk's own failure (pipeline/failures.py); its siblings either read to the end
    # or, where the executor stopped them, end incomplete and continue from their cursors
    failed = [c for c in chunks if c.status == "failed"]
    assert all("unexpected RuntimeError" in c.last_error and "a bug nothing expected" in c.last_error
               for c in failed)
    stopped = [c for c in chunks if c.status == "incomplete"]
    assert all("continues from its cursor" in c.last_error for c in stopped)
    assert len(failed) + len(stopped) + sum(c.status == "complete" for c in chunks) == len(chunks)
    [table_run] = make_ctx().state.list_table_runs(run_id=run.run_id)
    assert table_run.records == sum(c.records for c in chunks)
