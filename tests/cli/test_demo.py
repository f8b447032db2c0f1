"""`make demo` is the first thing a user runs: the whole demo, in its own process, ends with every
canonical table equal to its source and canonical rows from all four services — in a home of its
own, leaving the user's real tenants, their data and their credentials as they were."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.cli.demo import demo_settings
from avesa.lake.query import run_query
from avesa.pipeline.context import PipelineContext
from avesa.pipeline.registration import register_service
from avesa.settings import Settings

REAL_CREDENTIALS = {"api_url": "http://127.0.0.1:9", "company_id": "real", "public_key": "real-public",
                    "private_key": "real-private-key", "client_id": "real-client"}


def _real_tenant(home: Path) -> PipelineContext:
    """A user's own tenant, registered where the demo used to run: any call to it would fail."""
    ctx = PipelineContext.from_settings(Settings(home=home))
    register_service(ctx, tenant_id="acme", company_name="Acme Real", service="connectwise",
                     credentials=REAL_CREDENTIALS, tables=["company_companies"])
    return ctx


def _files(home: Path) -> list[Path]:
    """What a home holds, less SQLite's -wal/-shm companions (they come and go with connections)."""
    return sorted(p.relative_to(home) for p in home.rglob("*") if not p.name.endswith(("-wal", "-shm")))


@pytest.mark.slow
def test_the_demo_ends_with_every_service_in_the_canonical_tables(tmp_path: Path) -> None:
    real_home = tmp_path / "home"
    _real_tenant(real_home)
    secrets_before = (real_home / "secrets.enc").read_bytes()
    env = {**os.environ, "AVESA_HOME": str(real_home), "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "avesa", "demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 failed tables, 0 canonical tables differing from the source" in done.stdout
    assert f"AVESA_HOME={real_home / 'demo'} .venv/bin/avesa status" in done.stdout

    real = PipelineContext.from_settings(Settings(home=real_home))
    assert [t.tenant_id for t in real.state.list_tenants()] == ["acme"], "no demo tenant in the real home"
    assert not real.state.list_runs() and not (real_home / "lake").exists(), "the real tenant was never synced"
    assert (real_home / "secrets.enc").read_bytes() == secrets_before
    assert real.secrets.get(real.state.get_service("acme", "connectwise").secret_ref)["private_key"] == \
        "real-private-key"

    ctx = PipelineContext.from_settings(Settings(home=real_home / "demo"))
    tenants = [t.tenant_id for t in ctx.state.list_tenants()]
    assert "acme" not in tenants
    rows = run_query(ctx.lake, "SELECT DISTINCT source_service FROM contacts UNION SELECT DISTINCT source_service "
                     "FROM companies", tenants, sorted(ctx.catalog.canonical)).to_pylist()
    assert {r["source_service"] for r in rows} == {"connectwise", "servicenow", "salesforce", "microsoft365"}


def test_the_demo_refuses_a_home_with_real_tenants_before_touching_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_home = tmp_path / "home"
    _real_tenant(real_home)
    (real_home / "secret.key").unlink()  # this user keeps the key in AVESA_SECRET_KEY: the demo must not add one
    before = _files(real_home)
    monkeypatch.setenv("AVESA_HOME", str(tmp_path / "elsewhere"))
    result = CliRunner().invoke(app, ["demo", "--home", str(real_home)])
    assert result.exit_code == 2, result.output
    assert f"error: {real_home} holds tenants that are not the demo's (acme): the demo would sync them too" in \
        " ".join(result.output.split())
    assert _files(real_home) == before, "nothing created there"
    real = PipelineContext.from_settings(Settings(home=real_home))
    assert [t.tenant_id for t in real.state.list_tenants()] == ["acme"] and not real.state.list_runs()


def test_the_demo_never_uses_the_real_lake_state_or_secret_stores(monkeypatch: pytest.MonkeyPatch,
                                                                    avesa_home: Path) -> None:
    for name, value in {"AVESA_LAKE_URL": "s3://prod-lake/avesa", "AVESA_STATE_URL": "dynamodb://avesa",
                        "AVESA_SECRETS_URL": "secretsmanager://avesa/prod", "AVESA_SECRET_KEY": "x" * 44}.items():
        monkeypatch.setenv(name, value)
    settings = demo_settings(None)
    assert settings.home == avesa_home / "demo"
    assert (settings.lake_url, settings.state_url, settings.secrets_url, settings.secret_key) == (None,) * 4
