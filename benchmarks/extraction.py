"""Extraction benchmark: records/s landed as raw Parquet from a multi-tenant sandbox workload.

The sandbox runs in its own process with a fixed latency per request (asyncio.sleep, no CPU),
so what is measured is how well the engine keeps requests in flight — not the sandbox's CPU.
Tenants get a generous rate budget here: the budget is a politeness limit, measured elsewhere;
this benchmark measures concurrency against latency.

The figures (one run, so ratios are meaningful on a noisy machine):
- records_per_s over the whole extraction (plan + every chunk, raw files written);
- bound_records_per_s = requests in flight × page size / latency — the ceiling concurrency allows;
- peak_rss_mb of the pipeline process (the sandbox's memory is not the pipeline's).
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from avesa.domain.registry import RateLimitOverride
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunRequest, RunStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.plan import plan_run
from avesa.pipeline.registration import register_service
from avesa.runtime.local import LocalExecutor
from avesa.settings import Settings
from avesa_sandbox.client import SandboxAdmin
from avesa_sandbox.process import SandboxProcess
from benchmarks.memory import PeakMemory


@dataclass
class Workload:
    tenants: int
    scale: str
    latency_ms: float
    name: str = "bench"

    def instance_args(self) -> list[str]:
        args = ["--rate-limit", "1000000", "--burst", "100000", "--latency-ms", str(self.latency_ms)]
        for i in range(1, self.tenants + 1):
            args += ["--instance", f"{self.name}-{i}:{self.scale}:{i}"]
        return args

    def tenant_ids(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(1, self.tenants + 1)]


def register_workload(ctx: PipelineContext, admin: SandboxAdmin, workload: Workload) -> None:
    for tenant in workload.tenant_ids():
        register_service(ctx, tenant_id=tenant, company_name=tenant, service="connectwise",
                         credentials=admin.connection(tenant))
        config = ctx.state.get_service(tenant, "connectwise")
        if config is None:
            raise RuntimeError(f"{tenant}: the service just registered is not in the registry")
        ctx.state.put_service(config.model_copy(update={
            "rate_limit": RateLimitOverride(requests_per_minute=1_000_000, burst=10_000)}))


def extract(home: Path, base_url: str, workload: Workload, tenant: str | None = None,
            **settings: Any) -> dict[str, float]:
    """One extract-only run of every tenant of `workload` (or just `tenant`) into a fresh AVESA_HOME."""
    shutil.rmtree(home, ignore_errors=True)
    ctx = PipelineContext.from_settings(Settings(home=home, **settings))
    with SandboxAdmin(base_url) as admin:
        register_workload(ctx, admin, workload)
        admin_stats_before = admin.stats()
    planning_started = time.perf_counter()
    planned = plan_run(ctx, RunRequest(tenant_id=tenant))  # planning alone, for the figure
    planning_seconds = time.perf_counter() - planning_started
    ctx.state.finish_run(planned.run_id, RunStatus.ABANDONED, utc_now())  # never executed: release its tenants
    ctx.state.unlock_tenants(planned.run_id)
    me = psutil.Process()
    cpu_before = me.cpu_times()
    with PeakMemory() as rss:
        started = time.perf_counter()
        summary = asyncio.run(LocalExecutor(ctx, extract_only=True).run(RunRequest(tenant_id=tenant)))
        seconds = time.perf_counter() - started
    cpu_after = me.cpu_times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    if summary.failed:
        raise RuntimeError(f"benchmark run failed: {[r.error for r in summary.failed][:3]}")
    with SandboxAdmin(base_url) as admin:
        requests = _total_requests(admin.stats()) - _total_requests(admin_stats_before)
    return {"records": summary.records, "seconds": seconds, "records_per_s": summary.records / seconds,
            "peak_rss_mb": rss.rss_mb, "requests": requests,
            "pipeline_cpu_us_per_record": cpu * 1e6 / max(1, summary.records),
            "tables": len(summary.results), "planning_seconds": planning_seconds}


def _total_requests(stats: dict[str, Any]) -> int:
    totals = stats.get("totals", stats)
    return int(totals.get("requests", 0))


def run_workload(workdir: Path, workload: Workload, runs: list[tuple[str, dict[str, Any]]]) -> dict[str, dict]:
    """Start one sandbox for `workload`, then do each named extract-only run against it."""
    results = {}
    with SandboxProcess(workload.instance_args()) as sandbox:
        for label, settings in runs:
            results[label] = extract(workdir / label, sandbox.base_url, workload, **settings)
    return results
