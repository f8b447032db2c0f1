"""The `avesa` command as a user types it (typer's runner, real sandbox over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials

runner = CliRunner()


def _env_for(admin: SandboxAdmin, instance: str) -> dict[str, str]:
    return {f"CONNECTWISE_{k.upper()}": v for k, v in sandbox_credentials(admin, instance).items()}


def test_a_tenant_id_that_is_not_a_slug_is_refused_before_anything_is_written(avesa_home: Path) -> None:
    for bad in ["../x", "Acme", "acme corp"]:
        result = runner.invoke(app, ["tenant", "add", bad, "--company-name", "X"])
        assert result.exit_code == 2
        assert "invalid tenant id" in result.output
    assert not any(avesa_home.iterdir())


def test_service_add_dry_run_writes_nothing_and_masks_secrets(sandbox_admin: SandboxAdmin, new_instance,
                                                               avesa_home: Path) -> None:
    name = new_instance("cli")
    env = _env_for(sandbox_admin, name)
    result = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Cli Co", "--service",
                                 "connectwise", "--dry-run"], env=env)
    assert result.exit_code == 0, result.output
    assert "dry run" in result.output and env["CONNECTWISE_PRIVATE_KEY"] not in result.output
    listed = runner.invoke(app, ["tenant", "list"])
    assert name not in listed.output


def test_register_run_status_and_query(sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    name = new_instance("cli")
    env = _env_for(sandbox_admin, name)
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Cli Co", "--service",
                                "connectwise", "--tables", "service_tickets,company_companies"], env=env)
    assert added.exit_code == 0, added.output
    secrets_file = (avesa_home / "secrets.enc").read_bytes()
    assert env["CONNECTWISE_PRIVATE_KEY"].encode() not in secrets_file
    assert env["CONNECTWISE_PRIVATE_KEY"].encode() not in (avesa_home / "state.sqlite3").read_bytes()

    tested = runner.invoke(app, ["service", "test", "--tenant-id", name, "--service", "connectwise"])
    assert tested.exit_code == 0 and "ok" in tested.output

    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 0, ran.output
    assert "service_tickets" in ran.output and "company_companies" in ran.output

    status = runner.invoke(app, ["status"])
    assert f"{name}/connectwise/service_tickets" in status.output and "complete" in status.output

    queried = runner.invoke(app, ["query", "SELECT tenant_id, count(*) AS n FROM tickets GROUP BY 1",
                                  "--format", "json"])
    assert queried.exit_code == 0, queried.output
    rows = json.loads(queried.output)
    assert rows == [{"tenant_id": name, "n": len(sandbox_admin.record_ids(name, "service/tickets"))}]

    csv = runner.invoke(app, ["query", "SELECT count(*) AS n FROM companies", "--format", "csv"])
    assert csv.output.splitlines()[0] == '"n"'


@pytest.mark.parametrize(("args", "expected"), [
    (["run", "--tenant", "nosuch"], "unknown tenant 'nosuch'"),
    (["run", "--service", "zendesk"], "known services: connectwise"),
    (["query", "SELECT * FROM nowhere"], "query failed"),
    (["query", "SELECT 1", "--format", "xml"], "unknown --format"),
    (["service", "add", "--tenant-id", "newco", "--service", "connectwise"], "give --company-name"),
    (["tenant", "disable", "ghost"], "unknown tenant 'ghost'"),
    (["jobs", "show", "run-nope"], "unknown run 'run-nope'"),
    (["jobs", "resume", "run-nope"], "unknown run 'run-nope'"),
])
def test_bad_input_gets_a_clear_error_and_exit_code_2(args: list[str], expected: str, avesa_home: Path) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_missing_credentials_name_the_environment_variables(avesa_home: Path) -> None:
    result = runner.invoke(app, ["service", "add", "--tenant-id", "acme", "--company-name", "Acme", "--service",
                                 "connectwise"], env={"CONNECTWISE_API_URL": "http://127.0.0.1:9"})
    assert result.exit_code == 2
    assert "CONNECTWISE_PRIVATE_KEY" in result.output


def test_a_failed_table_makes_run_exit_non_zero(sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    name = new_instance("cli")
    env = {**_env_for(sandbox_admin, name), "CONNECTWISE_PRIVATE_KEY": "wrong"}
    runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "X", "--service", "connectwise",
                        "--tables", "service_tickets"], env=env)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1
    assert "failed" in result.output and "credentials" in result.output


def test_jobs_list_show_and_resume_when_nothing_was_interrupted(sandbox_admin: SandboxAdmin, new_instance,
                                                                avesa_home: Path) -> None:
    name = new_instance("jobs")
    runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "J", "--service", "connectwise",
                        "--tables", "company_companies"], env=_env_for(sandbox_admin, name))
    assert runner.invoke(app, ["run"]).exit_code == 0
    listed = runner.invoke(app, ["jobs", "list"])
    run_id = next(word for word in listed.output.split() if word.startswith("run-"))
    assert "complete" in listed.output and "1 / 0 / 0" in listed.output
    shown = runner.invoke(app, ["jobs", "show", run_id])
    assert shown.exit_code == 0 and "company_companies" in shown.output and "complete" in shown.output
    assert "no interrupted runs" in runner.invoke(app, ["jobs", "resume"]).output
    refused = runner.invoke(app, ["jobs", "resume", run_id])
    assert refused.exit_code == 2 and "nothing to resume" in refused.output


def test_jobs_retry_finishes_a_failed_run_from_its_cursors(sandbox_admin: SandboxAdmin, new_instance,
                                                           avesa_home: Path) -> None:
    name = new_instance("retry")
    runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "R", "--service", "connectwise",
                        "--tables", "service_tickets,company_companies"], env=_env_for(sandbox_admin, name))
    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    failed = runner.invoke(app, ["run"])
    assert failed.exit_code == 1
    run_id = next(w for w in runner.invoke(app, ["jobs", "list"]).output.split() if w.startswith("run-"))
    refused = runner.invoke(app, ["jobs", "retry", "run-nope"])
    assert refused.exit_code == 2 and "unknown run" in refused.output
    retried = runner.invoke(app, ["jobs", "retry", run_id])
    assert retried.exit_code == 0, retried.output
    assert "service_tickets" in retried.output and "company_companies" not in retried.output  # only what failed
    shown = runner.invoke(app, ["jobs", "show", run_id]).output
    assert "complete" in shown and "failed" not in shown.split("request")[0]
    again = runner.invoke(app, ["jobs", "retry", run_id])
    assert again.exit_code == 2 and "only a failed run can be retried" in again.output
    queried = runner.invoke(app, ["query", "SELECT count(*) AS n FROM tickets", "--format", "json"])
    assert json.loads(queried.output) == [{"n": len(sandbox_admin.record_ids(name, "service/tickets"))}]


def test_a_tenants_request_budget_can_be_overridden_and_cleared(sandbox_admin: SandboxAdmin, new_instance,
                                                                 avesa_home: Path) -> None:
    from avesa.cli.common import load_context

    name = new_instance("lim")
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Lim Co", "--service",
                                "connectwise"], env=_env_for(sandbox_admin, name))
    assert added.exit_code == 0, added.output
    limited = runner.invoke(app, ["service", "limit", "--tenant-id", name, "--service", "connectwise",
                                  "--requests-per-minute", "60", "--burst", "5"])
    assert limited.exit_code == 0 and "60 requests/minute, bursts of 5 (override" in limited.output
    ctx = load_context()
    budget = ctx.connector(name, "connectwise").http.budget
    assert (budget.requests_per_minute, budget.burst) == (60, 5)
    assert "60.0/min, burst 5" in runner.invoke(app, ["service", "list"]).output
    cleared = runner.invoke(app, ["service", "limit", "--tenant-id", name, "--service", "connectwise", "--clear"])
    assert cleared.exit_code == 0 and "300 requests/minute, bursts of 50 (documented" in cleared.output
    for bad in (["--requests-per-minute", "0"], []):
        refused = runner.invoke(app, ["service", "limit", "--tenant-id", name, "--service", "connectwise", *bad])
        assert refused.exit_code == 2
    unknown = runner.invoke(app, ["service", "limit", "--tenant-id", name, "--service", "salesforce", "--burst", "3"])
    assert unknown.exit_code == 2 and "known services: connectwise" in unknown.output


def test_a_run_that_skipped_every_tenant_for_another_run_says_so_and_exits_3(
        sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    from avesa.domain.timeutil import utc_now
    from avesa.pipeline.context import PipelineContext
    from avesa.settings import Settings

    busy, free = new_instance("busy"), new_instance("free")
    for name in (busy, free):
        added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", name.title(), "--service",
                                    "connectwise", "--tables", "company_companies"], env=_env_for(sandbox_admin, name))
        assert added.exit_code == 0, added.output
    ctx = PipelineContext.from_settings(Settings(home=avesa_home))
    ctx.state.create_run("run-holder", utc_now(), {}, ctx.owner)  # a live run (this very process) holds `busy`
    assert ctx.state.lock_tenant(busy, "run-holder", ctx.owner, utc_now(), lambda run, owner: False) is None

    held = runner.invoke(app, ["run", "--tenant", busy])
    assert held.exit_code == 3, held.output
    assert f"nothing synced: other runs hold every tenant this run would sync — {busy} (run run-holder)" in held.output
    assert "avesa jobs cancel run-holder" in held.output and "nothing to run" not in held.output
    assert not ctx.state.list_table_runs(tenant_id=busy)

    partly = runner.invoke(app, ["run"])  # the free tenant syncs; the held one is reported, not an error
    assert partly.exit_code == 0, partly.output
    assert f"skipped {busy}: being synced by run run-holder" in partly.output
    assert {tr.tenant_id for tr in ctx.state.list_table_runs()} == {free}
