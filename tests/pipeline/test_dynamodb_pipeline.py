"""The engine unchanged on the AWS stores: chunks that split themselves while they run, leases,
checkpoints, watermarks and the throughput of earlier runs, all in DynamoDB (moto's server over
real HTTP), the credentials in Secrets Manager — and the canonical tables match the source."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.aws_support import aws_environment, isolate_aws_environment, unique_prefix
from tests.pipeline.helpers import let_source_clock_pass, sync
from tests.pipeline.test_end_to_end import _assert_matches_source


@pytest.fixture
def aws_ctx(make_ctx: Callable[..., PipelineContext], moto_endpoint: str, monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> Callable[..., PipelineContext]:
    """`make_ctx` with AVESA_STATE_URL / AVESA_SECRETS_URL on moto (one fresh prefix per test)."""
    isolate_aws_environment(monkeypatch, tmp_path)
    for name, value in aws_environment(moto_endpoint).items():
        monkeypatch.setenv(name, value)
    prefix = unique_prefix("engine")

    def make(**overrides: object) -> PipelineContext:
        return make_ctx(state_url=f"dynamodb://{prefix}?create=true", secrets_url=f"secretsmanager://{prefix}",
                        **overrides)

    return make


@pytest.fixture
def instance(sandbox_admin: SandboxAdmin) -> Iterator[str]:
    """A small ConnectWise instance under a name of its own (not `new_instance`'s counter, on whose
    names the data of later tests' instances depend)."""
    name = unique_prefix("ddb")
    sandbox_admin.create_instance(name, scale="small", seed=1, service="connectwise",
                                  knobs={"rate_limit_per_minute": None})
    yield name
    sandbox_admin.delete_instance(name)


@pytest.mark.slow
def test_a_sync_whose_chunks_split_runs_on_dynamodb_and_matches_the_source(
        sandbox_admin: SandboxAdmin, instance: str, register, aws_ctx, avesa_home: Path) -> None:
    tenant = register(aws_ctx(), instance, tables=["time_entries", "service_tickets"])
    ctx = aws_ctx(target_chunk_records=300, page_size=100, records_per_file=200)
    summary = sync(ctx, full=True)
    assert not summary.failed
    run = ctx.state.get_run(summary.run_id)
    assert run.status == "complete"
    for tr in ctx.state.list_table_runs(run_id=run.run_id):
        ref = TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        chunks = sorted(ctx.state.list_chunks(ref), key=lambda c: c.range_start)
        assert len(chunks) > 3, f"{tr.table}: {len(chunks)} chunks; it should have split"
        assert chunks[0].range_start == tr.range_start and chunks[-1].range_end == tr.range_end
        for before, after in itertools.pairwise(chunks):
            assert before.range_end == after.range_start
        assert all(c.status == "complete" and c.lease_owner is None for c in chunks)
        assert tr.records == sum(c.records for c in chunks) > 0
        assert ctx.state.recent_throughput(tr.tenant_id, tr.service, tr.table) is not None
    _assert_matches_source(aws_ctx(), sandbox_admin, tenant)
    assert not (avesa_home / "state.sqlite3").exists() and not (avesa_home / "secrets.enc").exists()

    sandbox_admin.mutate(tenant, updates=30, inserts=5, deletes=0, seed=4)
    let_source_clock_pass(sandbox_admin, [tenant])
    again = sync(aws_ctx())
    assert not again.failed and again.records < summary.records / 2  # from the watermarks in DynamoDB
    _assert_matches_source(aws_ctx(), sandbox_admin, tenant)
