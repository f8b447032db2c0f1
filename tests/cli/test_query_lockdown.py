"""`avesa query` reads the lake's views and nothing else, and only the asked-for tenant's rows.

A lake of two tenants is built once by a real run against the sandbox (real Delta tables); hostile
queries are then typed at the `avesa` command as a user would, scoped to the first tenant, and
each must be refused with exit code 2 and one line, without reading a secret, writing a file or
touching the other tenant's tables.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.lake.delta_tables import canonical_dataset
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.pipeline.helpers import let_source_clock_pass

runner = CliRunner()

MARKUP_SUMMARIES = ["Printer jam [/resolved]", "[bold]Urgent[/bold] reboot"]


@dataclass(frozen=True)
class Lake:
    home: Path
    tenant: str  # the tenant the hostile queries are scoped to
    other: str
    built: dict[str, str]  # the lake's files as the run left them

    @property
    def root(self) -> Path:
        return self.home / "lake"

    def files(self) -> dict[str, str]:
        return lake_files(self.root)


def lake_files(root: Path) -> dict[str, str]:
    """Every file under the lake with a digest of its content."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def lake(sandbox_admin: SandboxAdmin, register, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    home = tmp_path_factory.mktemp("lockdown") / "avesa-home"
    names = [f"lockdown-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AVESA_HOME", str(home))
        env.delenv("AVESA_LAKE_URL", raising=False)
        env.delenv("AVESA_SECRET_KEY", raising=False)  # the key lives in $AVESA_HOME/secret.key
        try:
            for seed, name in enumerate(names, start=1):
                sandbox_admin.create_instance(name, scale="tiny", seed=seed, knobs={"rate_limit_per_minute": None})
            ticket_ids = sandbox_admin.record_ids(names[0], "service/tickets")
            for ticket_id, summary in zip(ticket_ids, MARKUP_SUMMARIES, strict=False):
                sandbox_admin.update_record(names[0], "service/tickets", ticket_id, {"summary": summary})
            let_source_clock_pass(sandbox_admin, names[:1])  # so the run's range holds the changes
            ctx = PipelineContext.from_settings(Settings(home=home))
            for name in names:
                register(ctx, name, tables=["service_tickets", "company_companies"])
            ran = runner.invoke(app, ["run"])
            assert ran.exit_code == 0, ran.output
            yield Lake(home=home, tenant=names[0], other=names[1], built=lake_files(home / "lake"))
        finally:
            for name in names:
                if any(i.get("name") == name for i in sandbox_admin.instances()):
                    sandbox_admin.delete_instance(name)


def query(lake: Lake, sql: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["query", sql, *args], env={"AVESA_HOME": str(lake.home), "AVESA_LAKE_URL": None,
                                                            "AVESA_SECRET_KEY": None})
    return result.exit_code, result.output


# ------------------------------------------------------------------------------ hostile queries

