"""A tenant's rate budget held in the state store is shared by separate OS processes — what the AWS
executor's Lambdas and the proof executor's workers are: three processes on one SQLite state file,
each asking the tenant's ConnectWise instance through its own connector, together stay within the
tenant's budget. The control: with the budget kept per process, the same three send about three
times as fast, which is what the shared budget is for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from avesa.domain.registry import RateLimitOverride
from avesa_sandbox import SandboxAdmin

WORKERS = 3
REQUESTS_EACH = 6
PER_MINUTE = 240.0  # 4 a second
BURST = 1
REPO = Path(__file__).resolve().parents[2]


def _limit(make_ctx, register, instance: str) -> None:
    ctx = make_ctx()
    register(ctx, instance, tables=["service_tickets"])
    service = ctx.state.get_service(instance, "connectwise")
    ctx.state.put_service(service.model_copy(update={
        "rate_limit": RateLimitOverride(requests_per_minute=PER_MINUTE, burst=BURST)}))
    ctx.state.close()


def _run_workers(instance: str, shared: bool) -> list[float]:
    """Every answer's wall-clock time, from WORKERS processes started to ask at one moment."""
    environment = {**os.environ, "AVESA_SHARED_RATE_BUDGETS": "true" if shared else "false",
                   "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO),
                                                  os.environ.get("PYTHONPATH", "")])}
    start_at = time.time() + 6.0  # after every process has imported and built its context
    workers = [subprocess.Popen([sys.executable, "-m", "tests.connectors.shared_budget_worker", instance,
                                 str(start_at), str(REQUESTS_EACH)], cwd=REPO, env=environment,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(WORKERS)]
    answered: list[float] = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        answered += json.loads(out.strip().splitlines()[-1])
    assert min(answered) >= start_at - 0.05, "a worker was not ready at the start moment: raise the lead time"
    return sorted(answered)


@pytest.mark.slow
@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-process control"])
def test_worker_processes_share_one_tenants_rate_budget(
        shared: bool, make_ctx, register, new_instance, sandbox_admin: SandboxAdmin) -> None:
    instance = new_instance("budget")
    _limit(make_ctx, register, instance)
    sandbox_admin.reset_stats(instance)

    answered = _run_workers(instance, shared)

    total = WORKERS * REQUESTS_EACH
    assert len(answered) == total
    assert sandbox_admin.stats(instance)["requests"] == total  # every slot was a real request
    span = answered[-1] - answered[0]
    shared_span = (total - BURST) / (PER_MINUTE / 60.0)  # the bucket's refill time for the rest
    if shared:
        assert span >= 0.9 * shared_span, f"{total} requests in {span:.2f}s: faster than one budget allows"
    else:
        per_process_span = (REQUESTS_EACH - BURST) / (PER_MINUTE / 60.0)
        assert span < 0.6 * shared_span, f"per-process budgets took {span:.2f}s (each alone: {per_process_span:.2f}s)"
