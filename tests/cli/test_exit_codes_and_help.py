"""The CLI at 200 tenants: `--version`, one tenant flag everywhere, help without type tags on flags
and with examples, the exit codes the README documents (0, 1 and 3 are in test_cli.py; 2 and 130
here), and Ctrl-C leaving a run that the next `avesa run` resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa_sandbox import SandboxAdmin

runner = CliRunner()


def test_version_prints_the_package_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"avesa {version('avesa')}"


@pytest.mark.parametrize("command", [["run"], ["status"], ["backfill"], ["query"], ["service", "add"],
                                     ["service", "test"], ["service", "limit"], ["service", "list"],
                                     ["schedule", "show"], ["schedule", "set"]])
def test_every_command_takes_the_tenant_as_tenant_with_tenant_id_kept(command: list[str]) -> None:
    shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
    assert "--tenant,--tenant-id" in shown, shown


@pytest.mark.parametrize("command", [["run"], ["jobs", "cleanup-stuck"], ["schedule", "set"], ["init"]])
def test_flags_show_no_type_tag_and_options_with_values_keep_theirs(command: list[str]) -> None:
    shown = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout
    assert "<bool>" not in shown, shown
    assert "--help" in shown


def test_help_texts_give_examples() -> None:
    for command in (["run"], ["status"], ["backfill"], ["service", "add"], ["init"], ["config", "show"]):
        assert "Example" in runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).stdout, command
    assert "<path>" in runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).stdout


def test_the_old_tenant_id_spelling_still_works(avesa_home: Path) -> None:
    assert runner.invoke(app, ["tenant", "add", "acme", "--company-name", "Acme"]).exit_code == 0
    listed = runner.invoke(app, ["service", "list", "--tenant-id", "acme"])
    assert listed.exit_code == 0, listed.output
    unknown = runner.invoke(app, ["schedule", "show", "--tenant", "nobody"])
    assert unknown.exit_code == 2 and "unknown tenant 'nobody'" in unknown.output


def test_usage_and_configuration_errors_exit_2(avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert runner.invoke(app, ["run", "--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["status", "--limit", "0"]).exit_code == 2
    monkeypatch.setenv("AVESA_HOME", str(avesa_home / "never-made"))
    missing = runner.invoke(app, ["status"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


@pytest.mark.slow
def test_ctrl_c_exits_130_saying_the_next_run_resumes_and_it_does(
        sandbox_admin: SandboxAdmin, new_instance, register, make_ctx, avesa_home: Path) -> None:
    tenant = register(make_ctx(), new_instance("sigint", knobs={"latency_ms": 120}))
    env = {**os.environ, "AVESA_HOME": str(avesa_home), "AVESA_PAGE_SIZE": "20", "AVESA_RECORDS_PER_FILE": "40",
           "AVESA_TARGET_CHUNK_RECORDS": "100"}
    child = subprocess.Popen([sys.executable, "-m", "avesa", "run"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    raw = avesa_home / "lake" / tenant / "raw"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(raw.rglob("*.parquet"))) < 2:
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, out + err
    assert "the run will resume with the next `avesa run`" in " ".join(err.split())
    assert "Traceback" not in err

    [interrupted] = make_ctx().state.list_runs(status="running")
    resumed = subprocess.run([sys.executable, "-m", "avesa", "run"], env=env,
                             capture_output=True, text=True, timeout=120, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming interrupted run {interrupted.run_id}" in resumed.stdout
    assert make_ctx().state.get_run(interrupted.run_id).status == "complete"
