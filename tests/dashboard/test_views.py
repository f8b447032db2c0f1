"""What the pages compute from a ledger: freshness against per-table targets, failures in a row,
which run is the latest, the schedule hook, and the masking of anything credential-like — over a
ledger written through the StateStore interface, pages fetched over real HTTP."""

from __future__ import annotations

import sys
import tempfile
import types
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avesa.dashboard import views
from avesa.dashboard.app import create_app
from avesa.dashboard.freshness import Bucket
from avesa.dashboard.views import Dashboard, shown_settings
from avesa.domain.timeutil import utc_now
from avesa.domain.work import SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.settings import Settings
from avesa.state.ledger_records import TableRunUpdate
from tests.dashboard.browser import serve
from tests.dashboard.ledger import record_table_run

TABLES = ["service_tickets", "time_entries", "company_companies", "company_contacts"]


def _tenant(ctx: PipelineContext, tenant_id: str = "acme") -> str:
    register_service(ctx, tenant_id=tenant_id, service="connectwise", company_name="Acme", tables=TABLES,
                     credentials={"api_url": "http://127.0.0.1:9", "company_id": "acme", "public_key": "pub-key-1",
                                  "private_key": "priv-key-1", "client_id": "cid"})
    return tenant_id


def test_freshness_follows_each_tables_target(make_ctx: Callable[..., PipelineContext]) -> None:
    ctx = make_ctx(freshness_target_hours=24, freshness_targets={"service_tickets": 2,
                                                                 "acme/connectwise/time_entries": 48})
    tenant = _tenant(ctx)
    now = utc_now()
    for table, hours_ago in (("service_tickets", 3), ("time_entries", 30), ("company_companies", 50)):
        at = now - timedelta(hours=hours_ago)
        record_table_run(ctx, tenant, table, started=at, status="complete", range_end=at)
    cells = {t.table: t.freshness for t in Dashboard(ctx, now).overview().services[0].tables}
    assert cells["service_tickets"].bucket is Bucket.LATE  # 3h past a 2h target (within twice it)
    assert cells["service_tickets"].target == timedelta(hours=2)
    assert cells["time_entries"].bucket is Bucket.FRESH  # 30h within this tenant's 48h
    assert cells["company_companies"].bucket is Bucket.STALE  # 50h past twice the default 24h
    assert cells["company_contacts"].bucket is Bucket.NEVER
    assert Dashboard(ctx, now).overview().late_tables == 2


def test_a_failed_run_leaves_freshness_where_the_last_success_put_it(make_ctx: Callable[..., PipelineContext]) -> None:
    ctx = make_ctx()
    tenant = _tenant(ctx)
    now = utc_now()
    good = now - timedelta(hours=30)
    record_table_run(ctx, tenant, "service_tickets", started=good, status="complete", range_end=good)
    record_table_run(ctx, tenant, "service_tickets", started=now - timedelta(hours=1), status="failed", error="boom")
    state = Dashboard(ctx, now).table(tenant, "connectwise", "service_tickets").state
    assert state.status == "failed"
    assert state.freshness.synced_to == state.last_success.range_end
    assert abs(state.freshness.synced_to - good) < timedelta(seconds=1)
    assert state.freshness.bucket is Bucket.LATE


def test_failures_in_a_row_count_the_latest_failed_syncs_and_not_backfills(
        make_ctx: Callable[..., PipelineContext]) -> None:
    ctx = make_ctx()
    tenant = _tenant(ctx)
    now = utc_now()
    for hours, status in ((5, "complete"), (4, "failed"), (3, "complete"), (2, "failed"), (1, "failed")):
        record_table_run(ctx, tenant, "service_tickets", started=now - timedelta(hours=hours), status=status,
                         error="boom" if status == "failed" else None)
    record_table_run(ctx, tenant, "service_tickets", started=now - timedelta(minutes=5), status="complete",
                     mode=SyncMode.BACKFILL)
    service = Dashboard(ctx, now).overview().services[0]
    tickets = next(t for t in service.tables if t.table == "service_tickets")
    assert tickets.failures_in_row == 2
    assert tickets.status == "failed"  # a backfill that went well does not make the table's syncs well
    assert service.status == "failed"
    assert service.failures_in_row == 2


def test_of_two_runs_started_in_one_second_the_later_finished_is_the_latest(
        make_ctx: Callable[..., PipelineContext]) -> None:
    ctx = make_ctx()
    tenant = _tenant(ctx)
    second = utc_now().replace(microsecond=0) - timedelta(minutes=1)
    # the first run fails at once; a second, started within the same second, runs on and completes
    record_table_run(ctx, tenant, "service_tickets", started=second, finished=second + timedelta(milliseconds=300),
                     status="failed", error="first run")
    record_table_run(ctx, tenant, "service_tickets", started=second, finished=second + timedelta(seconds=2),
                     status="complete", records=7)
    tickets = Dashboard(ctx, utc_now()).table(tenant, "connectwise", "service_tickets").state
    assert tickets.status == "complete"
    assert tickets.latest.records == 7


