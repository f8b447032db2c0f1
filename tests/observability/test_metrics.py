"""The metric set, and a one-shot `avesa run` writing or pushing it: numbers equal to the ledger,
requests counted for the chunk that made them, written however the run ends."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.work import SyncMode, TableRef
from avesa.observability.metrics import NAMES
from avesa_sandbox import SandboxAdmin

DESIGN_SET = {
    "runs_started", "runs_completed", "runs_failed", "run_duration_seconds",
    "tenant_tables", "tenant_failures", "tenant_duration_seconds",
    "table_chunks", "table_records", "table_versions", "table_deletes", "table_duration_seconds", "table_lag_seconds",
    "chunk_records", "chunk_pages", "chunk_api_calls", "chunk_retries", "chunk_rate_limited", "chunk_duration_seconds",
    "records_per_second", "records_per_call",
}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _table(tenant: str, table: str) -> tuple[tuple[str, str], ...]:
    return (("service", "connectwise"), ("table", table), ("tenant", tenant))


def test_one_table_of_names_serves_both_executors() -> None:
    assert set(NAMES) >= DESIGN_SET
    assert len({m.prometheus for m in NAMES.values()}) == len(NAMES)
    assert len({m.cloudwatch for m in NAMES.values()}) == len(NAMES)
    assert NAMES["table_records"].cloudwatch == "TableRecords" and NAMES["table_records"].unit == "Count"
    assert NAMES["run_duration_seconds"].unit == "Seconds"
    for key in DESIGN_SET - {"runs_started", "runs_completed", "runs_failed", "run_duration_seconds"}:
        assert "tenant" in NAMES[key].labels, key  # per tenant locally; properties, not dimensions, on AWS


def test_run_writes_the_ledgers_numbers_as_a_textfile(sandbox_admin: SandboxAdmin, new_instance, register,
                                                      make_ctx, avesa_home: Path, tmp_path: Path) -> None:
    tenant = register(make_ctx(), new_instance("textfile"), tables=["service_tickets", "company_companies"])
    # one 429 on the tickets listing: counted for the tickets' chunk, not the companies' beside it
    sandbox_admin.add_fault(tenant, "429", count=1, table="service/tickets", scope="list", retry_after=0)
    path = tmp_path / "textfile" / "avesa.prom"
    result = CliRunner().invoke(app, ["run", "--metrics-file", str(path)])
    assert result.exit_code == 0, result.output
    samples = _samples(path.read_text())
    ctx = make_ctx()
    [run] = ctx.state.list_runs()
    assert samples[("avesa_runs_started_total", (("mode", "incremental"),))] == 1
    assert samples[("avesa_runs_completed_total", (("mode", "incremental"),))] == 1
    for tr in ctx.state.list_table_runs(run_id=run.run_id):
        labels = _table(tenant, tr.table)
        chunks = ctx.state.list_chunks(TableRef(run_id=run.run_id, tenant_id=tenant, service="connectwise",
                                                table=tr.table, mode=SyncMode.INCREMENTAL,
                                                run_started_at=run.started_at))
        assert samples[("avesa_table_records_total", labels)] == tr.records > 0
        assert samples[("avesa_table_versions_total", labels)] == tr.versions_created
        assert samples[("avesa_table_chunks_total", labels)] == len(chunks)
        assert samples[("avesa_chunk_pages_total", labels)] == sum(c.pages for c in chunks)
        calls = samples[("avesa_chunk_api_calls_total", labels)]
        assert samples[("avesa_records_per_call", labels)] == tr.records / calls
        assert ("avesa_table_lag_seconds", labels) in samples
    tickets, companies = _table(tenant, "service_tickets"), _table(tenant, "company_companies")
    assert samples[("avesa_chunk_rate_limited_total", tickets)] == 1
    assert samples[("avesa_chunk_retries_total", tickets)] == 1
    assert samples[("avesa_chunk_api_calls_total", tickets)] == samples[("avesa_chunk_pages_total", tickets)] + 1
    assert samples[("avesa_chunk_rate_limited_total", companies)] == 0


def test_a_failed_run_still_writes_its_metrics(sandbox_admin: SandboxAdmin, new_instance, register, make_ctx,
                                               avesa_home: Path, tmp_path: Path) -> None:
    tenant = register(make_ctx(), new_instance("failing"), tables=["service_tickets"])
    sandbox_admin.add_fault(tenant, "record-without-id", count=20, table="service/tickets", scope="list")
    path = tmp_path / "avesa.prom"
    result = CliRunner().invoke(app, ["run", "--metrics-file", str(path)])
    assert result.exit_code == 1
    samples = _samples(path.read_text())
    assert samples[("avesa_runs_failed_total", (("mode", "incremental"),))] == 1
    assert samples[("avesa_table_failures_total", _table(tenant, "service_tickets"))] == 1
    assert samples[("avesa_tenant_failures_total", (("tenant", tenant),))] == 1


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_run_pushes_its_metrics_to_a_pushgateway(new_instance, register, make_ctx, avesa_home: Path) -> None:
    register(make_ctx(), new_instance("pushed"), tables=["company_companies"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(app, ["run", "--metrics-push", f"127.0.0.1:{server.server_address[1]}"])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    [(method, path, body)] = _Gateway.received
    assert (method, path) == ("PUT", "/metrics/job/avesa")
    assert b"avesa_table_records_total" in body and b"avesa_runs_completed_total" in body


def test_an_unreachable_pushgateway_is_a_warning_not_a_failed_run(new_instance, register, make_ctx,
                                                                 avesa_home: Path) -> None:
    register(make_ctx(), new_instance("nopush"), tables=["company_companies"])
    result = CliRunner().invoke(app, ["run", "--metrics-push", "127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert "warning: metrics not pushed to 127.0.0.1:9" in result.output
