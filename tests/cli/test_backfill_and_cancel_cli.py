"""`avesa backfill` and `avesa jobs cancel` as a user types them: clear errors (exit 2) with nothing
written, progress and a summary, the run kind in the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.cli.test_cli import _env_for

runner = CliRunner()


def _add(admin: SandboxAdmin, name: str, tables: str = "service_tickets,company_companies") -> None:
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "B", "--service",
                                "connectwise", "--tables", tables], env=_env_for(admin, name))
    assert added.exit_code == 0, added.output


@pytest.mark.parametrize(("args", "expected"), [
    (["--since", "2025-01-01", "--until", "2024-01-01"], "is not before --until"),
    (["--since", "2024-03-01T00:00:00Z", "--until", "2024-03-01T00:00:00Z"], "is not before --until"),
    (["--since", "2999-01-01"], "is not before now"),
    (["--window-days", "0"], "--window-days must be at least 1"),
    (["--window-days", "-3"], "--window-days must be at least 1"),
    (["--since", "last tuesday"], "--since 'last tuesday' is not a date"),
    (["--until", "2024-13-45"], "--until '2024-13-45' is not a date"),
    (["--table", "nosuch"], "unknown table 'nosuch'"),
    (["--table", "system_members"], "unknown table 'system_members'"),  # known, not enabled for the tenant
    (["--tenant", "nosuch"], "unknown tenant 'nosuch'"),
    (["--tenant", "Not A Slug"], "invalid tenant id"),
    (["--service", "zendesk"], "unknown service 'zendesk'"),
])
def test_bad_backfill_input_is_refused_with_exit_2_and_nothing_written(
        args: list[str], expected: str, sandbox_admin: SandboxAdmin, new_instance, make_ctx,
        avesa_home: Path) -> None:
    name = new_instance("bfbad")
    _add(sandbox_admin, name)
    options = {"--tenant": name, "--service": "connectwise"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        options[flag] = value
    result = runner.invoke(app, ["backfill", *(part for pair in options.items() for part in pair)])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output
    ctx: PipelineContext = make_ctx()
    assert ctx.state.list_runs() == [] and ctx.state.list_table_runs() == []
    assert not (avesa_home / "lake").exists()


def test_backfill_shows_progress_and_a_summary_and_the_ledger_knows_its_kind(
        sandbox_admin: SandboxAdmin, new_instance, make_ctx, avesa_home: Path) -> None:
    name = new_instance("bfcli")
    _add(sandbox_admin, name)
    result = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--since", "2023-12-01",
                                 "--window-days", "120"])
    assert result.exit_code == 0, result.output
    assert f"{name}/connectwise/service_tickets" in result.output and "chunks" in result.output  # progress
    assert "backfill run run-" in result.output and "backfill" in result.output.split("backfill run", 1)[1]
    assert "from 2023-12-01 00:00:00" in result.output and "120-day windows" in result.output
    assert "watermarks unchanged" in result.output
    assert make_ctx().state.get_watermark(name, "connectwise", "service_tickets") is None
    run_id = next(w for w in result.output.split() if w.startswith("run-"))
    listed = runner.invoke(app, ["jobs", "list"]).output
    assert "backfill" in next(line for line in listed.splitlines() if run_id in line)
    shown = runner.invoke(app, ["jobs", "show", run_id]).output
    assert shown.startswith(f"backfill run {run_id} complete") and "(backfill, complete" in shown

    # one backfill per tenant at a time; a sync of the tenant is not held up by it
    ctx = make_ctx()
    ctx.state.create_run("run-other", ctx.state.get_run(run_id).started_at, {"kind": "backfill"}, "elsewhere:1")
    assert ctx.state.lock_tenant(name, "run-other", "elsewhere:1", ctx.state.get_run(run_id).started_at,
                                 lambda run, owner: False, scope="backfill") is None
    busy = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--since", "2024-06-01"])
    # exit 3: skipped because another run holds the tenant (README, Exit codes)
    assert busy.exit_code == 3 and "is being backfilled by run run-other" in busy.output
    assert runner.invoke(app, ["run", "--tenant", name]).exit_code == 0


def test_jobs_cancel_refuses_unknown_and_finished_runs(sandbox_admin: SandboxAdmin, new_instance,
                                                       avesa_home: Path) -> None:
    name = new_instance("cancli")
    _add(sandbox_admin, name, "company_companies")
    unknown = runner.invoke(app, ["jobs", "cancel", "run-nope"])
    assert unknown.exit_code == 2 and "unknown run 'run-nope'" in unknown.output
    assert runner.invoke(app, ["run"]).exit_code == 0
    run_id = next(w for w in runner.invoke(app, ["jobs", "list"]).output.split() if w.startswith("run-"))
    finished = runner.invoke(app, ["jobs", "cancel", run_id])
    assert finished.exit_code == 2, finished.output
    assert f"run {run_id} is complete: it has finished" in finished.output


def test_running_a_failed_backfill_again_continues_it_under_the_same_run(
        sandbox_admin: SandboxAdmin, new_instance, make_ctx, avesa_home: Path) -> None:
    name = new_instance("bfretry")
    _add(sandbox_admin, name)
    args = ["backfill", "--tenant", name, "--service", "connectwise", "--since", "2023-12-01"]
    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1, failed.output
    assert "running the same command again continues" in failed.output
    [run] = make_ctx().state.list_runs()
    assert run.status == "failed"
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"continuing failed backfill run {run.run_id}" in again.output
    assert [(r.run_id, r.status) for r in make_ctx().state.list_runs()] == [(run.run_id, "complete")]
    queried = runner.invoke(app, ["query", "SELECT count(*) AS n FROM tickets WHERE is_current", "--format", "csv"])
    assert queried.output.splitlines()[1] == str(len(sandbox_admin.record_ids(name, "service/tickets")))
