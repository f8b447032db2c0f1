"""The five ConnectWise tables added to the first eight (configurations, opportunities, project
tickets, schedule entries, boards) sync end to end: every record lands in raw exactly once, as the
source has it, and an incremental run picks up what changed. They have no canonical mapping."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq

from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import let_source_clock_pass, sync

CTX = Callable[..., PipelineContext]

NEW_TABLES = {
    "company_configurations": "company/configurations",
    "sales_opportunities": "sales/opportunities",
    "project_tickets": "project/tickets",
    "schedule_entries": "schedule/entries",
    "service_boards": "service/boards",
}


def _raw_rows(home: Path, tenant: str, table: str) -> list[dict[str, Any]]:
    files = sorted((home / "lake" / tenant / "raw" / "connectwise" / table).rglob("*.parquet"))
    assert files, f"no raw files for {table}"
    return pq.read_table(files, columns=["record_id", "run_id", "source_updated_at", "record"]).to_pylist()


def _source(admin: SandboxAdmin, instance: str) -> dict[str, dict[str, dict[str, Any]]]:
    """path -> id -> the record as the sandbox holds it now (from its change log)."""
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in admin.changes(instance):
        latest.setdefault(entry["table"], {})[str(entry["id"])] = entry
    return {
        path: {rid: e["record"] for rid, e in entries.items() if e["op"] != "delete"}
        for path, entries in latest.items()
    }


def test_new_connectwise_tables_land_every_record_once_then_sync_incrementally(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("cwx"), tables=list(NEW_TABLES))
    first = sync(make_ctx(), full=True)
    assert not first.failed
    assert {r.table.table for r in first.results} == set(NEW_TABLES)
    assert all(r.canonical_table is None for r in first.results)  # raw only: no mapping
    source = _source(sandbox_admin, tenant)
    for table, path in NEW_TABLES.items():
        rows = _raw_rows(avesa_home, tenant, table)
        ids = [row["record_id"] for row in rows]
        assert sorted(ids) == sorted(str(i) for i in sandbox_admin.record_ids(tenant, path)), table  # exactly once
        assert len(ids) == len(set(ids)) > 0
        for row in rows:
            record = orjson.loads(row["record"])
            assert record == source[path][row["record_id"]], (table, row["record_id"])
            stamp = row["source_updated_at"].strftime("%Y-%m-%dT%H:%M:%SZ")
            assert stamp == record["_info"]["lastUpdated"]

    before = len(sandbox_admin.changes(tenant))
    report = sandbox_admin.mutate(tenant, updates=25, inserts=8, seed=4, tables=list(NEW_TABLES.values()))
    let_source_clock_pass(sandbox_admin, [tenant])
    second = sync(make_ctx())
    assert not second.failed
    changed = {(e["table"], str(e["id"])) for e in sandbox_admin.changes(tenant, after_seq=before)}
    assert len(changed) >= report["counts"]["inserted"]
    # an incremental run reads what changed (plus the look-back), not the whole tables again
    assert 0 < second.records < first.records
    source = _source(sandbox_admin, tenant)
    for table, path in NEW_TABLES.items():
        rows = _raw_rows(avesa_home, tenant, table)
        second_run = {row["record_id"] for row in rows if row["run_id"] == second.run_id}
        assert {rid for t, rid in changed if t == path} <= second_run, table
        newest: dict[str, dict[str, Any]] = {}
        for row in sorted(rows, key=lambda r: r["source_updated_at"]):
            newest[row["record_id"]] = orjson.loads(row["record"])
        assert newest == source[path], table  # the newest landed version of every record is the source's