def test_credentials_left_in_an_old_ledger_text_are_masked_on_the_page(
        make_ctx: Callable[..., PipelineContext]) -> None:
    ctx = make_ctx()
    tenant = _tenant(ctx)
    error = ('acme/connectwise/service_tickets: GET https://api-user:hunter2-url@cw.example/x: HTTP 400 '
             '{"portalPassword": "pw-in-body-42", "summary": "ok"}')
    run_id = record_table_run(ctx, tenant, "service_tickets", started=utc_now(), status="failed", error=error)
    with serve(create_app(ctx.settings)) as url:
        pages = [httpx.get(f"{url}{path}") for path in ("/", f"/tenants/{tenant}", f"/runs/{run_id}",
                                                         f"/tenants/{tenant}/connectwise/service_tickets")]
    for page in pages:
        assert page.status_code == 200
        for secret in ("hunter2-url", "pw-in-body-42", "pub-key-1", "priv-key-1"):
            assert secret not in page.text, (page.url, secret)
    assert "api-user:[redacted]@cw.example" in pages[1].text


def test_shown_settings_mask_url_passwords_and_drop_credential_names() -> None:
    shown = shown_settings({"instance_url": "https://admin:s3cret@acme.service-now.example", "company_id": "acme",
                            "api_token": "t0ken", "instance_url#password": "s3cret"})
    assert shown == {"company_id": "acme", "instance_url": "https://admin:••••••@acme.service-now.example"}


def test_the_next_run_comes_from_a_scheduler_module_when_one_is_installed(
        make_ctx: Callable[..., PipelineContext], monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = make_ctx()
    tenant = _tenant(ctx)
    when = utc_now().replace(microsecond=0) + timedelta(hours=2)
    module = types.ModuleType("avesa.scheduling")
    module.next_run_times = lambda settings: {(tenant, "connectwise"): when}  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "avesa.scheduling", module)
    with serve(create_app(ctx.settings)) as url:
        page = httpx.get(f"{url}/tenants/{tenant}")
    assert f'<dd class="next-run">{when:%Y-%m-%d %H:%M:%S}</dd>' in page.text

    def broken(settings: object) -> dict:
        raise RuntimeError("schedule file unreadable")

    module.next_run_times = broken  # type: ignore[attr-defined]
    with serve(create_app(ctx.settings)) as url:
        page = httpx.get(f"{url}/")
    assert page.status_code == 200 and '<td class="next-run">—</td>' in page.text


STATUSES = ["complete", "failed", "cancelled", "extracting"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs=st.lists(st.tuples(st.sets(st.sampled_from([(t, tb) for t in ("t-a", "t-b", "t-c")
                                                        for tb in ("service_tickets", "time_entries")]), min_size=1),
                               st.sampled_from(STATUSES), st.booleans()), min_size=0, max_size=12),
       rows_per_table=st.integers(1, 3))
def test_the_overview_and_the_tenant_pages_agree_on_every_table(
        runs: list[tuple[set[tuple[str, str]], str, bool]], rows_per_table: int,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The overview reads only the newest runs and falls back to a tenant's whole history for the
    tables it could not settle; the tenant page reads the whole history. They must agree."""
    monkeypatch.setattr(views, "ROWS_WALKED_PER_TABLE", rows_per_table)  # a walk this short stops early
    monkeypatch.setattr(views, "ROWS_WALKED_AT_LEAST", 0)
    with tempfile.TemporaryDirectory() as folder:
        ctx = PipelineContext.from_settings(Settings(home=Path(folder)))
        try:
            for tenant in ("t-a", "t-b", "t-c"):
                _tenant(ctx, tenant)
                service = ctx.state.get_service(tenant, "connectwise")
                ctx.state.put_service(service.model_copy(update={"tables": ["service_tickets", "time_entries"]}))
            start = utc_now().replace(microsecond=0) - timedelta(days=1)
            for i, (tables, status, backfill) in enumerate(runs):
                at = start + timedelta(minutes=i)
                run_id = f"run-{i:03d}"
                ctx.state.create_run(run_id, at, {"kind": "sync"}, "test:1")
                mode = SyncMode.BACKFILL if backfill else SyncMode.INCREMENTAL
                refs = [TableRef(run_id=run_id, tenant_id=t, service="connectwise", table=tb, mode=mode,
                                 run_started_at=at) for t, tb in sorted(tables)]
                ctx.state.start_table_runs(refs)
                for n, ref in enumerate(refs):  # the run's tables end differently: its status for the first
                    ctx.state.update_table_run(ref, TableRunUpdate(status=status if n == 0 else STATUSES[(i + n) % 3],
                                               range_end=at, finished_at=at + timedelta(seconds=5)))
            now = utc_now()
            overview = {t.label: t for s in Dashboard(ctx, now).overview().services for t in s.tables}
            for tenant in ("t-a", "t-b", "t-c"):
                for s in Dashboard(ctx, now).tenant(tenant).services:
                    for t in s.tables:
                        seen = overview[t.label]
                        assert (seen.status, seen.failures_in_row, seen.freshness) == \
                            (t.status, t.failures_in_row, t.freshness), t.label
                        assert (seen.latest and seen.latest.run_id) == (t.latest and t.latest.run_id)
                        assert (seen.last_success and seen.last_success.run_id) == \
                            (t.last_success and t.last_success.run_id)
        finally:
            ctx.state.close()
