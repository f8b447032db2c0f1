"""At the end of a run the last chunks would read their pages one after another while the other
request slots sit idle; a chunk with pages left hands part of them to the idle slots instead. The
pieces still tile the range and every record lands exactly once, and with no slot to spare the
chunk is left alone."""

from __future__ import annotations

import itertools
from pathlib import Path

import pyarrow.parquet as pq

from avesa.domain.work import SyncMode, TableRef
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import sync
from tests.pipeline.test_end_to_end import _assert_matches_source


def _chunks(ctx, summary):
    run = ctx.state.get_run(summary.run_id)
    (tr,) = ctx.state.list_table_runs(run_id=run.run_id)
    ref = TableRef(run_id=run.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                   mode=SyncMode(tr.mode), run_started_at=run.started_at)
    return tr, sorted(ctx.state.list_chunks(ref), key=lambda c: c.range_start)


def test_a_lone_chunk_shares_its_pages_with_idle_slots(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("idle", scale="small"), tables=["time_entries"])
    # a target far above the table's size: only idle slots can make this chunk split
    ctx = make_ctx(target_chunk_records=1_000_000, page_size=100, records_per_file=200)
    summary = sync(ctx, full=True)
    assert not summary.failed
    tr, chunks = _chunks(ctx, summary)
    assert len(chunks) > 1, "a lone chunk with pages left and idle slots should have split"
    assert chunks[0].range_start == tr.range_start and chunks[-1].range_end == tr.range_end
    for before, after in itertools.pairwise(chunks):
        assert before.range_end == after.range_start
    files = sorted((avesa_home / "lake" / tenant / "raw" / "connectwise" / "time_entries").glob("*.parquet"))
    ids = pq.read_table(files, columns=["record_id"])["record_id"].to_pylist()
    assert sorted(ids) == sorted(str(i) for i in sandbox_admin.record_ids(tenant, "time/entries"))
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)


def test_no_spare_slot_no_split(new_instance, register, make_ctx) -> None:
    register(make_ctx(), new_instance("busy", scale="tiny"), tables=["time_entries"])
    ctx = make_ctx(target_chunk_records=1_000_000, page_size=20, max_requests_in_flight=1)
    summary = sync(ctx, full=True)
    assert not summary.failed
    _, chunks = _chunks(ctx, summary)
    assert len(chunks) == 1 and chunks[0].pages > 1  # several pages, read in one chain: nobody was idle
