"""A chunk that learns from its first page that it holds far more than one chunk's worth splits
itself: the pieces tile its range, every record lands exactly once, and the canonical tables match."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow.parquet as pq

from avesa.domain.work import SyncMode, TableRef
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import sync
from tests.pipeline.test_end_to_end import _assert_matches_source


def test_chunks_split_while_running_tile_the_range_and_land_each_record_once(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("split", scale="small"), tables=["time_entries", "service_tickets"])
    ctx = make_ctx(target_chunk_records=300, page_size=100, records_per_file=200)
    summary = sync(ctx, full=True)
    assert not summary.failed
    run = ctx.state.get_run(summary.run_id)
    for tr in ctx.state.list_table_runs(run_id=run.run_id):
        ref = TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        chunks = sorted(ctx.state.list_chunks(ref), key=lambda c: c.range_start)
        assert len(chunks) > 3, f"{tr.table}: {len(chunks)} chunks; the planner made one and it should split"
        assert chunks[0].range_start == tr.range_start and chunks[-1].range_end == tr.range_end
        for before, after in itertools.pairwise(chunks):
            assert before.range_end == after.range_start  # contiguous: no gap, no overlap
        assert all(c.status == "complete" for c in chunks)
        # estimates come from the pages (no count request): every chunk has one, and the table's is
        # close to what landed (the Link header says pages left, so the estimate is within a page or so
        # per split)
        assert all(c.estimate is not None for c in chunks)
        table_run = ctx.state.get_table_run(ref)
        assert table_run.estimate is not None
        assert abs(table_run.estimate - table_run.records) <= 100 * len(chunks), (table_run.estimate, tr.records)
        files = sorted((avesa_home / "lake" / tenant / "raw" / "connectwise" / tr.table).glob("*.parquet"))
        ids = pq.read_table(files, columns=["record_id"])["record_id"].to_pylist()
        path = ctx.catalog.service("connectwise").table(tr.table).path
        assert sorted(ids) == sorted(str(i) for i in sandbox_admin.record_ids(tenant, path))  # each exactly once
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
