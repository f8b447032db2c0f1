"""A canonical build maps raw files with the columnar mapping (DuckDB and Arrow) above a few
hundred rows and with the row function below: both land the same history, and the columnar one
is what a run of any size uses for its big tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from avesa.pipeline import canonical_build
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa.transform import columnar_mapping
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import canonical, register_unthrottled, sync

TABLES = ("companies", "contacts", "tickets", "time_entries")


def _landed(ctx: PipelineContext, tenant: str, table: str) -> list[dict]:
    own = ["run_id", "loaded_at", "extracted_at"]  # each run's own
    rows = canonical(ctx, tenant, table).drop_columns(own).to_pylist()
    return sorted(rows, key=lambda r: (r["source_id"], r["effective_start_date"]))


@pytest.mark.parametrize("service", ["connectwise", "servicenow"])
def test_the_columnar_build_lands_what_the_row_function_lands(
        sandbox_admin: SandboxAdmin, new_instance: Callable[..., str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, service: str) -> None:
    tenant = new_instance("columnar", service=service)
    landed: dict[str, dict[str, list[dict]]] = {}
    queries: list[bool] = []  # per query the columnar mapping ran: whether DuckDB read the batch
    extract = columnar_mapping._extract

    def counted(sql: str, raw: pa.Table) -> pa.Table | None:
        result = extract(sql, raw)
        queries.append(result is not None)
        return result

    monkeypatch.setattr(columnar_mapping, "_extract", counted)
    for way, least in (("columnar", 1), ("rows", 10**9)):
        monkeypatch.setattr(canonical_build, "COLUMNAR_MIN_ROWS", least)
        ctx = PipelineContext.from_settings(Settings(home=tmp_path / way, build_processes=0))
        register_unthrottled(ctx, tenant, service, sandbox_admin.connection(tenant))
        summary = sync(ctx)
        assert summary.status == "complete", [r.error for r in summary.results]
        landed[way] = {t: _landed(ctx, tenant, t) for t in TABLES
                       if ctx.catalog.mapping(service, _source(ctx, service, t))}
    assert len(queries) >= 3 and all(queries), queries  # the first run's tables were mapped by DuckDB
    for table, rows in landed["rows"].items():
        assert rows, f"no {table} landed"
        differing = {k for got, want in zip(landed["columnar"][table], rows, strict=True) for k in want
                     if got[k] != want[k]}
        assert not differing and len(landed["columnar"][table]) == len(rows), (table, differing)


def _source(ctx: PipelineContext, service: str, canonical_table: str) -> str:
    return next((t for t in ctx.catalog.services[service].tables
                 if (m := ctx.catalog.mapping(service, t)) is not None and m.canonical_table == canonical_table), "")
