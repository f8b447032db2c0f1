"""Text from a source is printed as text: a ticket summary holding rich markup — `[/resolved]`,
which rich cannot parse, and `[bold]` — quoted in an error goes through `avesa run`, `avesa jobs
show` and `avesa status` as it is, run after run."""

from __future__ import annotations

import time
from pathlib import Path

from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.domain.timeutil import parse_utc
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.cli.test_secret_scrubbing import squash
from tests.conftest import sandbox_credentials

runner = CliRunner()
SUMMARY = "Printer jam [/resolved] [bold]x[/bold]"


def test_markup_in_source_text_is_printed_literally_and_never_crashes(sandbox_admin: SandboxAdmin, new_instance,
                                                                      avesa_home: Path) -> None:
    name = new_instance("markup")
    env = {f"CONNECTWISE_{k.upper()}": v for k, v in sandbox_credentials(sandbox_admin, name).items()}
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Markup [b]Co[/b]",
                                "--service", "connectwise", "--tables", "service_tickets"], env=env)
    assert added.exit_code == 0, added.output
    first = min(sandbox_admin.record_ids(name, "service/tickets"))
    changed = sandbox_admin.update_record(name, "service/tickets", first, {"summary": SUMMARY})
    # the run reads changes up to its start, whole seconds: let the change's second pass
    time.sleep(max(0.0, parse_utc(changed["_info"]["lastUpdated"]).timestamp() + 1.05 - time.time()))
    sandbox_admin.add_fault(name, "record-without-id", table="tickets")

    ran = runner.invoke(app, ["run"])
    assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.exception
    assert ran.exit_code == 1, ran.output  # the page failed, naming the record
    assert squash(SUMMARY) in squash(ran.output)

    run_id = PipelineContext.from_settings(Settings()).state.list_runs(limit=1)[0].run_id
    for _ in range(2):  # the ledger keeps the error: every later call prints it again (whole, as asked)
        shown = runner.invoke(app, ["jobs", "show", run_id, "--full-errors"])
        assert shown.exit_code == 0, shown.exception
        assert squash(SUMMARY) in squash(shown.output)
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.exception
    assert "[/resolved]" in status.output and "[bold]x[/bold]" in status.output
    listed = runner.invoke(app, ["tenant", "list"])
    assert listed.exit_code == 0 and "Markup [b]Co[/b]" in listed.output
