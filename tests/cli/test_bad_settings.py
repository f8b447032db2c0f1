"""Settings, options and a machine that refuses writes, as a hostile tester tries them: each gets one
line naming what is wrong and what to do, exit 2, never a traceback — and never a hang."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa.state.sqlite import schema
from avesa_sandbox import SandboxAdmin
from tests.cli.test_cli import _env_for

runner = CliRunner()


def _one_line_error(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("AVESA_ENV", "production", "AVESA_ENV='production': input should be 'dev', 'staging' or 'prod'"),
    ("AVESA_MAX_REQUESTS_IN_FLIGHT", "0", ("AVESA_MAX_REQUESTS_IN_FLIGHT='0': input should be greater than or "
     "equal to 1")),
    ("AVESA_MAX_CHUNKS_IN_FLIGHT", "-3", "AVESA_MAX_CHUNKS_IN_FLIGHT='-3': input should be greater than or equal to 1"),
    ("AVESA_PAGE_SIZE", "many", "AVESA_PAGE_SIZE='many': input should be a valid integer"),
    ("AVESA_LEASE_SECONDS", "nan", "AVESA_LEASE_SECONDS='nan': input should be a finite number"),
    ("AVESA_CHUNK_DEADLINE_SECONDS", "inf", "AVESA_CHUNK_DEADLINE_SECONDS='inf': input should be a finite number"),
    ("AVESA_HTTP_TIMEOUT_SECONDS", "0", "AVESA_HTTP_TIMEOUT_SECONDS='0': input should be greater than 0"),
    ("AVESA_LOOKBACK_SECONDS", "1e30", "AVESA_LOOKBACK_SECONDS='1e30'"),
])
def test_an_invalid_setting_is_one_line_naming_the_variable_and_exit_2(
        variable: str, value: str, says: str, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["tenant", "list"])
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.output)
    assert says in line and "set a valid value or unset it" in line
    assert not any(avesa_home.iterdir()), "nothing is written with settings that are wrong"


def test_every_wrong_setting_is_named_at_once(avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVESA_ENV", "production")
    monkeypatch.setenv("AVESA_MAX_REQUESTS_IN_FLIGHT", "0")
    line = _one_line_error(runner.invoke(app, ["run"]).output)
    assert "AVESA_ENV=" in line and "AVESA_MAX_REQUESTS_IN_FLIGHT=" in line


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("AVESA_STATE_URL", "postgres://db/avesa", ("AVESA_STATE_URL='postgres://db/avesa' is not understood: use "
     "sqlite:///PATH, a file path, or dynamodb://TABLE_PREFIX")),
    ("AVESA_STATE_URL", "dynamodb://", "AVESA_STATE_URL='dynamodb://' is not understood (the table prefix may hold"),
    ("AVESA_SECRETS_URL", "vault://avesa", ("AVESA_SECRETS_URL='vault://avesa' is not understood: use "
     "secretsmanager://NAME_PREFIX")),
    ("AVESA_LAKE_URL", "gs://bucket/lake", ("AVESA_LAKE_URL='gs://bucket/lake': the lake is a folder, file://PATH "
     "or s3://BUCKET[/PREFIX]")),
    ("AVESA_LAKE_URL", "s3://", "AVESA_LAKE_URL='s3://': the lake is a folder"),
])
@pytest.mark.parametrize("command", [["tenant", "list"], ["run"], ["status"]])
def test_a_back_end_url_that_is_not_understood_is_one_line_and_nothing_is_written(
        variable: str, value: str, says: str, command: list[str], avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, command)
    assert result.exit_code == 2, result.output
    assert says in _one_line_error(result.output)
    assert not (avesa_home / "state.sqlite3").exists() and not (avesa_home / "secrets.enc").exists()
    assert not (avesa_home / "lake").exists()


def test_a_refused_url_never_shows_its_password(avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVESA_LAKE_URL", "https://lake-user:hunter2-pass@lake.example/avesa")
    line = _one_line_error(runner.invoke(app, ["tenant", "list"]).output)
    assert "hunter2" not in line and "https://lake-user:" in line and "the lake is a folder" in line


def test_an_avesa_home_that_cannot_be_created_names_the_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("AVESA_HOME", str(blocker / "home"))  # a file where a folder must be: as root, too
    result = runner.invoke(app, ["tenant", "add", "acme", "--company-name", "Acme"])
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.output)
    assert f"AVESA_HOME={blocker / 'home'} does not exist" in line and "`avesa init" in line
    made = runner.invoke(app, ["init", str(blocker / "home"), "--config", str(tmp_path / "avesa.toml")])
    assert made.exit_code == 2, made.output
    line = _one_line_error(made.output)
    assert f"AVESA_HOME={blocker / 'home'}: cannot create it" in line and "point AVESA_HOME at a folder" in line


def test_a_state_database_that_cannot_be_opened_names_the_file(avesa_home: Path) -> None:
    (avesa_home / "state.sqlite3").mkdir(parents=True)  # SQLite cannot open it, whoever runs the test
    result = runner.invoke(app, ["tenant", "list"])
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.output)
    assert f"cannot write the state database {avesa_home / 'state.sqlite3'}" in line and "AVESA_HOME" in line


def test_a_full_disk_under_the_state_database_is_one_line_with_the_fix(
        avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk, simulated where it strikes: SQLite's own page limit (`max_page_count`) set to the
    pages the file has makes the real SQLite engine answer the next write that needs a page with
    SQLITE_FULL, "database or disk is full" — exactly what it answers when the disk is full."""
    created = schema.migrate

    def no_more_pages(conn: sqlite3.Connection) -> None:
        created(conn)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    assert runner.invoke(app, ["tenant", "add", "small", "--company-name", "Small"]).exit_code == 0
    with monkeypatch.context() as full:
        full.setattr(schema, "migrate", no_more_pages)
        result = runner.invoke(app, ["tenant", "add", "acme", "--company-name", "Acme " * 5000])
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.output)
    assert f"no space left on the disk holding {avesa_home / 'state.sqlite3'}: free some space" in line
    listed = runner.invoke(app, ["tenant", "list"]).output
    assert "small" in listed and "acme" not in listed, "what was written before stays; nothing half-written"


