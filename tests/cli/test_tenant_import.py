"""`avesa tenant import|export|remove` and `avesa service remove|disable|enable|tables` as an
operator types them: real files (YAML, CSV, a secrets file), the real SQLite state and encrypted
secret store under a test home, a run against the sandbox over real HTTP with imported credentials,
and the audit trail those commands leave (`avesa audit --format json`, parsed back)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.pipeline import onboarding
from avesa.pipeline.import_file import References
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials

runner = CliRunner()


def _ctx(home: Path):
    from avesa.pipeline.context import PipelineContext

    return PipelineContext.from_settings(Settings(home=home))


def _cw(tenant: str, **override: str) -> dict[str, str]:
    """A ConnectWise service's credentials as references to the environment (`CW_*_{TENANT}`)."""
    suffix = tenant.upper().replace("-", "_")
    return {"api_url": "http://127.0.0.1:9/cw", "company_id": tenant, "client_id": "client",
            "public_key": f"${{CW_PUBLIC_{suffix}}}", "private_key": f"env:CW_PRIVATE_{suffix}", **override}


def _write_yaml(path: Path, tenants: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"tenants": tenants}, sort_keys=False))
    return path


def _audit(*args: str) -> list[dict]:
    result = runner.invoke(app, ["audit", "--format", "json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_yaml_import_registers_every_tenant_with_credentials_from_the_environment_and_a_secrets_file(
        avesa_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_PUBLIC_ACME", "acme-public")
    monkeypatch.setenv("CW_PRIVATE_ACME", "acme-private-from-env")
    monkeypatch.setenv("CW_PUBLIC_GLOBEX", "from-env-but-the-secrets-file-wins")
    monkeypatch.setenv("CW_PRIVATE_GLOBEX", "globex-private")
    secrets = tmp_path / "tenants.env"
    secrets.write_text("CW_PUBLIC_GLOBEX=globex-public-from-file\nSN_PASSWORD=sn-pass\n")
    secrets.chmod(0o600)
    file = _write_yaml(tmp_path / "tenants.yaml", [
        {"tenant": "acme", "company_name": "Acme Corp", "services": {
            "connectwise": {"tables": ["service_tickets", "company_companies"], "credentials": _cw("acme"),
                            "rate_limit": {"requests_per_minute": 120, "burst": 20},
                            "schedule": {"incremental": "every 15m"}}}},
        {"tenant": "globex", "company_name": "Globex", "enabled": False, "services": {
            "connectwise": {"credentials": _cw("globex")},
            "servicenow": {"enabled": False, "credentials": {"instance_url": "http://127.0.0.1:9/sn",
                                                             "username": "svc", "password": "secret:SN_PASSWORD"}}}},
        {"tenant": "initech", "company_name": "Initech"},
    ])
    result = runner.invoke(app, ["tenant", "import", str(file), "--secrets-file", str(secrets)])
    assert result.exit_code == 0, result.output
    assert "tenants 3 added" in result.output and "services 3 added" in result.output

    ctx = _ctx(avesa_home)
    assert [(t.tenant_id, t.company_name, t.enabled) for t in ctx.state.list_tenants()] == [
        ("acme", "Acme Corp", True), ("globex", "Globex", False), ("initech", "Initech", True)]
    acme = ctx.state.get_service("acme", "connectwise")
    assert acme.tables == ["service_tickets", "company_companies"]
    assert (acme.rate_limit.requests_per_minute, acme.rate_limit.burst) == (120, 20)
    assert acme.schedule.incremental == "every 15m"
    assert ctx.secrets.get(acme.secret_ref) == {"public_key": "acme-public", "private_key": "acme-private-from-env"}
    assert ctx.secrets.get("avesa/globex/connectwise")["public_key"] == "globex-public-from-file"
    assert ctx.secrets.get("avesa/globex/servicenow") == {"password": "sn-pass"}
    assert not ctx.state.get_service("globex", "servicenow").enabled
    # the registry holds references and settings only
    assert "acme-private-from-env" not in json.dumps([s.model_dump(mode="json") for s in ctx.state.list_services()])

    [summary, *per_tenant] = _audit("--action", "tenant.import")[::-1]
    assert summary["outcome"] == "ok" and summary["details"]["tenants_added"] == 3 and summary["target"] == file.name
    assert {e["tenant"] for e in per_tenant} == {"acme", "globex", "initech"}
    everything = json.dumps(_audit())
    assert "acme-private-from-env" not in everything and "sn-pass" not in everything


def test_csv_with_bad_rows_is_refused_naming_each_line_and_field_and_registers_nothing(
        avesa_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_PRIVATE_OK", "ok-private")
    file = tmp_path / "tenants.csv"
    file.write_text(
        "tenant,company_name,service,tables,api_url,company_id,public_key,private_key,client_id\n"
        "ok,Ok Co,connectwise,service_tickets,http://h/cw,ok,env:CW_PRIVATE_OK,env:CW_PRIVATE_OK,c\n"
        "Bad_Tenant,Bad,connectwise,,http://h/cw,b,env:CW_PRIVATE_OK,env:CW_PRIVATE_OK,c\n"
        "tables,Tables Co,connectwise,service_tickets;no_such_table,http://h/cw,t,env:CW_PRIVATE_OK,"
        "env:CW_PRIVATE_OK,c\n"
        "inline,Inline Co,connectwise,,http://h/cw,i,env:CW_PRIVATE_OK,hunter2-inline,c\n"
        "missing,Missing Co,connectwise,,http://h/cw,m,env:CW_PRIVATE_OK,${CW_PRIVATE_MISSING},c\n"
        "unknown,Unknown Co,jira,,,,,,\n"
        "newco,,connectwise,,http://h/cw,n,env:CW_PRIVATE_OK,env:CW_PRIVATE_OK,c\n")
    result = runner.invoke(app, ["tenant", "import", str(file)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert "tenants.csv: 6 problems, nothing was registered" in lines[0]
    problems = lines[1:]
    assert "line 3 (tenant Bad_Tenant, service connectwise): tenant: invalid tenant id 'Bad_Tenant'" in problems[0]
    assert "line 4" in problems[1] and "tables: unknown table 'no_such_table'" in problems[1]
    assert "line 5" in problems[2] and "private_key is written in the file: reference it instead" in problems[2]
    assert "--allow-inline-secrets" in problems[2] and "hunter2-inline" not in result.output
    assert "line 6" in problems[3] and "${CW_PRIVATE_MISSING} is not set in the environment" in problems[3]
    assert "export CW_PRIVATE_MISSING=" in problems[3]
    assert "line 7" in problems[4] and "unknown service 'jira'" in problems[4]
    assert "line 8" in problems[5] and "tenant newco is new: give its company_name" in problems[5]

    ctx = _ctx(avesa_home)
    assert ctx.state.list_tenants() == [] and ctx.state.list_services() == [] and ctx.secrets.refs() == []
    [refused] = _audit()
    assert (refused["action"], refused["outcome"], refused["target"]) == ("tenant.import", "refused", "tenants.csv")
    assert "6 problem(s)" in refused["message"] and "hunter2-inline" not in json.dumps(refused)

    # the operator opts in for a file that is never committed: the inline secret is accepted
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(file.read_text().splitlines()[0] + "\n" + file.read_text().splitlines()[4] + "\n")
    accepted = runner.invoke(app, ["tenant", "import", str(fixed), "--allow-inline-secrets"])
    assert accepted.exit_code == 0, accepted.output
    assert _ctx(avesa_home).secrets.get("avesa/inline/connectwise")["private_key"] == "hunter2-inline"


def test_reimport_and_export_update_tables_and_keep_stored_credentials(
        avesa_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_PUBLIC_ACME", "pub")
    monkeypatch.setenv("CW_PRIVATE_ACME", "priv-1")
    first = _write_yaml(tmp_path / "a.yaml", [{"tenant": "acme", "company_name": "Acme",
                                               "services": {"connectwise": {"credentials": _cw("acme")}}}])
    assert runner.invoke(app, ["tenant", "import", str(first)]).exit_code == 0

    exported = runner.invoke(app, ["tenant", "export"])
    assert exported.exit_code == 0 and "priv-1" not in exported.stdout and "pub" not in exported.stdout.split(
        "tenants:")[1]
    data = yaml.safe_load(exported.stdout)
    service = data["tenants"][0]["services"]["connectwise"]
    assert service["credentials"] == {"api_url": "http://127.0.0.1:9/cw", "company_id": "acme", "client_id": "client"}
    # edit the export: another table, a new company name; import it without any credential
    service["tables"] = ["service_tickets", "time_entries"]
    data["tenants"][0]["company_name"] = "Acme Corporation"
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("CW_PRIVATE_ACME")
    again = runner.invoke(app, ["tenant", "import", str(edited)])
    assert again.exit_code == 0, again.output
    assert "tenants 0 added, 1 updated" in again.output and "services 0 added, 1 updated" in again.output
    ctx = _ctx(avesa_home)
    assert ctx.state.get_tenant("acme").company_name == "Acme Corporation"
    assert ctx.state.get_service("acme", "connectwise").tables == ["service_tickets", "time_entries"]
    assert ctx.secrets.get("avesa/acme/connectwise") == {"public_key": "pub", "private_key": "priv-1"}
    unchanged = runner.invoke(app, ["tenant", "import", str(edited)])
    assert "tenants 0 added, 0 updated, 1 unchanged" in unchanged.output

    # CSV export with references re-imports into a fresh home once the variables are set
    csv_export = runner.invoke(app, ["tenant", "export", "--format", "csv", "--references"])
    assert "${CONNECTWISE_PRIVATE_KEY_ACME}" in csv_export.stdout and "priv-1" not in csv_export.stdout
    (tmp_path / "all.csv").write_text(csv_export.stdout)
    (tmp_path / "other-home").mkdir()  # a home is made by `avesa init` (or exists), never by a command
    monkeypatch.setenv("AVESA_HOME", str(tmp_path / "other-home"))
    monkeypatch.setenv("CONNECTWISE_PRIVATE_KEY_ACME", "priv-2")
    monkeypatch.setenv("CONNECTWISE_PUBLIC_KEY_ACME", "pub-2")
    moved = runner.invoke(app, ["tenant", "import", str(tmp_path / "all.csv")])
    assert moved.exit_code == 0, moved.output
    other = _ctx(tmp_path / "other-home")
    assert other.state.get_service("acme", "connectwise").tables == ["service_tickets", "time_entries"]
    assert other.secrets.get("avesa/acme/connectwise") == {"public_key": "pub-2", "private_key": "priv-2"}


def test_a_failed_registry_write_puts_the_credentials_back(avesa_home: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_PUBLIC_ACME", "pub")
    monkeypatch.setenv("CW_PRIVATE_ACME", "old")
    ctx = _ctx(avesa_home)
    refs = References(environ={"CW_PUBLIC_ACME": "pub", "CW_PRIVATE_ACME": "old"})
    first = _write_yaml(tmp_path / "a.yaml", [{"tenant": "acme", "company_name": "Acme",
                                               "services": {"connectwise": {"credentials": _cw("acme")}}}])
    onboarding.apply_import(ctx, onboarding.plan_import(ctx, first, refs))
    both = _write_yaml(tmp_path / "b.yaml", [
        {"tenant": "acme", "services": {"connectwise": {"credentials": {"private_key": "env:CW_PRIVATE_ACME"}}}},
        {"tenant": "beta", "company_name": "Beta", "services": {"connectwise": {"credentials": _cw("beta")}}}])
    plan = onboarding.plan_import(ctx, both, References(environ={"CW_PRIVATE_ACME": "new", "CW_PUBLIC_BETA": "b",
                                                                 "CW_PRIVATE_BETA": "b"}))
    assert set(plan.secrets) == {"avesa/acme/connectwise", "avesa/beta/connectwise"}

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ctx.state, "apply_registry", refuse)
    with pytest.raises(OSError):
        onboarding.apply_import(ctx, plan)
    assert ctx.secrets.get("avesa/acme/connectwise")["private_key"] == "old"
    assert ctx.secrets.refs() == ["avesa/acme/connectwise"]
    assert [t.tenant_id for t in ctx.state.list_tenants()] == ["acme"]
    assert ctx.state.list_audit(limit=1)[0].outcome == "failed"


def test_secrets_file_open_to_others_is_refused(avesa_home: Path, tmp_path: Path) -> None:
    secrets = tmp_path / "s.env"
    secrets.write_text("X=1\n")
    secrets.chmod(0o644)
    file = _write_yaml(tmp_path / "a.yaml", [{"tenant": "acme", "company_name": "Acme"}])
    result = runner.invoke(app, ["tenant", "import", str(file), "--secrets-file", str(secrets)])
    assert result.exit_code == 2 and f"chmod 600 {secrets}" in result.stderr


def test_imported_credentials_sync_a_tenant_from_the_sandbox(sandbox_admin: SandboxAdmin, new_instance,
                                                              avesa_home: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    name = new_instance("imp")
    credentials = sandbox_credentials(sandbox_admin, name)
    monkeypatch.setenv("SANDBOX_PRIVATE", credentials["private_key"])
    monkeypatch.setenv("SANDBOX_PUBLIC", credentials["public_key"])
    file = _write_yaml(tmp_path / "t.yaml", [{"tenant": name, "company_name": "Imported", "services": {
        "connectwise": {"tables": ["service_tickets"], "credentials": {
            **credentials, "private_key": "${SANDBOX_PRIVATE}", "public_key": "env:SANDBOX_PUBLIC"}}}}])
    assert runner.invoke(app, ["tenant", "import", str(file)]).exit_code == 0
    ran = runner.invoke(app, ["run", "--tenant", name])
    assert ran.exit_code == 0, ran.output
    tickets = len(sandbox_admin.record_ids(name, "service/tickets"))
    [tr] = _ctx(avesa_home).state.list_table_runs(tenant_id=name)
    assert (tr.status, tr.records) == ("complete", tickets)


def test_remove_disable_enable_and_tables_change_the_registry_and_are_audited(
        avesa_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tenant in ("acme", "beta"):
        monkeypatch.setenv(f"CW_PUBLIC_{tenant.upper()}", "pub")
        monkeypatch.setenv(f"CW_PRIVATE_{tenant.upper()}", f"{tenant}-private")
    file = _write_yaml(tmp_path / "t.yaml", [
        {"tenant": t, "company_name": t.title(), "services": {"connectwise": {"credentials": _cw(t)}}}
        for t in ("acme", "beta")])
    assert runner.invoke(app, ["tenant", "import", str(file)]).exit_code == 0
    lake_file = avesa_home / "lake" / "acme" / "raw" / "kept.parquet"
    lake_file.parent.mkdir(parents=True)
    lake_file.write_bytes(b"data")

    tables = runner.invoke(app, ["service", "tables", "--tenant", "acme", "--service", "connectwise",
                                 "--add", "time_entries", "--remove", "service_tickets"])
    assert tables.exit_code == 0, tables.output
    ctx = _ctx(avesa_home)
    assert "service_tickets" not in ctx.state.get_service("acme", "connectwise").tables
    assert "time_entries" in ctx.state.get_service("acme", "connectwise").tables
    assert ctx.secrets.get("avesa/acme/connectwise")["private_key"] == "acme-private"  # untouched
    bad = runner.invoke(app, ["service", "tables", "--tenant-id", "acme", "--service", "connectwise", "nope"])
    assert bad.exit_code == 2 and "unknown table 'nope'" in bad.stderr

    assert runner.invoke(app, ["service", "disable", "--tenant", "beta", "--service", "connectwise"]).exit_code == 0
    assert not _ctx(avesa_home).state.get_service("beta", "connectwise").enabled
    assert runner.invoke(app, ["service", "enable", "--tenant", "beta", "--service", "connectwise"]).exit_code == 0
    assert _ctx(avesa_home).state.get_service("beta", "connectwise").enabled

    unconfirmed = runner.invoke(app, ["tenant", "remove", "acme"])
    assert unconfirmed.exit_code == 2 and "--yes" in unconfirmed.stderr and "stays" in unconfirmed.stderr
    assert _ctx(avesa_home).state.get_tenant("acme") is not None
    removed = runner.invoke(app, ["tenant", "remove", "acme", "--yes"])
    assert removed.exit_code == 0, removed.output
    assert "data stays in the lake" in removed.output
    ctx = _ctx(avesa_home)
    assert ctx.state.get_tenant("acme") is None and ctx.state.list_services("acme") == []
    assert ctx.secrets.refs() == ["avesa/beta/connectwise"]
    assert lake_file.read_bytes() == b"data"  # the lake data stays

    assert runner.invoke(app, ["service", "remove", "--tenant", "beta", "--service", "connectwise"]).exit_code == 2
    assert runner.invoke(app, ["service", "remove", "--tenant", "beta", "--service", "connectwise",
                               "--yes"]).exit_code == 0
    assert _ctx(avesa_home).secrets.refs() == []

    entries = _audit()
    actions = [(e["action"], e["tenant"], e["outcome"]) for e in entries if e["action"] != "tenant.import"]
    assert actions == [("service.remove", "beta", "ok"), ("tenant.remove", "acme", "ok"),
                       ("service.enable", "beta", "ok"), ("service.disable", "beta", "ok"),
                       ("service.tables", "acme", "refused"), ("service.tables", "acme", "ok")]
    by_action = {(e["action"], e["outcome"]): e for e in entries}
    changed = by_action[("service.tables", "ok")]["details"]
    assert "service_tickets" in changed["before"] and "service_tickets" not in changed["after"]
    assert "time_entries" in changed["after"]
    assert "unknown table 'nope'" in by_action[("service.tables", "refused")]["message"]
    assert by_action[("tenant.remove", "ok")]["details"]["lake_data"] == "kept"
    assert all(e["actor"] for e in entries)
    assert "acme-private" not in json.dumps(entries)
    acme_only = _audit("--tenant", "acme", "--action", "service")
    assert [e["action"] for e in acme_only] == ["service.tables", "service.tables"]


@pytest.mark.slow
def test_two_hundred_tenants_import_in_seconds(avesa_home: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "s.env"
    secrets.write_text("".join(f"CW_PRIVATE_T{i:03d}=private-{i}\n" for i in range(200)))
    secrets.chmod(0o600)
    file = tmp_path / "200.csv"
    header = "tenant,company_name,service,tables,api_url,company_id,public_key,private_key,client_id\n"
    file.write_text(header + "".join(
        f"t-{i:03d},Company {i},connectwise,service_tickets,http://h/cw,c{i},${{CW_PRIVATE_T{i:03d}}},"
        f"${{CW_PRIVATE_T{i:03d}}},client\n" for i in range(200)))
    started = time.perf_counter()
    result = runner.invoke(app, ["tenant", "import", str(file), "--secrets-file", str(secrets)])
    seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    ctx = _ctx(avesa_home)
    assert len(ctx.state.list_tenants()) == 200 and len(ctx.secrets.refs()) == 200
    assert ctx.secrets.get("avesa/t-199/connectwise")["private_key"] == "private-199"
    assert seconds < 10, f"200 tenants took {seconds:.1f}s"
    assert "200 more" not in result.output and "180 more changed tenants" in result.output
