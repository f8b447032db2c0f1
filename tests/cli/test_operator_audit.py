"""The operator's run actions in the audit trail, as `avesa audit --format json` lists them: backfill
(run and queued), jobs resume, retry, cancel and cleanup-stuck, and schedule set — each with how it
ended, refusals too, and never a credential (typer's runner, real runs on the sandbox)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.cli.test_cli import _env_for
from tests.cli.test_listings import _dead_owner

runner = CliRunner()


def _audit(*args: str) -> list[dict]:
    result = runner.invoke(app, ["audit", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _last(action: str) -> dict:
    return _audit("--action", action, "--limit", "1")[0]


def _add(admin: SandboxAdmin, name: str, tables: str = "service_tickets,company_companies") -> dict[str, str]:
    env = _env_for(admin, name)
    added = runner.invoke(app, ["service", "add", "--tenant", name, "--company-name", "Audited", "--service",
                                "connectwise", "--tables", tables], env=env)
    assert added.exit_code == 0, added.output
    return env


def _run_id(output: str) -> str:
    return next(w for w in output.split() if w.startswith("run-"))


def test_backfills_and_schedule_changes_are_audited_with_their_outcome(
        sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    name = new_instance("audbf")
    env = _add(sandbox_admin, name)
    ran = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--since", "2024-01-01",
                              "--window-days", "400"])
    assert ran.exit_code == 0, ran.output
    entry = _last("backfill.run")
    assert (entry["outcome"], entry["tenant"], entry["service"], entry["target"]) == \
        ("ok", name, "connectwise", _run_id(ran.output))
    assert entry["details"]["window_days"] == 400 and entry["details"]["since"].startswith("2024-01-01")
    assert entry["details"]["tables_failed"] == 0

    refused = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--window-days", "0"])
    assert refused.exit_code == 2
    entry = _last("backfill.run")
    assert entry["outcome"] == "refused" and "--window-days must be at least 1" in entry["message"]

    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    failed = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--since", "2024-06-01"])
    assert failed.exit_code == 1, failed.output
    entry = _last("backfill.run")
    assert entry["outcome"] == "failed" and "1 table(s) failed" in entry["message"]
    assert "service_tickets" in entry["message"] and entry["target"] == _run_id(failed.output)

    queued = runner.invoke(app, ["backfill", "--tenant", name, "--service", "connectwise", "--queue"])
    assert queued.exit_code == 0, queued.output
    assert (_last("backfill.queue")["outcome"], _last("backfill.queue")["details"]["place"]) == ("ok", 1)

    changed = runner.invoke(app, ["schedule", "set", "every 15m", "--tenant", name, "--service", "connectwise"])
    assert changed.exit_code == 0, changed.output
    entry = _last("schedule.set")
    assert (entry["outcome"], entry["tenant"], entry["service"], entry["target"]) == \
        ("ok", name, "connectwise", "incremental")
    assert entry["details"]["schedule"] == "every 15m" and entry["details"]["services"] == ["connectwise"]
    bad = runner.invoke(app, ["schedule", "set", "sometimes", "--tenant", name, "--full"])
    assert bad.exit_code == 2
    entry = _last("schedule.set")
    assert (entry["outcome"], entry["target"]) == ("refused", "full") and "'sometimes' is not one" in entry["message"]

    assert {e["action"] for e in _audit("--action", "backfill")} == {"backfill.run", "backfill.queue"}
    trail = json.dumps(_audit())
    assert env["CONNECTWISE_PRIVATE_KEY"] not in trail and env["CONNECTWISE_PUBLIC_KEY"] not in trail


def test_retry_cancel_resume_and_cleanup_are_audited_with_their_outcome(
        sandbox_admin: SandboxAdmin, new_instance, make_ctx, avesa_home: Path) -> None:
    name = new_instance("audjobs")
    _add(sandbox_admin, name)
    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    failed = runner.invoke(app, ["run", "--tenant", name])
    assert failed.exit_code == 1
    ctx: PipelineContext = make_ctx()
    [run] = ctx.state.list_runs()

    assert runner.invoke(app, ["jobs", "retry", "run-nope"]).exit_code == 2
    entry = _last("jobs.retry")
    assert (entry["outcome"], entry["target"]) == ("refused", "run-nope") and "unknown run" in entry["message"]
    assert runner.invoke(app, ["jobs", "retry", run.run_id]).exit_code == 0
    entry = _last("jobs.retry")
    assert (entry["outcome"], entry["target"], entry["tenant"]) == ("ok", run.run_id, name)
    assert runner.invoke(app, ["jobs", "cancel", run.run_id]).exit_code == 2  # complete now
    entry = _last("jobs.cancel")
    assert (entry["outcome"], entry["target"]) == ("refused", run.run_id) and "is complete" in entry["message"]

    sandbox_admin.add_fault(name, "malformed", count=1, table="service/tickets")
    time.sleep(1.05)  # a new run id (whole seconds)
    assert runner.invoke(app, ["run", "--tenant", name]).exit_code == 1
    second = ctx.state.list_runs()[0]
    assert runner.invoke(app, ["jobs", "cancel", second.run_id]).exit_code == 0
    entry = _last("jobs.cancel")
    assert (entry["outcome"], entry["target"], entry["tenant"]) == ("ok", second.run_id, name)
    assert entry["details"] == {"kind": "sync", "was": "failed"}

    ctx.state.create_run("run-crashed-a", utc_now(), {"tenant_id": name}, _dead_owner())
    resumed = runner.invoke(app, ["jobs", "resume", "run-crashed-a"])
    assert resumed.exit_code == 0, resumed.output
    entry = _last("jobs.resume")
    assert (entry["outcome"], entry["target"], entry["tenant"]) == ("ok", "run-crashed-a", name)
    assert runner.invoke(app, ["jobs", "resume", run.run_id]).exit_code == 2
    entry = _last("jobs.resume")
    assert (entry["outcome"], entry["target"]) == ("refused", run.run_id) and "nothing to resume" in entry["message"]

    ctx.state.create_run("run-crashed-b", utc_now(), {"tenant_id": name}, _dead_owner())
    cleaned = runner.invoke(app, ["jobs", "cleanup-stuck"])
    assert cleaned.exit_code == 0 and "abandoned run-crashed-b" in cleaned.output, cleaned.output
    entry = _last("jobs.cleanup-stuck")
    assert (entry["outcome"], entry["target"], entry["tenant"]) == ("ok", "run-crashed-b", name)
    assert ctx.state.get_run("run-crashed-b").status == "abandoned"
    assert runner.invoke(app, ["jobs", "cleanup-stuck", "--dry-run"]).exit_code == 0
    assert len(_audit("--action", "jobs.cleanup-stuck")) == 1  # a dry run changes nothing, records nothing

    listed = runner.invoke(app, ["audit", "--tenant", name, "--action", "jobs"]).output
    assert "jobs.retry" in listed and "jobs.cancel" in listed and "refused" in listed