def test_a_full_disk_under_the_lake_fails_the_table_saying_what_to_free(
        sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated where the bytes meet the disk: the raw file's Parquet write raises ENOSPC, as the
    operating system does on a full disk. The run goes on with the other tables (the pipeline's
    rule) and exits 1; the table's error says which disk and what to do."""
    name = new_instance("full")
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Full Co", "--service",
                                "connectwise", "--tables", "company_companies"], env=_env_for(sandbox_admin, name))
    assert added.exit_code == 0, added.output

    def disk_full(table: object, where: str, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", where)

    monkeypatch.setattr(pq, "write_table", disk_full)
    result = runner.invoke(app, ["run"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "1 table(s) failed" in result.output
    [failed] = PipelineContext.from_settings(Settings(home=avesa_home)).state.list_table_runs()
    lake = avesa_home / "lake" / name / "raw" / "connectwise" / "company_companies"
    assert failed.status == "failed" and failed.error.startswith(
        f"{name}/connectwise/company_companies: no space left on the disk holding {lake}/")
    assert "free some space there, or point AVESA_HOME (the lake: AVESA_LAKE_URL) at a disk with room" in failed.error


@pytest.mark.parametrize("args", [
    ["jobs", "list", "--limit", "100000000000000000000000"],
    ["jobs", "list", "--limit", "1e21"],
    ["jobs", "list", "--limit", "0"],
    ["status", "--limit", "-1"],
])
def test_a_limit_out_of_range_is_refused_with_exit_2(args: list[str], avesa_home: Path) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "--limit" in result.output


@pytest.mark.parametrize("rate", ["nan", "inf", "-inf", "0", "-5", "1e300"])
def test_a_rate_that_is_not_a_finite_positive_number_is_refused(
        rate: str, sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    name = new_instance("rate")
    runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Rate Co", "--service",
                        "connectwise", "--tables", "company_companies"], env=_env_for(sandbox_admin, name))
    result = runner.invoke(app, ["service", "limit", "--tenant-id", name, "--service", "connectwise",
                                 "--requests-per-minute", rate])
    assert result.exit_code == 2, result.output
    line = _one_line_error(result.output)
    assert "--requests-per-minute must be a number above 0 and at most 1,000,000" in line
    assert "documented" in runner.invoke(app, ["service", "list"]).output, "nothing was stored"


def test_a_catalog_file_that_is_not_utf8_stops_every_command_with_its_name(
        tmp_path: Path, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "catalog" / "services").mkdir(parents=True)
    spec = tmp_path / "catalog" / "services" / "desk.json"
    spec.write_bytes(b'{"service": "desk", "display_name": "D\xe9sk"}')
    monkeypatch.setenv("AVESA_CATALOG_PATH", str(tmp_path / "catalog"))
    result = runner.invoke(app, ["tenant", "list"])
    assert result.exit_code == 2, result.output
    assert _one_line_error(result.output) == f"error: {spec}: not UTF-8 text (byte 38 is 0xe9); save it as UTF-8"
