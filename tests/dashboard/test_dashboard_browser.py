"""The dashboard in a real browser (Debian's Chromium through Playwright) over a pipeline that ran on
the sandbox: three tenants — one healthy, one whose credentials the service refuses, one whose ticket
summary holds `<script>alert(1)</script>` and whose tickets page comes without an id (so the error
quotes the record) — and a fourth registered but never run.

Each test looks at a page as a person would: the failing tenants shown as failing, their errors
readable in full with what to do, the numbers those of the ledger (and of the sandbox's own
counters, for 429s), source text shown as text with no dialog opening, no credential anywhere.
Screenshots are kept as artefacts (tests/dashboard/browser.py says where)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from avesa.dashboard.app import create_app
from avesa.domain.timeutil import parse_utc
from avesa.domain.work import RunRequest, SyncMode, TableRef
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.runtime.local import run_sync
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.dashboard.browser import CHROMIUM, require_chromium, save_screenshot, serve

pytestmark = pytest.mark.slow

SCRIPT = "<script>alert(1)</script>"
COMPANY = "<b>Hostile</b> {{ 7*7 }}"
WRONG_KEY = "wrong-private-key-0123456789"
NEXT_RUN = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


@dataclass
class Pipeline:
    home: Path
    ctx: PipelineContext
    ok: str
    badauth: str
    hostile: str
    fresh: str
    first_run: str = ""
    second_run: str = ""
    secrets: list[str] = field(default_factory=list)
    rate_limited: int = 0


def _after_change(record: dict) -> None:
    """A run reads changes up to its start, in whole seconds: let the change's second pass."""
    time.sleep(max(0.0, parse_utc(record["_info"]["lastUpdated"]).timestamp() + 1.05 - time.time()))


