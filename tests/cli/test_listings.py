"""`avesa status` and `avesa jobs list|show` at many tenants, as a user types them (typer's runner,
real runs on the sandbox over HTTP): json and csv hand scripts the ledger's rows, filters narrow
them, failures come first, a table says how many rows it left out, bad filters exit 2."""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.timeutil import utc_now
from avesa.pipeline.context import PipelineContext
from avesa_sandbox import SandboxAdmin
from tests.cli.test_cli import _env_for

runner = CliRunner()
TABLES = "service_tickets,company_companies"


def _add(admin: SandboxAdmin, name: str) -> None:
    added = runner.invoke(app, ["service", "add", "--tenant", name, "--company-name", name.title(), "--service",
                                "connectwise", "--tables", TABLES], env=_env_for(admin, name))
    assert added.exit_code == 0, added.output


def _json(*args: str) -> list[dict]:
    result = runner.invoke(app, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _csv(*args: str) -> tuple[list[str], list[dict]]:
    result = runner.invoke(app, [*args, "--format", "csv"])
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    return list(reader.fieldnames or []), list(reader)


def _times(row: dict) -> dict:
    """`row` with its times parsed: the ledger's JSON writes UTC as `Z`, the CLI as `+00:00`."""
    return {k: datetime.fromisoformat(v) if isinstance(v, str) and (k.endswith(("_at", "_start", "_end"))
                                                                   or k == "lease_expires") else v
            for k, v in row.items()}


@pytest.fixture
def two_runs(sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> tuple[str, str]:
    """A tenant whose tickets failed (the older run), then one synced whole (the newer run)."""
    broken, fine = new_instance("broken"), new_instance("fine")
    for name in (broken, fine):
        _add(sandbox_admin, name)
    sandbox_admin.add_fault(broken, "malformed", count=1, table="service/tickets")
    assert runner.invoke(app, ["run", "--tenant", broken]).exit_code == 1
    time.sleep(1.05)  # run ids and start times are whole seconds: the second run is the newer one
    assert runner.invoke(app, ["run", "--tenant", fine]).exit_code == 0
    return broken, fine


def test_status_json_and_csv_are_the_ledgers_rows_failures_first(two_runs: tuple[str, str], make_ctx) -> None:
    broken, fine = two_runs
    ctx: PipelineContext = make_ctx()
    ledger = {(tr.tenant_id, tr.table): tr.model_dump(mode="json") for tr in ctx.state.list_table_runs()}
    rows = _json("status")
    assert len(rows) == len(ledger) == 4
    for row in rows:
        expected = ledger[(row["tenant_id"], row["table"])]
        assert _times({k: row[k] for k in expected}) == _times(expected)
    assert (rows[0]["tenant_id"], rows[0]["table"], rows[0]["status"]) == (broken, "service_tickets", "failed")
    assert {r["status"] for r in rows[1:]} == {"complete"}
    assert rows[0]["error"] and "service_tickets" in rows[0]["error"]  # whole, as the ledger keeps it
    assert rows[1]["watermark"] is not None and rows[1]["stale"] is False

    header, csv_rows = _csv("status")
    assert header[:3] == ["run_id", "tenant_id", "service"] and "stale" in header
    assert [(r["tenant_id"], r["table"], r["status"], int(r["records"])) for r in csv_rows] == \
        [(r["tenant_id"], r["table"], r["status"], r["records"]) for r in rows]
    assert csv_rows[0]["error"] == rows[0]["error"]

    table = runner.invoke(app, ["status"]).output
    first = next(line for line in table.splitlines() if f"{broken}/" in line or f"{fine}/" in line)
    assert f"{broken}/connectwise/service_tickets" in first and "failed" in first


def test_status_filters_narrow_and_a_limited_table_says_how_many_more(
        two_runs: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    broken, fine = two_runs
    assert {r["tenant_id"] for r in _json("status", "--tenant", fine)} == {fine}
    assert [(r["tenant_id"], r["table"]) for r in _json("status", "--status", "failed")] == \
        [(broken, "service_tickets")]
    assert {r["table"] for r in _json("status", "--service", "connectwise", "--tenant", broken)} == \
        {"service_tickets", "company_companies"}
    assert _json("status", "--stale") == []
    monkeypatch.setenv("AVESA_FRESHNESS_TARGET_HOURS", "0.0001")  # a third of a second
    time.sleep(1)
    stale = _json("status", "--stale")
    assert {(r["tenant_id"], r["table"]) for r in stale} == {(broken, "company_companies"), (fine, "service_tickets"),
                                                            (fine, "company_companies")}  # never synced: no age
    assert all(r["age_hours"] > r["target_hours"] for r in stale)

    limited = runner.invoke(app, ["status", "--limit", "1"])
    assert limited.exit_code == 0, limited.output
    assert "3 more tables (--limit 4 shows them all" in limited.output
    assert f"{broken}/connectwise/service_tickets" in limited.output
    assert f"{fine}/connectwise/service_tickets" not in limited.output
    assert len(_json("status", "--limit", "2")) == 2 and len(_json("status")) == 4  # json: every row unless --limit
    assert len(_csv("status", "--limit", "1")[1]) == 1


def test_an_error_is_cut_in_the_table_unless_asked_for_whole(sandbox_admin: SandboxAdmin, new_instance,
                                                             avesa_home: Path) -> None:
    broken = new_instance("longerr")
    _add(sandbox_admin, broken)
    sandbox_admin.add_fault(broken, "400-echo", table="service/tickets", count=5)
    assert runner.invoke(app, ["run"]).exit_code == 1
    [failed] = _json("status", "--status", "failed")
    error = failed["error"].removeprefix(f"{broken}/connectwise/service_tickets: ")
    assert len(error) > 120, error  # a 400 quoting the request back
    cut = _last_column(runner.invoke(app, ["status", "--status", "failed"]).output)
    assert cut == _squash(error[:120]) + "…"
    whole = _last_column(runner.invoke(app, ["status", "--status", "failed", "--full-errors"]).output)
    assert whole == _squash(error)
    run_id = failed["run_id"]
    title = _title(runner.invoke(app, ["jobs", "show", run_id]).output)
    assert _squash(error[:120]) + "…" in title and _squash(error) not in title
    assert _squash(error) in _title(runner.invoke(app, ["jobs", "show", run_id, "--full-errors"]).output)


def _squash(text: str) -> str:
    return "".join(text.split())


def _last_column(output: str) -> str:
    """The last column of a one-row table, its wrapped lines joined."""
    body = output.split("┡", 1)[1].splitlines()[1:]
    return _squash("".join(line.split("│")[-2] for line in body if line.startswith("│")))


def _title(output: str) -> str:
    """The title of `avesa jobs show`'s first table (it wraps like text)."""
    return _squash(output.split("service_tickets (", 1)[1].split("┏", 1)[0])


def _dead_owner() -> str:
    """The owner of a run whose process is gone, as a crash leaves it."""
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{socket.gethostname()}:{process.pid}"


def test_jobs_list_json_csv_filters_failures_first_and_stale_runs(two_runs: tuple[str, str], make_ctx) -> None:
    broken, fine = two_runs
    ctx: PipelineContext = make_ctx()
    ledger = [r.model_dump(mode="json") for r in ctx.state.list_runs()]
    older, newer = ledger[1], ledger[0]
    rows = _json("jobs", "list")
    assert [r["run_id"] for r in rows] == [older["run_id"], newer["run_id"]]  # the failed one first
    for row, expected in zip(rows, (older, newer), strict=True):
        assert _times({k: row[k] for k in expected}) == _times(expected)
    assert (rows[0]["status"], rows[0]["tables_failed"], rows[0]["tables_complete"]) == ("failed", 1, 1)
    assert rows[0]["tenants"] == [broken] and "service_tickets" in rows[0]["error"]
    assert (rows[1]["status"], rows[1]["tables_complete"], rows[1]["error"]) == ("complete", 2, None)

    header, csv_rows = _csv("jobs", "list")
    assert header[0] == "run_id" and "tables_failed" in header
    assert [(r["run_id"], r["status"], r["error"]) for r in csv_rows] == \
        [(r["run_id"], r["status"], r["error"] or "") for r in rows]

    assert [r["run_id"] for r in _json("jobs", "list", "--tenant", fine)] == [newer["run_id"]]
    assert [r["run_id"] for r in _json("jobs", "list", "--status", "complete")] == [newer["run_id"]]
    assert _json("jobs", "list", "--stale") == []

    ctx.state.create_run("run-crashed", utc_now(), {"tenant_id": fine}, _dead_owner())
    stale = _json("jobs", "list", "--stale")
    assert [(r["run_id"], r["status"], r["stale"]) for r in stale] == [("run-crashed", "interrupted", True)]
    assert "is gone" in stale[0]["interrupted"]
    assert [r["run_id"] for r in _json("jobs", "list")] == [older["run_id"], "run-crashed", newer["run_id"]]
    assert "run-crashed" in [r["run_id"] for r in _json("jobs", "list", "--tenant", fine)]  # asked for by name

    limited = runner.invoke(app, ["jobs", "list", "--limit", "1"])
    assert limited.exit_code == 0, limited.output
    assert older["run_id"] in limited.output and newer["run_id"] not in limited.output
    assert "2 more runs (--limit 3 shows them all" in limited.output
    assert "run-crashed is interrupted" not in limited.output  # its advice goes with its row


def test_jobs_show_json_has_each_table_with_its_chunks_failures_first(two_runs: tuple[str, str], make_ctx) -> None:
    broken, _ = two_runs
    ctx: PipelineContext = make_ctx()
    run = ctx.state.list_runs()[1]
    ledger = {tr.table: tr.model_dump(mode="json") for tr in ctx.state.list_table_runs(run_id=run.run_id)}
    rows = _json("jobs", "show", run.run_id)
    assert [r["table"] for r in rows] == ["service_tickets", "company_companies"]  # failed first
    for row in rows:
        chunks = row.pop("chunks")
        assert _times(row) == _times(ledger[row["table"]])
        assert chunks and all(c["table"] == row["table"] and c["run_id"] == run.run_id for c in chunks)
    assert any(c["last_error"] for c in _json("jobs", "show", run.run_id)[0]["chunks"])
    header, csv_rows = _csv("jobs", "show", run.run_id, "--status", "complete")
    assert "chunks" not in header and [r["table"] for r in csv_rows] == ["company_companies"]
    assert _json("jobs", "show", run.run_id, "--tenant", broken, "--status", "cancelled") == []
    limited = runner.invoke(app, ["jobs", "show", run.run_id, "--limit", "1"]).output
    assert "service_tickets" in limited and "company_companies (" not in limited and "1 more tables" in limited


@pytest.mark.parametrize(("args", "expected"), [
    (["status", "--format", "xml"], "unknown --format 'xml': use table, json, csv"),
    (["status", "--status", "broken"], "unknown --status 'broken': use one of pending, extracting"),
    (["status", "--tenant", "ghost"], "unknown tenant 'ghost'; known tenants: (none). `avesa tenant list`"),
    (["status", "--service", "zendesk"], "unknown service 'zendesk'"),
    (["jobs", "list", "--format", "yaml"], "unknown --format 'yaml'"),
    (["jobs", "list", "--status", "done"], "unknown --status 'done': use one of running, interrupted, failed"),
    (["jobs", "list", "--tenant-id", "ghost"], "unknown tenant 'ghost'"),
    (["jobs", "show", "run-nope", "--format", "json"], "unknown run 'run-nope'"),
    (["jobs", "show", "run-nope", "--status", "finished"], "unknown --status 'finished'"),
])
def test_bad_listing_input_is_one_clear_line_and_exit_2(args: list[str], expected: str, avesa_home: Path) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
