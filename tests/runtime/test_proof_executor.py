"""The units are functions of (context, JSON payload) → JSON payload: run one by one in fresh OS
processes, with nothing passed between them but JSON, the ledger and the lake, they build the lake
and the history the local executor builds from the same source data."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from avesa.domain.work import RunRequest
from avesa.lake.raw_files import iter_raw_batches, list_raw_files
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import run_sync
from avesa.sandbox import SandboxAdmin
from avesa.settings import Settings
from tests.pipeline.helpers import CONNECTWISE_SYNCED, canonical, let_source_clock_pass
from tests.runtime.json_unit_executor import JsonUnitExecutor

TUNING = {"page_size": 20, "records_per_file": 40, "target_chunk_records": 40}
"""Small pages and chunks, so tables split into several chunks while they run."""
LOAD_COLUMNS = ("loaded_at", "run_id")


def _register(home: Path, sandbox_admin: SandboxAdmin, tenants: list[str]) -> None:
    ctx = PipelineContext.from_settings(Settings(home=home, **TUNING))
    for tenant in tenants:
        register_service(ctx, tenant_id=tenant, company_name=tenant.title(), service="connectwise",
                         credentials=sandbox_admin.connection(tenant))
    ctx.state.close()


def _without_load(absorbed: str | None) -> list[dict] | None:
    """An absorbed-versions cell without the columns that say when (and by which run) it loaded."""
    if absorbed is None:
        return None
    return [{k: v for k, v in version.items() if k not in LOAD_COLUMNS} for version in json.loads(absorbed)]


def _history(home: Path, tenant: str, table: str) -> list[str]:
    """Every row of the canonical table, but for the load columns (each run's own)."""
    ctx = PipelineContext.from_settings(Settings(home=home))
    rows = canonical(ctx, tenant, table).drop_columns(list(LOAD_COLUMNS)).to_pylist()
    for row in rows:
        row["absorbed_versions"] = _without_load(row["absorbed_versions"])
    return sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)


def _raw_records(home: Path, tenant: str, table: str) -> list[tuple]:
    ctx = PipelineContext.from_settings(Settings(home=home))
    directory = ctx.lake.raw_dir(tenant, "connectwise", table)
    batches = list(iter_raw_batches(list_raw_files(directory, [""]), directory))
    rows = pa.Table.from_batches(batches).select(["record_id", "source_updated_at", "record"])
    return sorted(set(tuple(row.values()) for row in rows.to_pylist()))


@pytest.mark.slow
def test_units_run_in_fresh_processes_with_json_payloads_build_what_the_local_executor_builds(
        tmp_path: Path, sandbox_admin: SandboxAdmin, new_instance) -> None:
    tenants = [new_instance("proof", counts={"service/tickets": 160, "time/entries": 90}), new_instance("proof")]
    local_home, units_home = tmp_path / "local", tmp_path / "units"
    for home in (local_home, units_home):
        _register(home, sandbox_admin, tenants)
    env = {"AVESA_HOME": str(units_home), **{f"AVESA_{k.upper()}": str(v) for k, v in TUNING.items()}}

    with JsonUnitExecutor(env, workers=3) as executor:
        for round_ in range(2):  # a first sync, then an incremental one over updates, inserts and deletes
            if round_:
                for tenant in tenants:
                    sandbox_admin.mutate(tenant, updates=25, inserts=8, deletes=4, seed=7, tables=CONNECTWISE_SYNCED)
                let_source_clock_pass(sandbox_admin, tenants)
            local = run_sync(PipelineContext.from_settings(Settings(home=local_home, **TUNING)), RunRequest())
            end, results = executor.run(RunRequest())
            assert local.status == end.status == "complete", [r.error for r in results if r.error]
            assert end.records == local.records and end.tables == len(local.results) == 8

    assert len(executor.chunk_processes) >= 2 and executor.most_chunks_at_once >= 2  # chunks split and ran at once
    for tenant in tenants:
        for table in ("companies", "contacts", "tickets", "time_entries"):
            assert _history(units_home, tenant, table) == _history(local_home, tenant, table), (tenant, table)
        for table in ("service_tickets", "time_entries"):
            assert _raw_records(units_home, tenant, table) == _raw_records(local_home, tenant, table)
