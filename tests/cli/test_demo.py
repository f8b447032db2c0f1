"""`make demo` is the first thing a user runs: the whole demo, in its own process, ends with every
canonical table equal to its source and canonical rows from all four services."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from avesa.lake.query import run_query
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings


@pytest.mark.slow
def test_the_demo_ends_with_every_service_in_the_canonical_tables(tmp_path: Path) -> None:
    env = {**os.environ, "AVESA_HOME": str(tmp_path / "home"), "COLUMNS": "160"}
    done = subprocess.run([sys.executable, "-m", "avesa", "demo"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "0 failed tables, 0 canonical tables differing from the source" in done.stdout
    ctx = PipelineContext.from_settings(Settings(home=tmp_path / "home"))
    tenants = [t.tenant_id for t in ctx.state.list_tenants()]
    rows = run_query(ctx.lake, "SELECT DISTINCT source_service FROM contacts UNION SELECT DISTINCT source_service "
                     "FROM companies", tenants, sorted(ctx.catalog.canonical)).to_pylist()
    assert {r["source_service"] for r in rows} == {"connectwise", "servicenow", "salesforce", "microsoft365"}
