"""Secrets a source sends back never reach the ledger, the log, the terminal or the lake: a 400 that
echoes the request's credentials, a record without id holding a deny-listed field, a URL typed with
user:password@. The `avesa` command as a user types it, against the sandbox over real HTTP."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from avesa.cli.app import app
from avesa.domain.redaction import MASK
from avesa.domain.url_credentials import DOTS
from avesa_sandbox import SandboxAdmin
from tests.conftest import sandbox_credentials

runner = CliRunner()
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-service.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\s*```json\n(?P<body>.*?)```", re.S)


def squash(output: str) -> str:
    """Printed text with whitespace and table borders dropped: rich folds a long cell over several
    lines, and a secret split by a fold is still printed."""
    return re.sub(r"[\s\u2500-\u257f]+", "", output)


def _stored_bytes(home: Path) -> dict[str, bytes]:
    """Every file AVESA wrote under its home — the ledger (with its WAL), the log, the lake — except
    the encrypted secret store and its key, which are where credentials belong."""
    return {str(p.relative_to(home)): p.read_bytes() for p in home.rglob("*")
            if p.is_file() and p.name not in ("secrets.enc", "secret.key")}


def _assert_nowhere(secrets: Iterable[str], home: Path, outputs: Iterable[Result]) -> None:
    stored = _stored_bytes(home)
    assert any(name.startswith("state.sqlite3") for name in stored) and "logs/avesa.jsonl" in stored
    printed = [squash(r.output) for r in outputs]
    for secret in secrets:
        assert len(secret) >= 8, "a short value could match by chance"
        leaked = [name for name, data in stored.items() if secret.encode() in data]
        assert not leaked, f"{secret!r} in {leaked}"
        assert not any(secret in text for text in printed), f"{secret!r} printed"


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_400_that_echoes_the_credentials_is_masked_everywhere(sandbox_admin: SandboxAdmin, new_instance,
                                                                 avesa_home: Path) -> None:
    name = new_instance("echo")
    creds = sandbox_credentials(sandbox_admin, name)
    env = {f"CONNECTWISE_{k.upper()}": v for k, v in creds.items()}
    added = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Echo Co", "--service",
                                "connectwise", "--tables", "service_tickets"], env=env)
    assert added.exit_code == 0, added.output
    sandbox_admin.add_fault(name, "400-echo", table="tickets", count=5)

    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 1, ran.output
    assert "HTTP400" in squash(ran.output) and MASK in squash(ran.output)  # the error still says what happened
    log = [json.loads(line) for line in (avesa_home / "logs" / "avesa.jsonl").read_text().splitlines()]
    failed = [e for e in log if e.get("event") == "table_finished" and e.get("status") == "failed"]
    assert failed and "HTTP 400" in failed[0]["error"] and MASK in failed[0]["error"]

    run_id = next(e["run_id"] for e in log if e.get("event") == "run_finished")
    shown = runner.invoke(app, ["jobs", "show", run_id])
    status = runner.invoke(app, ["status"])
    assert shown.exit_code == 0 and status.exit_code == 0, shown.output + status.output
    header = _basic(f"{creds['company_id']}+{creds['public_key']}", creds["private_key"])
    _assert_nowhere([creds["private_key"], creds["public_key"], header], avesa_home, [added, ran, shown, status])


def _helpdesk_catalog(root: Path, spec_changes: dict) -> Path:
    """The guide's Acme Helpdesk catalog (docs/adding-a-service.md), its spec changed as given."""
    for relative, body in ((m["path"], m["body"]) for m in FILE_BLOCK.finditer(GUIDE.read_text())):
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith("services/helpdesk.json"):
            body = json.dumps({**json.loads(body), **spec_changes})
        target.write_text(body)
    return root / "my-catalog"


URL_KEY_SPEC = {
    "docs": "An Acme Helpdesk reached by a URL that carries the API key as its password.",
    "credentials": [{"name": "api_url", "secret": False, "description": "https://name:<api key>@your-site"}],
    "auth": {"type": "none"},
    "sensitive_fields": ["phone", "mobile"],
}


def _contact_with_a_phone(sandbox_admin: SandboxAdmin, name: str) -> dict:
    """The first contact holding a phone or mobile: generated contacts leave either empty at random."""
    for record_id in sorted(sandbox_admin.record_ids(name, "contacts")):
        contact = sandbox_admin.get_record(name, "contacts", record_id)
        if contact.get("phone") or contact.get("mobile"):
            return contact
    raise AssertionError(f"no contact of {name} has a phone or a mobile")


def test_a_password_in_a_url_is_kept_out_of_the_registry_and_put_back_for_the_calls(
        tmp_path: Path, sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVESA_CATALOG_PATH", str(_helpdesk_catalog(tmp_path, URL_KEY_SPEC)))
    name = new_instance("urlkey", service="helpdesk")
    real = sandbox_admin.connection(name)
    key, root = real["api_key"], real["api_url"]
    url = root.replace("http://", f"http://integration:{key}@")
    added = runner.invoke(app, ["service", "add", "--tenant-id", "acme", "--company-name", "Acme", "--service",
                                "helpdesk"], env={"HELPDESK_API_URL": url})
    assert added.exit_code == 0, added.output
    assert root.replace("http://", f"http://integration:{DOTS}@") in added.output
    listed = runner.invoke(app, ["service", "list"])
    assert root.replace("http://", "http://integration@") in listed.output

    # the calls carry the key (the sandbox refuses them otherwise) and what the source sends back of it
    # — a 400 quoting the request's Basic header, a contact without id holding a deny-listed field — is masked
    first_contact = _contact_with_a_phone(sandbox_admin, name)
    sandbox_admin.add_fault(name, "400-echo", table="companies", count=5)
    sandbox_admin.add_fault(name, "record-without-id", table="contacts", count=5)
    ran = runner.invoke(app, ["run"])
    assert ran.exit_code == 1, ran.output
    assert "acme/helpdesk/tickets" in ran.output and "ok" in ran.output
    assert all(part in squash(ran.output) for part in ("HTTP400", "arecordwithoutid", MASK))
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    private = [first_contact[f] for f in ("phone", "mobile") if first_contact.get(f)]
    assert private
    _assert_nowhere([key, _basic("integration", key), *private], avesa_home, [added, listed, ran, status])


def test_a_url_with_a_password_for_a_service_that_takes_credentials_elsewhere_is_refused(
        sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path) -> None:
    name = new_instance("urlpw")
    env = {f"CONNECTWISE_{k.upper()}": v for k, v in sandbox_credentials(sandbox_admin, name).items()}
    env["CONNECTWISE_API_URL"] = env["CONNECTWISE_API_URL"].replace("http://", "http://admin:Hunter2-Hunter2@")
    refused = runner.invoke(app, ["service", "add", "--tenant-id", name, "--company-name", "Pw Co", "--service",
                                  "connectwise"], env=env)
    assert refused.exit_code == 2
    assert "takes its credentials in private_key, public_key" in refused.output
    assert f"admin:{DOTS}@" in refused.output and "without `user:password@`" in refused.output
    assert "Hunter2-Hunter2" not in refused.output
    assert runner.invoke(app, ["service", "list"]).output.count(name) == 0