@pytest.fixture(scope="module")
def pipeline(sandbox_admin: SandboxAdmin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    home = tmp_path_factory.mktemp("dashboard") / "home"
    tag = uuid.uuid4().hex[:6]
    names = {role: f"dash-{role}-{tag}" for role in ("ok", "badauth", "hostile", "fresh")}
    for role in ("ok", "badauth", "hostile"):
        sandbox_admin.create_instance(names[role], scale="tiny", seed=3, knobs={"rate_limit_per_minute": None})
    ctx = PipelineContext.from_settings(Settings(home=home))
    p = Pipeline(home, ctx, names["ok"], names["badauth"], names["hostile"], names["fresh"])
    try:
        for role in ("ok", "badauth", "hostile"):
            credentials = dict(sandbox_admin.connection(names[role]))
            p.secrets += [credentials["public_key"], credentials["private_key"]]
            if role == "badauth":
                credentials["private_key"] = WRONG_KEY
            register_service(ctx, tenant_id=names[role], service="connectwise", credentials=credentials,
                             company_name=COMPANY if role == "hostile" else f"{role.title()} Ltd")
        # every ticket carries the script: the record a failed page quotes is the first of whichever
        # chunk asks first, which depends on timing
        changed = [sandbox_admin.update_record(p.hostile, "service/tickets", ticket, {"summary": SCRIPT})
                   for ticket in sandbox_admin.record_ids(p.hostile, "service/tickets")]
        _after_change(changed[-1])
        sandbox_admin.add_fault(p.hostile, "record-without-id", table="tickets")
        p.first_run = run_sync(ctx, RunRequest()).run_id

        # a second run of the healthy tenant: new versions, and one 429 on its way
        changed = [sandbox_admin.update_record(p.ok, "service/tickets", i, {"summary": f"changed {i}"})
                   for i in sorted(sandbox_admin.record_ids(p.ok, "service/tickets"))[:3]]
        _after_change(changed[-1])
        sandbox_admin.reset_stats(p.ok)
        sandbox_admin.add_fault(p.ok, "429", table="tickets", retry_after=1)
        p.second_run = run_sync(ctx, RunRequest(tenant_id=p.ok)).run_id
        p.rate_limited = sandbox_admin.stats(p.ok)["by_status"].get("429", 0)

        # registered after the runs, never run
        register_service(ctx, tenant_id=p.fresh, service="connectwise", company_name="Fresh Ltd", credentials={
            "api_url": "http://127.0.0.1:9/", "company_id": "fresh", "public_key": "pk-fresh-never-shown",
            "private_key": "sk-fresh-never-shown", "client_id": "c"})
        p.secrets += ["pk-fresh-never-shown", "sk-fresh-never-shown", WRONG_KEY]
        yield p
    finally:
        ctx.state.close()
        for role in ("ok", "badauth", "hostile"):
            sandbox_admin.delete_instance(names[role])


@pytest.fixture(scope="module")
def base_url(pipeline: Pipeline) -> Iterator[str]:
    app = create_app(Settings(home=pipeline.home), next_runs=lambda: {(pipeline.ok, "connectwise"): NEXT_RUN})
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Watched:
    """A browser page and what it reported: dialogs opened, console errors (CSP refusals among them),
    uncaught page errors."""

    page: object
    dialogs: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_quiet(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.console_errors == [], self.console_errors


@pytest.fixture
def page(browser: object) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    watched = Watched(context.new_page())
    watched.page.on("dialog", lambda d: (watched.dialogs.append(d.message), d.dismiss()))
    watched.page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
    watched.page.on("pageerror", lambda e: watched.console_errors.append(str(e)))
    yield watched
    context.close()


def _ledger_sums(ctx: PipelineContext, run_id: str) -> dict[str, str]:
    tables = ctx.state.list_table_runs(run_id=run_id)
    return {"ok-tables": str(sum(t.status == "complete" for t in tables)),
            "failed-tables": str(sum(t.status == "failed" for t in tables)),
            "records": f"{sum(t.records for t in tables):,}",
            "versions": f"{sum(t.versions_created for t in tables):,}"}


def test_overview_shows_each_tenant_as_the_ledger_does(pipeline: Pipeline, base_url: str, page: Watched) -> None:
    p = page.page
    p.goto(base_url + "/")
    services = p.locator("#services tbody tr")
    assert services.count() == 4
    first = services.nth(0).get_attribute("data-tenant")
    assert first in (pipeline.badauth, pipeline.hostile)  # failures first

    def row(tenant: str):
        return p.locator(f'#services tr[data-tenant="{tenant}"]')

    assert row(pipeline.badauth).locator("td.status").inner_text() == "failed"
    refused = row(pipeline.badauth).locator("td.error-cell").inner_text()
    assert "the service refused the credentials (HTTP 401)" in refused
    assert row(pipeline.badauth).locator("td.failures").inner_text() == "1"
    assert row(pipeline.hostile).locator("td.status").inner_text() == "failed"
    assert row(pipeline.ok).locator("td.status").inner_text() == "ok"
    assert row(pipeline.fresh).locator("td.status").inner_text() == "never run"
    assert row(pipeline.ok).locator("td.next-run").inner_text() == "2031-05-06 07:08:09"  # the schedule hook
    assert row(pipeline.badauth).locator("td.next-run").inner_text() == "—"
    assert p.locator("#count-failing").inner_text() == "2"
    assert p.locator("#count-tenants").inner_text() == "4"

    # the runs table: the ledger's counts; the 429s: the sandbox's own count of what it answered
    for run_id in (pipeline.first_run, pipeline.second_run):
        shown = p.locator(f'table.runs tr[data-run="{run_id}"]')
        for cell, value in _ledger_sums(pipeline.ctx, run_id).items():
            assert shown.locator(f"td.{cell}").inner_text() == value, (run_id, cell)
    assert pipeline.rate_limited == 1
    assert p.locator(f'table.runs tr[data-run="{pipeline.second_run}"] td.http429').inner_text() == "1"
    assert p.locator("#count-429").inner_text() == "1"

    # the heat map: the healthy tenant's tables fresh, the refused one's never synced
    ok_cells = p.locator(f'#heatmap tr[data-tenant="{pipeline.ok}"] td.cell')
    assert ok_cells.count() == 4
    assert all("bucket-fresh" in (ok_cells.nth(i).get_attribute("class") or "") for i in range(4))
    bad_cells = p.locator(f'#heatmap tr[data-tenant="{pipeline.badauth}"] td.cell')
    assert [bad_cells.nth(i).inner_text() for i in range(bad_cells.count())] == ["never"] * 4

    for chart in ("#runs-chart", "#throughput-chart", "#rate-limit-chart"):
        assert p.locator(f"{chart} svg").count() == 1
    assert p.locator("script").count() == 0
    save_screenshot(p, "overview")
    page.assert_quiet()


def test_a_failing_tenant_page_shows_its_errors_in_full_with_what_to_do(pipeline: Pipeline, base_url: str,
                                                                       page: Watched) -> None:
    p = page.page
    p.goto(f"{base_url}/tenants/{pipeline.badauth}")
    errors = p.locator("#errors article.error")
    ledger = {t.table: t for t in pipeline.ctx.state.list_table_runs(tenant_id=pipeline.badauth)}
    assert errors.count() == len(ledger) == 4
    for i in range(errors.count()):
        article = errors.nth(i)
        table = article.get_attribute("data-table").split("/")[1]
        assert article.locator("pre.error-text").inner_text() == ledger[table].error  # in full, as the ledger has it
        assert f"avesa service add --tenant-id {pipeline.badauth} --service connectwise" in ledger[table].error
        assert f"avesa jobs retry {pipeline.first_run}" in article.locator("p.todo").inner_text()
    for name, tr in ledger.items():
        cells = p.locator(f'table.tables tr[data-table="{name}"]')
        assert cells.locator(".badge").inner_text() == "failed"
        assert cells.locator("td.records").inner_text() == str(tr.records)
    history = p.locator("table.runs tbody tr")
    assert history.count() == 1 and history.locator("td.status").inner_text() == "failed"
    save_screenshot(p, "tenant-failing")
    page.assert_quiet()


def test_source_text_is_shown_as_text_and_never_runs(pipeline: Pipeline, base_url: str, page: Watched) -> None:
    p = page.page
    p.goto(f"{base_url}/tenants/{pipeline.hostile}")
    error = p.locator('#errors article[data-table="connectwise/service_tickets"] pre.error-text')
    assert SCRIPT in error.inner_text()  # a person reads the tag as the text it is
    assert p.locator("h1 .company").inner_text() == COMPANY  # neither bold nor evaluated: no 49
    assert p.locator("h1 .company b").count() == 0
    assert p.locator("script").count() == 0
    save_screenshot(p, "tenant-hostile-text")
    # the overview shows the company name (its error cell is a truncated excerpt, and where the
    # quoted record's summary falls in it depends on the record); the other pages show errors whole
    for path, text in (("/", COMPANY), (f"/runs/{pipeline.first_run}", SCRIPT),
                       (f"/tenants/{pipeline.hostile}/connectwise/service_tickets", SCRIPT)):
        p.goto(base_url + path)
        assert text in p.locator("body").inner_text(), path
        assert p.locator("script").count() == 0 and p.locator("b").count() == 0, path
    page.assert_quiet()  # no alert(1), and nothing the Content-Security-Policy had to refuse


def test_the_run_page_shows_chunks_with_estimate_actual_cursor_and_attempts(pipeline: Pipeline, base_url: str,
                                                                          page: Watched) -> None:
    p = page.page
    p.goto(f"{base_url}/runs/{pipeline.second_run}")
    run = pipeline.ctx.state.get_run(pipeline.second_run)
    table_runs = pipeline.ctx.state.list_table_runs(run_id=pipeline.second_run)
    assert p.locator("section.run-table").count() == len(table_runs) == 4
    for tr in table_runs:
        section = p.locator(f'section.run-table[data-table="{tr.tenant_id}/{tr.service}/{tr.table}"]')
        assert section.locator("span.actual").inner_text() == f"{tr.records:,}"
        assert section.locator("span.versions").inner_text() == f"{tr.versions_created:,}"
        ref = TableRef(run_id=tr.run_id, tenant_id=tr.tenant_id, service=tr.service, table=tr.table,
                       mode=SyncMode(tr.mode), run_started_at=run.started_at)
        chunks = pipeline.ctx.state.list_chunks(ref)
        assert chunks and section.locator("table.chunks tbody tr").count() == len(chunks)
        for chunk in chunks:
            shown = section.locator(f'tr[data-chunk="{chunk.chunk_id}"]')
            estimate = "—" if chunk.estimate is None else f"{chunk.estimate:,}"
            assert shown.locator("td.estimate").inner_text() == estimate
            assert shown.locator("td.actual").inner_text() == f"{chunk.records:,}"
            assert shown.locator("td.attempts").inner_text() == str(chunk.attempts)
            assert shown.locator("td.cursor").inner_text() == (chunk.cursor or "—")
    tickets = next(t for t in table_runs if t.table == "service_tickets")
    assert tickets.versions_created >= 3  # the three changed tickets
    save_screenshot(p, "run")
    page.assert_quiet()


def test_the_table_page_charts_records_and_versions_per_run(pipeline: Pipeline, base_url: str, page: Watched) -> None:
    p = page.page
    p.goto(f"{base_url}/tenants/{pipeline.ok}/connectwise/service_tickets")
    history = [t for t in pipeline.ctx.state.list_table_runs(tenant_id=pipeline.ok) if t.table == "service_tickets"]
    assert len(history) == 2
    for tr in history:
        shown = p.locator(f'table.history tr[data-run="{tr.run_id}"]')
        assert shown.locator("td.records").inner_text() == f"{tr.records:,}"
        assert shown.locator("td.versions").inner_text() == f"{tr.versions_created:,}"
    watermark = pipeline.ctx.state.get_watermark(pipeline.ok, "connectwise", "service_tickets")
    assert p.locator("dd.watermark").inner_text() == f"{watermark:%Y-%m-%d %H:%M:%S} UTC"
    chart = p.locator("#table-chart svg")
    labels = chart.locator("text").all_text_contents()
    assert {"records", "versions", "deletes"} <= set(labels)  # the legend
    chronological = sorted(history, key=lambda t: t.started_at)
    for serie, values in ((0, [t.records for t in chronological]), (1, [t.versions_created for t in chronological])):
        bars = chart.locator(f".series.serie-{serie} rect.rect")  # one bar per run, as tall as its value
        assert bars.count() == len(history)
        heights = [float(bars.nth(i).get_attribute("height") or 0) for i in range(bars.count())]
        assert [round(h / max(heights), 2) for h in heights] == [round(v / max(values), 2) for v in values]
    save_screenshot(p, "table")
    page.assert_quiet()


def test_no_credential_reaches_any_page(pipeline: Pipeline, base_url: str, page: Watched) -> None:
    p = page.page
    paths = ["/", f"/runs/{pipeline.first_run}", f"/runs/{pipeline.second_run}"]
    for tenant in (pipeline.ok, pipeline.badauth, pipeline.hostile, pipeline.fresh):
        paths += [f"/tenants/{tenant}", f"/tenants/{tenant}/connectwise/service_tickets"]
    for path in paths:
        p.goto(base_url + path)
        html = p.content()
        leaked = [secret for secret in pipeline.secrets if secret in html]
        assert leaked == [], (path, leaked)
    p.goto(f"{base_url}/tenants/{pipeline.fresh}")
    assert "http://127.0.0.1:9/" in p.locator("dl.settings").inner_text()  # the settings a person checks
    assert p.locator("section.service .badge").first.inner_text() == "never run"
    save_screenshot(p, "tenant-never-run")
    page.assert_quiet()


def test_the_dashboard_is_read_only_and_names_what_it_cannot_find(pipeline: Pipeline, base_url: str,
                                                                  page: Watched) -> None:
    with httpx.Client(base_url=base_url) as client:
        for path in ("/", f"/tenants/{pipeline.ok}", f"/runs/{pipeline.first_run}"):
            assert client.post(path).status_code == 405
            assert client.delete(path).status_code == 405
        shown = client.get("/")
        assert "script-src" not in shown.headers["content-security-policy"]  # default-src 'none': no script
        assert shown.headers["content-security-policy"].startswith("default-src 'none'")
    p = page.page
    response = p.goto(f"{base_url}/tenants/no-such-tenant")
    assert response.status == 404
    assert "There is no tenant no-such-tenant" in p.locator("main").inner_text()
    assert p.goto(f"{base_url}/runs/run-nope").status == 404
