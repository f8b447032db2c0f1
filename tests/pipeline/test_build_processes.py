"""Canonical builds in worker processes (AVESA_BUILD_PROCESSES): the same history as a build in a
thread, a worker that dies fails only what it held and says so, and workers never outlive a parent
killed outright."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from avesa.catalog.loader import load_catalog
from avesa.domain.timeutil import utc_now
from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.build_runner import BuildFailed, ProcessBuilds, canonical_builder
from avesa.pipeline.canonical_build import CanonicalBuild
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import canonical, register_unthrottled, sync

HISTORY_COLUMNS = ["source_id", "record_hash", "effective_start_date", "effective_end_date", "is_current", "is_deleted",
                   "last_updated"]


def _history(ctx: PipelineContext, tenant: str, table: str) -> list[dict]:
    rows = canonical(ctx, tenant, table).select([*HISTORY_COLUMNS, "summary"] if table == "tickets" else
                                                HISTORY_COLUMNS).to_pylist()
    return sorted(rows, key=lambda r: (r["source_id"], r["effective_start_date"]))


def test_a_run_built_in_a_worker_process_lands_the_history_a_build_in_a_thread_does(
        sandbox_admin: SandboxAdmin, new_instance: Callable[..., str], tmp_path: Path) -> None:
    tenant = new_instance("procs")
    contexts = {}
    for processes in (1, 0):
        ctx = PipelineContext.from_settings(Settings(home=tmp_path / f"home-{processes}", build_processes=processes))
        register_unthrottled(ctx, tenant, "connectwise", sandbox_admin.connection(tenant))
        summary = sync(ctx)
        assert summary.status == "complete", [r.error for r in summary.results]
        contexts[processes] = ctx
    assert ProcessBuilds._pools.get(1) is not None, "the run with AVESA_BUILD_PROCESSES=1 used no worker process"
    for table in ("companies", "contacts", "tickets", "time_entries"):
        in_process, in_thread = (_history(contexts[n], tenant, table) for n in (1, 0))
        assert in_process, f"no {table} landed"
        assert in_process == in_thread, table


def _empty_build(tmp_path: Path) -> CanonicalBuild:
    """A real build with nothing to read: it opens nothing but the (empty) raw folder."""
    catalog = load_catalog(None)
    mapping = catalog.mapping("connectwise", "service_tickets")
    assert mapping is not None
    ref = TableRef(run_id="r1", tenant_id="acme", service="connectwise", table="service_tickets",
                   mode=SyncMode.INCREMENTAL, run_started_at=utc_now())
    return CanonicalBuild(table=ref, mapping=mapping, canonical=catalog.canonical_table(mapping.canonical_table),
                          uri=str(tmp_path / "canonical" / "tickets"), raw_directory=str(tmp_path / "raw"), chunks=[])


def test_a_worker_that_dies_fails_the_build_it_held_saying_so_and_the_next_build_gets_a_new_one(
        tmp_path: Path) -> None:
    builds = ProcessBuilds(3)  # a pool of its own: no other test's builds are in it
    job = _empty_build(tmp_path)
    try:
        assert asyncio.run(builds(job)).created == 0
        for pid in list(ProcessBuilds._pools[3]._processes):  # type: ignore[attr-defined]
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        with pytest.raises(BuildFailed) as failed:
            asyncio.run(builds(job))
        message = str(failed.value)
        assert "acme/connectwise/service_tickets" in message and "ended before the build did" in message
        assert "the next run builds it again" in message
        assert asyncio.run(builds(job)).created == 0  # a new pool
    finally:
        pool = ProcessBuilds._pools.pop(3, None)
        if pool is not None:
            pool.shutdown()


def test_worker_processes_end_when_the_process_that_started_them_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys, time
        import psutil
        from avesa.pipeline.build_runner import ProcessBuilds
        ProcessBuilds(1).start()
        deadline = time.monotonic() + 60
        while not psutil.Process().children() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)
        print(" ".join(str(p.pid) for p in psutil.Process().children(recursive=True)), flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert parent.stdout is not None
        workers = [int(pid) for pid in parent.stdout.readline().split()]
        assert workers, "the pool started no worker process"
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 15
        alive = workers
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [pid for pid in workers if _running(pid)]
        assert not alive, f"worker processes {alive} outlived their killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_builds_stay_in_a_thread_when_asked_or_when_the_lake_is_an_object_store() -> None:
    assert isinstance(canonical_builder(1, local_lake=True), ProcessBuilds)
    assert not isinstance(canonical_builder(0, local_lake=True), ProcessBuilds)
    assert not isinstance(canonical_builder(2, local_lake=False), ProcessBuilds)
