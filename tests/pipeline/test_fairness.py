"""Fair scheduling: a tenant far larger than the rest does not hold the small tenants back — they
finish in close to the time they take alone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from avesa.domain.registry import RateLimitOverride
from avesa.domain.work import RunRequest, TableResult
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import LocalExecutor
from avesa.runtime.observer import NullObserver
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from avesa_sandbox.process import SandboxProcess

SMALL = ["small-1", "small-2", "small-3"]


class _FinishTimes(NullObserver):
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.finished: dict[str, float] = {}

    def table_finished(self, result: TableResult) -> None:
        self.finished[result.table.tenant_id] = time.monotonic() - self.started


def _run(home: Path, base_url: str, tenants: list[str]) -> dict[str, float]:
    ctx = PipelineContext.from_settings(Settings(home=home))
    with SandboxAdmin(base_url) as admin:
        for tenant in tenants:
            register_service(ctx, tenant_id=tenant, company_name=tenant, service="connectwise",
                             credentials=admin.connection(tenant))
            config = ctx.state.get_service(tenant, "connectwise")
            ctx.state.put_service(config.model_copy(update={
                "rate_limit": RateLimitOverride(requests_per_minute=100_000, burst=1_000)}))
    times = _FinishTimes()
    summary = asyncio.run(LocalExecutor(ctx, times, extract_only=True).run(RunRequest()))
    assert not summary.failed
    return times.finished


@pytest.mark.slow
def test_small_tenants_finish_close_to_their_time_alone_beside_a_100x_larger_one(tmp_path: Path) -> None:
    # "large" is about 250x "tiny" (81,250 vs 330 records); the sandbox runs in its own process so the
    # pipeline, not the sandbox, is what shares the CPU.
    instances = ["--instance", "big:large:0"] + [a for name in SMALL for a in ("--instance", f"{name}:tiny:1")]
    with SandboxProcess([*instances, "--latency-ms", "100", "--rate-limit", "1000000", "--burst", "100000"]) as sb:
        alone = _run(tmp_path / "alone", sb.base_url, SMALL)
        beside = _run(tmp_path / "beside", sb.base_url, ["big", *SMALL])
    slowest_alone = max(alone[t] for t in SMALL)
    for tenant in SMALL:
        assert beside[tenant] <= max(2.0 * slowest_alone, slowest_alone + 1.0), (tenant, alone, beside)
        assert beside[tenant] < beside["big"] / 2, (tenant, beside)
