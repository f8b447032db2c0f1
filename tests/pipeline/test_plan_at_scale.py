"""Planning an MSP-sized run: 500 tenants, every ConnectWise table each."""

from __future__ import annotations

import time

import pytest

from avesa.domain.registry import Tenant, TenantService
from avesa.domain.timeutil import utc_now
from avesa.domain.work import RunRequest
from avesa.pipeline.plan import plan_run

TENANTS = 500


@pytest.mark.slow
def test_planning_500_tenants_is_quick_and_complete(make_ctx) -> None:
    ctx = make_ctx()
    tables = list(ctx.catalog.service("connectwise").tables)
    now = utc_now()
    for i in range(TENANTS):
        tenant_id = f"tenant-{i:03d}"
        ctx.state.put_tenant(Tenant(tenant_id=tenant_id, company_name=f"Client {i}", created_at=now))
        ctx.state.put_service(TenantService(tenant_id=tenant_id, service="connectwise", tables=tables,
                                            settings={"api_url": "http://127.0.0.1:9"},
                                            secret_ref=f"avesa/{tenant_id}/connectwise", created_at=now))
    started = time.perf_counter()
    plan = plan_run(ctx, RunRequest())
    seconds = time.perf_counter() - started
    print(f"planned {len(plan.tables)} tables of {TENANTS} tenants in {seconds:.2f}s")
    assert len(plan.tables) == TENANTS * len(tables)
    assert len(ctx.state.list_table_runs(run_id=plan.run_id)) == TENANTS * len(tables)
    assert seconds < 30  # a guard against quadratic planning, not a benchmark
