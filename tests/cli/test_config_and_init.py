"""The home resolves the same from any folder: `avesa` run as a process from folders that are not
the home's, as cron runs it — never a silent new home; `avesa init` makes one and the config file
that names it; `avesa config show|set` with sources and secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.url_credentials import DOTS

SRC = Path(__file__).resolve().parents[2] / "src"


def _avesa(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "avesa", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture
def bare_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A shell with no AVESA_* at all and a config directory of its own (as a new user's): for the
    processes, and for this process's own CLI calls (`_cli`)."""
    for name in [n for n in os.environ if n.startswith("AVESA_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return {**os.environ, "PYTHONPATH": str(SRC), "COLUMNS": "200"}


class _Done:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _cli(*args: str, cwd: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> _Done:
    """`avesa ARGS` in this process, run from `cwd` with `env`'s AVESA_* (quicker than a process)."""
    monkeypatch.chdir(cwd)
    extra = {k: v for k, v in env.items() if k.startswith("AVESA_")}
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **extra})
    return _Done(result.exit_code, result.stdout, result.stderr)


def test_without_a_configured_home_commands_refuse_and_create_nothing(tmp_path: Path, bare_env: dict) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (["run"], ["tenant", "add", "acme", "--company-name", "Acme"]):
        done = _avesa(*command, cwd=elsewhere, env=bare_env)
        assert done.returncode == 2, done.stdout + done.stderr
        said = " ".join(done.stderr.split())
        assert "error: no AVESA home is configured here" in said and "`avesa init PATH`" in said
    assert list(elsewhere.iterdir()) == [], "no ./avesa-data made where the command happened to run"


@pytest.mark.slow
def test_init_makes_the_home_every_folder_then_finds(tmp_path: Path, bare_env: dict) -> None:
    home = tmp_path / "srv" / "avesa"
    made = _avesa("init", str(home), cwd=tmp_path, env=bare_env)
    assert made.returncode == 0, made.stdout + made.stderr
    config = tmp_path / "xdg" / "avesa" / "avesa.toml"  # the user's config directory (platformdirs, XDG)
    assert tomllib.loads(config.read_text())["home"] == str(home)
    assert (home / "state.sqlite3").is_file()

    one, two = tmp_path / "one", tmp_path / "two" / "deeper"
    one.mkdir()
    two.mkdir(parents=True)
    assert _avesa("tenant", "add", "acme", "--company-name", "Acme", cwd=one, env=bare_env).returncode == 0
    listed = _avesa("tenant", "list", cwd=two, env=bare_env)
    assert listed.returncode == 0 and "acme" in listed.stdout, listed.stdout + listed.stderr
    assert not (one / "avesa-data").exists() and not (two / "avesa-data").exists()

    again = _avesa("init", str(tmp_path / "other"), cwd=one, env=bare_env)
    assert again.returncode == 2 and f"already names the home {home}" in " ".join(again.stderr.split())


def test_a_project_config_resolves_relative_paths_against_its_own_folder(tmp_path: Path, bare_env: dict,
        monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "catalog").mkdir(parents=True)
    (project / "sub" / "deeper").mkdir(parents=True)
    (project / "avesa.toml").write_text('# our pipeline\nhome = "data"\nmax_tables_per_tenant = 2\n')
    deeper = project / "sub" / "deeper"

    missing = _cli("status", cwd=deeper, env=bare_env, monkeypatch=monkeypatch)
    assert missing.returncode == 2
    said = " ".join(missing.stderr.split())
    assert f"the home {project / 'data'} (named by {project / 'avesa.toml'}) does not exist" in said
    assert f"`avesa init {project / 'data'}`" in said

    # init updates the file in effect
    made = _cli("init", str(project / "data"), cwd=deeper, env=bare_env, monkeypatch=monkeypatch)
    assert made.returncode == 0, made.stderr
    kept = _cli("config", "set", "catalog_path", "../../catalog", cwd=deeper, env=bare_env, monkeypatch=monkeypatch)
    assert kept.returncode == 0, kept.stderr
    text = (project / "avesa.toml").read_text()
    assert "# our pipeline" in text, "the user's comment is kept"
    assert tomllib.loads(text)["home"] == "data" and tomllib.loads(text)["catalog_path"] == "catalog"

    shown = json.loads(_cli("config", "show", "--json", cwd=deeper,
                              env={**bare_env, "AVESA_MAX_TABLES_PER_TENANT": "3"}, monkeypatch=monkeypatch).stdout)
    settings = shown["settings"]
    assert shown["config_file"] == str(project / "avesa.toml")
    assert settings["AVESA_HOME"] == {"value": str(project / "data"), "source": f"file ({project / 'avesa.toml'})"}
    assert settings["AVESA_CATALOG_PATH"]["value"] == str(project / "catalog")
    assert settings["AVESA_MAX_TABLES_PER_TENANT"] == {
        "value": "3", "source": "environment (AVESA_MAX_TABLES_PER_TENANT) — overrides the file"}
    assert settings["AVESA_PAGE_SIZE"] == {"value": "1000", "source": "default"}

    bad = _cli("config", "set", "max_tables_per_tenant", "0", cwd=deeper, env=bare_env, monkeypatch=monkeypatch)
    assert bad.returncode == 2 and "greater than or equal to 1" in bad.stderr
    typo = _cli("config", "set", "max_table_per_tenant", "2", cwd=deeper, env=bare_env, monkeypatch=monkeypatch)
    assert typo.returncode == 2 and "unknown setting 'max_table_per_tenant'" in typo.stderr
    assert tomllib.loads((project / "avesa.toml").read_text())["max_tables_per_tenant"] == 2


def test_config_show_masks_secrets_from_the_environment_and_the_file(tmp_path: Path, bare_env: dict,
        monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "avesa.toml"
    config.write_text(f'home = "{home}"\nlake_url = "s3://lake-user:hunter2-pass@lake-bucket/avesa"\n')
    env = {**bare_env, "AVESA_CONFIG": str(config), "AVESA_SECRET_KEY": "k3y-that-must-never-show-up-anywhere="}
    shown = _cli("config", "show", cwd=tmp_path, env=env, monkeypatch=monkeypatch)
    assert shown.returncode == 0, shown.stderr
    assert "k3y-that-must-never-show-up" not in shown.stdout and "hunter2-pass" not in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if "AVESA_SECRET_KEY" in line)
    assert DOTS in row and "environment (AVESA_SECRET_KEY)" in row
    lake = next(line for line in shown.stdout.splitlines() if "AVESA_LAKE_URL" in line)
    assert f"s3://lake-user:{DOTS}@lake-bucket/avesa" in lake and "file" in lake
    assert f"config file: {config} (AVESA_CONFIG)" in " ".join(shown.stdout.split())


def test_a_broken_config_file_is_one_line_naming_it(tmp_path: Path, bare_env: dict,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "avesa.toml"
    config.write_text('home = "x"\nmax_tables_per_tenant = \n')
    done = _cli("status", cwd=tmp_path, env=bare_env, monkeypatch=monkeypatch)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {config}: not valid TOML")
