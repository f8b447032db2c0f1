"""Two `avesa run` at once never both write a tenant's tables: the second leaves that tenant out
and says which run holds it; other tenants proceed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import sync
from tests.pipeline.test_end_to_end import _assert_matches_source


@pytest.mark.slow
def test_the_second_run_leaves_out_a_tenant_the_first_is_syncing(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    busy = register(make_ctx(), new_instance("busy", knobs={"latency_ms": 150}))
    free = register(make_ctx(), new_instance("free"))
    env = {**os.environ, "AVESA_HOME": str(avesa_home), "AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "20"}
    first = subprocess.Popen([sys.executable, "-m", "avesa", "run", "--tenant", busy], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    raw = avesa_home / "lake" / busy / "raw"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(raw.rglob("*.parquet")):
        time.sleep(0.02)
    assert first.poll() is None, "the first run should still be extracting"

    second = sync(make_ctx())
    holder = make_ctx().state.list_runs(status="running")
    assert [r.run_id for r in holder], "the first run is running"
    assert {r.table.tenant_id for r in second.results} == {free}
    assert any(reason.startswith(f"{busy}: being synced by run {holder[0].run_id}") for reason in second.skipped)
    assert not second.failed

    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0, output
    _assert_matches_source(make_ctx(), sandbox_admin, busy)
    _assert_matches_source(make_ctx(), sandbox_admin, free)
    third = sync(make_ctx())  # the lock went with the first run
    assert {r.table.tenant_id for r in third.results} == {busy, free} and not third.skipped