# (sql, what the one-line refusal names); {home}, {lake}, {other} and {out} are filled in per test,
# {out} being a path outside the lake that must still not exist afterwards.
HOSTILE = {
    "read the secret key": ("SELECT * FROM read_text('{home}/secret.key')", "files, the network or extensions"),
    "read the secrets file": ("SELECT content FROM read_blob('{home}/secrets.enc')", "files, the network"),
    "read the key as csv": ("SELECT * FROM read_csv('{home}/secret.key', header=false)", "files, the network"),
    "list the lake": ("SELECT * FROM glob('{lake}/**')", "files, the network"),
    "other tenant's parquet": ("SELECT * FROM read_parquet('{lake}/{other}/canonical/tickets/**/*.parquet')",
                               "files, the network"),
    "other tenant's path as a table": ("SELECT * FROM '{lake}/{other}/canonical/tickets/**/*.parquet'",
                                       "files, the network"),
    "other tenant's delta log": ("SELECT * FROM read_json_auto('{lake}/{other}/canonical/tickets/_delta_log/*.json')",
                                 "files, the network"),
    "the state database": ("SELECT * FROM sqlite_scan('{home}/state.sqlite3', 'tenants')",
                           "extensions (sqlite_scan is in sqlite_scanner)"),
    "the network": ("SELECT * FROM read_csv('https://example.com/tickets.csv')", "files, the network"),
    "copy to a file": ("COPY (SELECT * FROM tickets) TO '{out}'", "COPY"),
    "copy into the other tenant's delta log": (
        ("COPY (SELECT '{{\"remove\": {{}}}}' AS x) TO '{lake}/{other}/canonical/tickets/_delta_log/"
        "00000000000000000099.json' (FORMAT csv, HEADER false, QUOTE '')"), "COPY"),
    "copy from a file": ("COPY tickets FROM '{home}/secret.key'", "COPY"),
    "export the database": ("EXPORT DATABASE '{out}'", "EXPORT DATABASE"),
    "attach a database file": ("ATTACH '{out}' AS stolen", "ATTACH"),
    "attach the state database": ("ATTACH '{home}/state.sqlite3' AS state (TYPE sqlite)", "ATTACH"),
    "install an extension": ("INSTALL httpfs", "INSTALL or LOAD"),
    "load an extension": ("LOAD httpfs", "INSTALL or LOAD"),
    "turn file access back on": ("SET enable_external_access = true", "SET, RESET or USE"),
    "unlock the configuration": ("SET lock_configuration = false", "SET, RESET or USE"),
    "reset the lock": ("RESET lock_configuration", "SET, RESET or USE"),
    "move the spill directory into the lake": ("SET temp_directory = '{lake}'", "SET, RESET or USE"),
    "profile into a file": ("SET profile_output = '{out}'", "SET, RESET or USE"),
    "a pragma": ("PRAGMA enable_profiling", "PRAGMA"),
    "a table of one's own": ("CREATE TABLE mine AS SELECT * FROM tickets", "CREATE statements"),
    "a second statement that writes": ("SELECT 1; COPY (SELECT * FROM tickets) TO '{out}'", "2 statements"),
    "a second statement that unlocks": ("SELECT 1; SET lock_configuration = false; SELECT 2", "3 statements"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_query_is_refused_in_one_line_and_touches_nothing(case: str, lake: Lake, tmp_path: Path) -> None:
    template, named = HOSTILE[case]
    out = tmp_path / "stolen.out"
    sql = template.format(home=lake.home, lake=lake.root, other=lake.other, out=out)
    before = lake.files()
    secret_key = (lake.home / "secret.key").read_text().strip()

    code, output = query(lake, sql, "--tenant", lake.tenant)

    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("error: not allowed in avesa query: ") and named in lines[0], output
    assert secret_key not in output
    assert not out.exists()
    assert lake.files() == before  # the other tenant's delta log included


def test_the_refusals_leave_the_other_tenants_history_readable(lake: Lake) -> None:
    for sql, _ in HOSTILE.values():
        query(lake, sql.format(home=lake.home, lake=lake.root, other=lake.other, out=lake.home / "x"),
              "--tenant", lake.tenant)
    assert lake.files() == lake.built
    code, output = query(lake, "SELECT count(*) AS n FROM tickets", "--tenant", lake.other, "--format", "json")
    assert code == 0, output
    assert json.loads(output)[0]["n"] > 0


# ------------------------------------------------------------------------------ tenant scope


def test_with_tenant_the_views_hold_that_tenants_rows_only(lake: Lake, tmp_path: Path) -> None:
    """Even when the tenant's Delta log names the other tenant's data files (`../../../other/…`), as
    a commit written into it from outside could (on a copy of the lake, so the shared one stays as built)."""
    home = tmp_path / "avesa-home"
    shutil.copytree(lake.home, home)
    copy = Lake(home=home, tenant=lake.tenant, other=lake.other, built={})
    _add_the_other_tenants_files_to_the_tenants_log(copy, "tickets")
    crafted = canonical_dataset(str(copy.root / lake.tenant / "canonical" / "tickets")).to_table()
    assert set(crafted["tenant_id"].to_pylist()) == {lake.tenant, lake.other}  # the log now says so

    code, output = query(copy, "SELECT DISTINCT tenant_id FROM tickets UNION SELECT DISTINCT tenant_id FROM companies",
                         "--tenant", lake.tenant, "--format", "json")
    assert code == 0, output
    assert json.loads(output) == [{"tenant_id": lake.tenant}]

    hidden = f"_tickets__{lake.other.replace('-', '_')}"
    code, output = query(copy, f'SELECT count(*) FROM "{hidden}"', "--tenant", lake.tenant)
    assert code == 2 and "does not exist" in output, output


def _add_the_other_tenants_files_to_the_tenants_log(lake: Lake, table: str) -> None:
    """Commit, in the tenant's table, every data file of the other tenant's table, by a relative path
    that climbs out of the table (deltalake follows it)."""
    theirs = lake.root / lake.other / "canonical" / table
    ours = lake.root / lake.tenant / "canonical" / table
    actions = [{"add": {**add, "path": os.path.relpath(theirs / add["path"], ours), "dataChange": True}}
               for add in _adds(theirs)]
    version = DeltaTable(str(ours)).version() + 1
    (ours / "_delta_log" / f"{version:020d}.json").write_text("\n".join(json.dumps(a) for a in actions) + "\n")


def _adds(table_dir: Path) -> list[dict]:
    """The add actions of the table's current files, as its log holds them."""
    live = {Path(uri).name for uri in DeltaTable(str(table_dir)).file_uris()}
    adds = []
    for log in sorted((table_dir / "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "add" in action and Path(action["add"]["path"]).name in live:
                adds.append(action["add"])
    return adds


def test_ordinary_selects_still_work(lake: Lake) -> None:
    for sql in ["WITH t AS (SELECT * FROM tickets) SELECT count(*) AS n FROM t", "FROM companies SELECT count(*) AS n",
                "DESCRIBE tickets", "SHOW TABLES", "SELECT count(*) AS n FROM tickets;"]:
        code, output = query(lake, sql, "--tenant", lake.tenant, "--format", "json")
        assert code == 0, (sql, output)
        assert json.loads(output), sql


def test_a_failing_select_is_reported_in_one_line(lake: Lake) -> None:
    code, output = query(lake, "SELEC count(*) FROM tickets")
    assert code == 2
    assert output.strip() == 'error: query failed: Parser Error: syntax error at or near "SELEC"', output


def test_an_empty_query_asks_for_a_select(lake: Lake) -> None:
    code, output = query(lake, "  ;")
    assert code == 2 and "write one SELECT" in output


def test_spill_files_go_outside_the_lake(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(lake.root)  # DuckDB's default spill directory is ./.tmp
    code, output = query(lake, "SELECT current_setting('temp_directory') AS d", "--format", "json")
    assert code == 0, output
    spill = Path(json.loads(output)[0]["d"]).resolve()
    assert not spill.is_relative_to(lake.root.resolve())
    assert not spill.exists()  # removed once the query is done


# ------------------------------------------------------------------------------ rendering


def test_table_output_prints_source_text_as_text(lake: Lake) -> None:
    code, output = query(lake, "SELECT summary AS \"[red]summary\" FROM tickets WHERE summary LIKE '%[%' ORDER BY 1",
                         "--tenant", lake.tenant)
    assert code == 0, output
    for summary in [*MARKUP_SUMMARIES, "[red]summary"]:
        assert summary in output


def test_csv_output_renders_list_and_struct_columns_as_json(lake: Lake) -> None:
    sql = ("SELECT tenant_id, list(summary ORDER BY summary) AS summaries, "
           "{'n': count(*), 'ids': list(source_id ORDER BY source_id)[1:2]} AS stats "
           "FROM tickets WHERE summary LIKE '%[%' GROUP BY tenant_id")
    code, output = query(lake, sql, "--tenant", lake.tenant, "--format", "csv")
    assert code == 0, output
    [row] = list(csv.DictReader(io.StringIO(output)))
    assert row["tenant_id"] == lake.tenant
    assert json.loads(row["summaries"]) == sorted(MARKUP_SUMMARIES)
    stats = json.loads(row["stats"])
    assert stats["n"] == 2 and len(stats["ids"]) == 2
