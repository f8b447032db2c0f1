"""Keyset paging is only right when ids ascend past the cursor. An API that ignores the requested
order (the sandbox's `ids-descending` fault) must fail the chunk naming the page and the ids — not
land the top page and stop, as if the table held five records — and an id listing that breaks the
order must never mark records deleted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.cli.ground_truth import check_tenant
from avesa.domain.errors import BadDataError
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.cli.test_secret_scrubbing import _helpdesk_catalog

runner = CliRunner()


@pytest.fixture
def helpdesk_tenant(tmp_path: Path, sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path,
                    monkeypatch: pytest.MonkeyPatch) -> str:
    """Tenant `acme` on a 20-company Acme Helpdesk, read 5 records a page (the guide's own catalog)."""
    monkeypatch.setenv("AVESA_CATALOG_PATH", str(_helpdesk_catalog(tmp_path, {})))
    monkeypatch.setenv("AVESA_PAGE_SIZE", "5")
    name = new_instance("desc", service="helpdesk", counts={"companies": 20})
    real = sandbox_admin.connection(name)
    added = runner.invoke(app, ["service", "add", "--tenant-id", "acme", "--company-name", "Acme", "--service",
                                "helpdesk", "--tables", "companies"],
                          env={"HELPDESK_API_URL": real["api_url"], "HELPDESK_API_KEY": real["api_key"]})
    assert added.exit_code == 0, added.output
    return name


def _ctx(home: Path) -> PipelineContext:
    return PipelineContext.from_settings(Settings(home=home))


def test_pages_in_descending_id_order_fail_the_chunk_and_land_nothing(
        helpdesk_tenant: str, sandbox_admin: SandboxAdmin, avesa_home: Path) -> None:
    ids = sorted(sandbox_admin.record_ids(helpdesk_tenant, "companies"))
    assert len(ids) == 20
    sandbox_admin.add_fault(helpdesk_tenant, "ids-descending", table="companies", count=1000)
    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 1, ran.output
    [table_run] = _ctx(avesa_home).state.list_table_runs()
    assert table_run.status == "failed" and table_run.records == 0
    assert (f"acme/helpdesk/companies: page 1: id {ids[-2]} is not above {ids[-1]} (the record before it): keyset "
            "paging needs ids ascending past the cursor") in table_run.error
    assert _ctx(avesa_home).state.get_watermark("acme", "helpdesk", "companies") is None
    assert not list((avesa_home / "lake" / "acme" / "raw").rglob("*.parquet")), "no page of it landed"

    sandbox_admin.clear_faults(helpdesk_tenant)  # the API fixed: the next run reads all 20
    again = runner.invoke(app, ["run"])
    assert again.exit_code == 0, again.output
    [check] = check_tenant(_ctx(avesa_home), sandbox_admin, "acme", helpdesk_tenant, "helpdesk")
    assert check.ok and check.canonical_rows == 20, check


def test_an_id_listing_out_of_order_fails_instead_of_marking_records_deleted(
        helpdesk_tenant: str, sandbox_admin: SandboxAdmin, avesa_home: Path) -> None:
    assert runner.invoke(app, ["run"]).exit_code == 0

    async def every_id() -> list[str]:  # what a delete reconciliation reads: every live id
        ctx = _ctx(avesa_home)
        try:
            return [rid async for page in ctx.connector("acme", "helpdesk").list_ids("companies") for rid in page]
        finally:
            await ctx.aclose()

    sandbox_admin.add_fault(helpdesk_tenant, "ids-descending", table="companies", count=1000)
    with pytest.raises(BadDataError, match=r"listing ids, page 1: id \d+ is not above \d+: the API ignored"):
        asyncio.run(every_id())
    sandbox_admin.clear_faults(helpdesk_tenant)
    assert len(asyncio.run(every_id())) == 20
