"""The embedded pipeline end to end against the sandbox over real HTTP."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from avesa.cli.ground_truth import check_tenant
from avesa.domain.errors import NotFoundError, UsageError
from avesa.domain.work import RunRequest, TableStatus
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.plan import plan_run
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials
from tests.pipeline.helpers import canonical, let_source_clock_pass, sync

CTX = Callable[..., PipelineContext]


def _assert_matches_source(ctx: PipelineContext, admin: SandboxAdmin, tenant: str) -> None:
    checks = check_tenant(ctx, admin, tenant, tenant)
    assert checks
    for check in checks:
        assert check.ok, check


def test_full_then_incremental_sync_matches_the_source(sandbox_admin: SandboxAdmin, new_instance, register,
                                                       make_ctx: CTX) -> None:
    tenant = register(make_ctx(), new_instance("acme"))
    first = sync(make_ctx())
    assert not first.failed and first.records > 0
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    tickets = canonical(make_ctx(), tenant, "tickets")
    assert tickets.num_rows == len(sandbox_admin.record_ids(tenant, "service/tickets"))

    sandbox_admin.mutate(tenant, updates=40, inserts=10, deletes=0, seed=3)
    let_source_clock_pass(sandbox_admin, [tenant])
    second = sync(make_ctx())
    assert not second.failed
    # incremental: only what changed since the watermark (plus the look-back) is read again
    assert second.records < first.records / 2
    assert sum(r.versions_created for r in second.results) > 0
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)
    # history: every changed key has its old version closed and one current version
    tickets = canonical(make_ctx(), tenant, "tickets").to_pylist()
    current = [r for r in tickets if r["is_current"]]
    assert len(current) == len({r["source_id"] for r in tickets})
    closed = [r for r in tickets if not r["is_current"]]
    assert all(r["effective_end_date"] is not None for r in closed)


def test_deletes_reach_canonical_as_is_deleted_versions_on_a_full_sync(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX) -> None:
    tenant = register(make_ctx(), new_instance("del"), tables=["service_tickets"])
    sync(make_ctx())
    victim = sandbox_admin.record_ids(tenant, "service/tickets")[3]
    sandbox_admin.delete_record(tenant, "service/tickets", victim)
    summary = sync(make_ctx(), full=True)
    assert [r.deletes for r in summary.results] == [1]
    rows = [r for r in canonical(make_ctx(), tenant, "tickets").to_pylist() if r["source_id"] == str(victim)]
    rows.sort(key=lambda r: r["effective_start_date"])
    assert [(r["is_deleted"], r["is_current"]) for r in rows] == [(False, False), (True, True)]
    # a second full sync does not delete it again
    assert [r.deletes for r in sync(make_ctx(), full=True).results] == [0]


def test_raw_files_hold_each_record_once_with_envelope_and_no_secrets(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX, avesa_home: Path) -> None:
    tenant = register(make_ctx(target_chunk_records=15, records_per_file=7), new_instance("raw"),
                      tables=["company_contacts"])
    summary = sync(make_ctx(target_chunk_records=15, records_per_file=7, page_size=5))
    assert not summary.failed
    files = sorted(glob.glob(str(avesa_home / "lake" / tenant / "raw/connectwise/company_contacts/*.parquet")))
    assert len(files) > 3  # several chunks, several files each
    table = pq.read_table(files)
    ids = table["record_id"].to_pylist()
    assert sorted(ids, key=int) == sorted(map(str, sandbox_admin.record_ids(tenant, "company/contacts")), key=int)
    assert len(ids) == len(set(ids))
    assert set(table.column_names) >= {"tenant_id", "service", "table", "record_id", "source_updated_at",
                                       "extracted_at", "run_id", "chunk_id", "record"}
    assert set(table["tenant_id"].to_pylist()) == {tenant}
    records = [orjson.loads(r) for r in table["record"].to_pylist()]
    assert all("portalPassword" not in r for r in records)
    assert not [f for f in os.listdir(os.path.dirname(files[0])) if f.endswith(".tmp")]


def test_wrong_credentials_fail_that_tenant_only(sandbox_admin: SandboxAdmin, new_instance, register,
                                                 make_ctx: CTX) -> None:
    good = register(make_ctx(), new_instance("good"))
    bad_instance = new_instance("bad")
    bad = register(make_ctx(), bad_instance,
                   credentials={**sandbox_credentials(sandbox_admin, bad_instance), "private_key": "nope"})
    summary = sync(make_ctx())
    by_tenant = {(r.table.tenant_id, r.status) for r in summary.results}
    assert by_tenant == {(good, TableStatus.COMPLETE), (bad, TableStatus.FAILED)}
    errors = [r.error for r in summary.results if r.table.tenant_id == bad]
    assert all(f"{bad}/connectwise" in e and "credentials" in e for e in errors)
    assert all("nope" not in e for e in errors)
    _assert_matches_source(make_ctx(), sandbox_admin, good)


def test_a_malformed_page_fails_the_chunk_cleanly_and_a_rerun_succeeds(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("mal"), tables=["service_tickets"])
    sync(make_ctx())
    watermark = make_ctx().state.get_watermark(tenant, "connectwise", "service_tickets")
    raw_dir = avesa_home / "lake" / tenant / "raw/connectwise/service_tickets"
    files_before = sorted(raw_dir.iterdir())
    history_before = canonical(make_ctx(), tenant, "tickets")
    sandbox_admin.mutate(tenant, updates=10, seed=2, tables=["service/tickets"])
    let_source_clock_pass(sandbox_admin, [tenant])

    sandbox_admin.add_fault(tenant, "malformed", count=1, table="service/tickets")
    failed = sync(make_ctx())
    assert [r.status for r in failed.results] == [TableStatus.FAILED]
    error = failed.results[0].error
    assert f"{tenant}/connectwise/service_tickets" in error and "page 1" in error and "not valid JSON" in error
    # nothing half-written, nothing landed lost, the watermark did not move
    assert sorted(raw_dir.iterdir()) == files_before
    assert canonical(make_ctx(), tenant, "tickets").sort_by("source_id").equals(history_before.sort_by("source_id"))
    assert make_ctx().state.get_watermark(tenant, "connectwise", "service_tickets") == watermark

    rerun = sync(make_ctx())
    assert [r.status for r in rerun.results] == [TableStatus.COMPLETE]
    assert rerun.results[0].versions_created > 0
    _assert_matches_source(make_ctx(), sandbox_admin, tenant)


def test_unknown_names_are_refused_listing_the_known_ones(new_instance, register, make_ctx: CTX) -> None:
    ctx = make_ctx()
    tenant = register(ctx, new_instance("names"))
    with pytest.raises(NotFoundError, match=f"unknown tenant 'nosuch'; known tenants: {tenant}"):
        plan_run(ctx, RunRequest(tenant_id="nosuch"))
    with pytest.raises(NotFoundError, match="known services: connectwise"):
        plan_run(ctx, RunRequest(service="zendesk"))
    with pytest.raises(NotFoundError, match="service_tickets"):
        plan_run(ctx, RunRequest(table="tickets"))
    with pytest.raises(UsageError, match="invalid tenant id"):
        plan_run(ctx, RunRequest(tenant_id="../x"))
    assert ctx.state.list_runs() == []  # refused before anything was written


def test_runs_leave_an_audit_trail_without_credentials(sandbox_admin: SandboxAdmin, new_instance, register,
                                                       make_ctx: CTX, avesa_home: Path) -> None:
    instance = new_instance("log")
    creds = sandbox_credentials(sandbox_admin, instance)
    register(make_ctx(), instance, tables=["company_companies"])
    summary = sync(make_ctx())
    lines = [orjson.loads(line) for line in (avesa_home / "logs" / "avesa.jsonl").read_text().splitlines()]
    events = {line["event"] for line in lines}
    assert {"table_finished", "run_finished"} <= events
    run = next(line for line in lines if line["event"] == "run_finished" and line["run_id"] == summary.run_id)
    assert run["records"] == summary.records and run["http_requests"] > 0
    text = (avesa_home / "logs" / "avesa.jsonl").read_text()
    assert creds["private_key"] not in text and creds["public_key"] not in text


def test_schema_drift_at_the_source_loses_nothing(sandbox_admin: SandboxAdmin, new_instance, register,
                                                  make_ctx: CTX, avesa_home: Path) -> None:
    """A field added, a field removed and a field retyped: raw keeps the record as sent, canonical
    converts what it can and the run does not fail."""
    tenant = register(make_ctx(), new_instance("drift"), tables=["service_tickets"])
    sync(make_ctx())
    victim = sandbox_admin.record_ids(tenant, "service/tickets")[0]
    sandbox_admin.update_record(tenant, "service/tickets", victim,
                                {"budgetHours": "7.5", "summary": None, "brandNewField": {"nested": [1, 2]}})
    let_source_clock_pass(sandbox_admin, [tenant])
    summary = sync(make_ctx())
    assert not summary.failed
    current = next(r for r in canonical(make_ctx(), tenant, "tickets").to_pylist()
                   if r["source_id"] == str(victim) and r["is_current"])
    assert current["budget_hours"] == 7.5 and current["summary"] is None
    files = sorted((avesa_home / "lake" / tenant / "raw/connectwise/service_tickets").glob("*.parquet"))
    latest = [orjson.loads(r) for r in pq.read_table(files[-1])["record"].to_pylist()]
    drifted = next(r for r in latest if r["id"] == victim)
    assert drifted["brandNewField"] == {"nested": [1, 2]} and drifted["budgetHours"] == "7.5"


def test_incremental_runs_find_deletes_once_the_reconciliation_interval_has_passed(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx: CTX) -> None:
    tenant = register(make_ctx(), new_instance("recon"), tables=["company_companies"])
    sync(make_ctx())
    victim = sandbox_admin.record_ids(tenant, "company/companies")[0]
    sandbox_admin.delete_record(tenant, "company/companies", victim)
    # within the interval (24 h by default): an incremental run does not list ids
    assert [r.deletes for r in sync(make_ctx()).results] == [0]
    # once it has passed (0 h: every run), the incremental run closes the deleted key
    assert [r.deletes for r in sync(make_ctx(reconcile_interval_hours=0)).results] == [1]
    rows = [r for r in canonical(make_ctx(), tenant, "companies").to_pylist() if r["source_id"] == str(victim)]
    assert [(r["is_current"], r["is_deleted"]) for r in sorted(rows, key=lambda r: r["effective_start_date"])] == [
        (False, False), (True, True)]
    # never: negative interval
    assert [r.deletes for r in sync(make_ctx(reconcile_interval_hours=-1)).results] == [0]
