"""The units are functions of (context, JSON payload) → JSON payload: run one by one in fresh OS
processes, with nothing passed between them but JSON, the state store and the lake, they build the
lake and the history the local executor builds from the same source data — on both back-end sets:
SQLite + encrypted file + local lake, and DynamoDB + Secrets Manager + S3 (moto's server over HTTP)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pytest

from avesa.domain.work import RunRequest
from avesa.lake.raw_files import iter_raw_batches, list_raw_files
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import run_sync
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.aws_support import aws_client, aws_environment, isolate_aws_environment, unique_prefix
from tests.pipeline.helpers import CONNECTWISE_SYNCED, canonical, let_source_clock_pass
from tests.runtime.json_unit_executor import JsonUnitExecutor

TUNING = {"page_size": 20, "records_per_file": 40, "target_chunk_records": 40}
"""Small pages and chunks, so tables split into several chunks while they run."""
LOAD_COLUMNS = ("loaded_at", "run_id", "extracted_at")


@dataclass
class Backends:
    """Where one executor's state, secrets and lake live: settings for this process, the same as
    environment variables for the executor's worker processes."""

    home: Path
    urls: dict[str, str] = field(default_factory=dict)  # state_url, secrets_url, lake_url
    aws: dict[str, str] = field(default_factory=dict)

    def settings(self, **overrides: object) -> Settings:
        return Settings(home=self.home, **self.urls, **overrides)

    def context(self, **overrides: object) -> PipelineContext:
        return PipelineContext.from_settings(self.settings(**overrides))

    def environment(self) -> dict[str, str]:
        settings = {"home": str(self.home), **self.urls, **{k: str(v) for k, v in TUNING.items()}}
        return {**self.aws, **{f"AVESA_{k.upper()}": v for k, v in settings.items()}}


@pytest.fixture(params=["sqlite-local", "aws"])
def backends(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> tuple[Backends, Backends]:
    """Two separate back-end sets of one kind: the local executor's and the proof executor's."""
    if request.param == "sqlite-local":
        return Backends(tmp_path / "local"), Backends(tmp_path / "units")
    endpoint = request.getfixturevalue("moto_endpoint")
    isolate_aws_environment(monkeypatch, tmp_path)
    aws = aws_environment(endpoint)
    for name, value in aws.items():
        monkeypatch.setenv(name, value)
    sets = []
    for label in ("local", "units"):
        prefix = unique_prefix(f"proof-{label}")
        aws_client("s3", endpoint).create_bucket(Bucket=prefix)
        urls = {"state_url": f"dynamodb://{prefix}?create=true", "secrets_url": f"secretsmanager://{prefix}",
                "lake_url": f"s3://{prefix}/lake"}
        sets.append(Backends(tmp_path / label, urls, aws))
    return sets[0], sets[1]


def _register(where: Backends, sandbox_admin: SandboxAdmin, tenants: list[str]) -> None:
    ctx = where.context(**TUNING)
    for tenant in tenants:
        register_service(ctx, tenant_id=tenant, company_name=tenant.title(), service="connectwise",
                         credentials=sandbox_admin.connection(tenant))
    ctx.state.close()


def _without_load(absorbed: str | None) -> list[dict] | None:
    """An absorbed-versions cell without the columns that say when (and by which run) it loaded."""
    if absorbed is None:
        return None
    return [{k: v for k, v in version.items() if k not in LOAD_COLUMNS} for version in json.loads(absorbed)]


def _history(where: Backends, tenant: str, table: str) -> list[str]:
    """Every row of the canonical table, but for the load columns (each run's own)."""
    rows = canonical(where.context(), tenant, table).drop_columns(list(LOAD_COLUMNS)).to_pylist()
    for row in rows:
        row["absorbed_versions"] = _without_load(row["absorbed_versions"])
    return sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)


def _raw_records(where: Backends, tenant: str, table: str) -> list[tuple]:
    directory = where.context().lake.raw_dir(tenant, "connectwise", table)
    batches = list(iter_raw_batches(list_raw_files(directory, [""]), directory))
    rows = pa.Table.from_batches(batches).select(["record_id", "source_updated_at", "record"])
    return sorted({tuple(row.values()) for row in rows.to_pylist()})


@pytest.mark.slow
def test_units_run_in_fresh_processes_with_json_payloads_build_what_the_local_executor_builds(
        backends: tuple[Backends, Backends], sandbox_admin: SandboxAdmin, new_instance) -> None:
    tenants = [new_instance("proof", counts={"service/tickets": 160, "time/entries": 90}), new_instance("proof")]
    local, units = backends
    for where in backends:
        _register(where, sandbox_admin, tenants)

    with JsonUnitExecutor(units.environment(), workers=3) as executor:
        for round_ in range(2):  # a first sync, then an incremental one over updates, inserts and deletes
            if round_:
                for tenant in tenants:
                    sandbox_admin.mutate(tenant, updates=25, inserts=8, deletes=4, seed=7, tables=CONNECTWISE_SYNCED)
                let_source_clock_pass(sandbox_admin, tenants)
            here = run_sync(local.context(**TUNING), RunRequest())
            end, results = executor.run(RunRequest())
            assert here.status == end.status == "complete", [r.error for r in results if r.error]
            assert end.records == here.records and end.tables == len(here.results) == 8

    assert len(executor.chunk_processes) >= 2 and executor.most_chunks_at_once >= 2  # chunks split and ran at once
    for tenant in tenants:
        for table in ("companies", "contacts", "tickets", "time_entries"):
            assert _history(units, tenant, table) == _history(local, tenant, table), (tenant, table)
        for table in ("service_tickets", "time_entries"):
            assert _raw_records(units, tenant, table) == _raw_records(local, tenant, table)
