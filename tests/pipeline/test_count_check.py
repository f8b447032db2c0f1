"""Data-quality counts after a full sync: the source's own count against the canonical table's live
rows, on the table run, as an event and in `avesa status` — against the sandbox over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import emitted, sync

CTX = Callable[..., PipelineContext]


def _table_run(ctx: PipelineContext, run_id: str, table: str):
    [found] = [tr for tr in ctx.state.list_table_runs(run_id=run_id) if tr.table == table]
    return found


def test_a_full_sync_records_matching_counts_and_an_incremental_one_none(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX) -> None:
    tenant = register(make_ctx(), new_instance("counts"), tables=["service_tickets", "company_companies"])
    full = sync(make_ctx(), full=True)
    assert not full.failed
    ctx = make_ctx()
    for table, endpoint in (("service_tickets", "service/tickets"), ("company_companies", "company/companies")):
        tr = _table_run(ctx, full.run_id, table)
        source = len(sandbox_admin.record_ids(tenant, endpoint))
        assert (tr.source_count, tr.canonical_count) == (source, source)
        assert tr.count_difference == 0
    later = sync(make_ctx())
    assert _table_run(make_ctx(), later.run_id, "service_tickets").source_count is None  # only full syncs count


def test_a_record_the_listing_misses_is_a_count_mismatch_in_the_ledger_the_log_and_status(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX, avesa_home: Path,
        monkeypatch) -> None:
    tenant = register(make_ctx(), new_instance("miss"), tables=["service_tickets"])
    # the source's /count sees one ticket more than its listings return
    sandbox_admin.add_fault(tenant, "count-plus-one", count=50, table="service/tickets", scope="count")
    with emitted("count_mismatch") as seen:
        summary = sync(make_ctx(), full=True)
    assert not summary.failed, "a count difference is reported, it never fails the table"
    listed = len(sandbox_admin.record_ids(tenant, "service/tickets"))
    tr = _table_run(make_ctx(), summary.run_id, "service_tickets")
    assert (tr.source_count, tr.canonical_count, tr.count_difference) == (listed + 1, listed, 1)
    [mismatch] = seen
    assert mismatch["difference"] == 1 and mismatch["table"] == "service_tickets"
    logged = [json.loads(line) for line in (avesa_home / "logs" / "avesa.jsonl").read_text().splitlines()]
    assert any(e["event"] == "count_mismatch" and e["level"] == "warning" for e in logged)

    status = CliRunner().invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "count mismatch" in status.output
    assert f"the source counts {listed + 1:,} records, the lake holds {listed:,} live rows (1 fewer" in status.output

    # within the tolerance the same figures are not a mismatch
    monkeypatch.setenv("AVESA_COUNT_TOLERANCE", "0.5")
    relaxed = CliRunner().invoke(app, ["status"])
    assert "count mismatch" not in relaxed.output
    assert f"{listed + 1:,} = {listed:,}" in relaxed.output
