"""docs/adding-a-service.md, done exactly as it says: its files written from the page itself, its
commands run as a user types them, against the sandbox's Acme Helpdesk."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avesa.cli.app import app
from avesa.cli.ground_truth import check_tenant
from avesa.settings import Settings
from avesa_sandbox import SandboxAdmin

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "adding-a-service.md"
FILE_BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\s*```json\n(?P<body>.*?)```", re.S)
COMMANDS = re.compile(r"<!-- commands -->\s*```bash\n(?P<body>.*?)```", re.S)
runner = CliRunner()


def _files(text: str) -> dict[str, str]:
    return {m["path"]: m["body"] for m in FILE_BLOCK.finditer(text)}


def _commands(text: str) -> list[str]:
    match = COMMANDS.search(text)
    assert match, "the guide's commands block is missing"
    return [line.strip() for line in match["body"].splitlines() if line.strip()]


def test_the_guide_adds_a_fifth_service_with_two_kinds_of_json_file(
        tmp_path: Path, sandbox_admin: SandboxAdmin, new_instance, avesa_home: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    text = GUIDE.read_text()
    files = _files(text)
    assert "my-catalog/services/helpdesk.json" in files and len(files) == 5
    for relative, body in files.items():
        target = tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)

    instance = new_instance("guide", scale="tiny", service="helpdesk")
    real = sandbox_admin.connection(instance)  # what the user reads from the helpdesk's settings page
    monkeypatch.chdir(tmp_path)
    for line in _commands(text):
        words = shlex.split(line)
        if words[0] == "export":
            name, value = words[1].split("=", 1)
            value = value.replace("$PWD", str(tmp_path))
            value = {"HELPDESK_API_URL": real["api_url"], "HELPDESK_API_KEY": real["api_key"]}.get(name, value)
            monkeypatch.setenv(name, value)
            continue
        assert words[0] == "avesa", line
        result = runner.invoke(app, words[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"
        if words[1] == "query":
            assert "helpdesk" in result.output

    ctx_settings = Settings()
    assert ctx_settings.catalog_path == tmp_path / "my-catalog"
    from avesa.pipeline.context import PipelineContext

    ctx = PipelineContext.from_settings(ctx_settings)
    checks = check_tenant(ctx, sandbox_admin, "acme", instance, "helpdesk")
    assert {c.canonical_table for c in checks} == {"companies", "contacts", "tickets", "time_entries"}
    assert all(c.ok and c.source_rows > 0 for c in checks), checks


def test_the_guides_refusals_are_what_the_catalog_says(tmp_path: Path) -> None:
    """The error messages section quotes the catalog: each quoted refusal is produced by a small change."""
    from avesa.catalog.loader import load_catalog
    from avesa.domain.errors import ConfigError

    text = GUIDE.read_text()

    def catalog_folder(name: str) -> Path:
        root = tmp_path / name
        for relative, body in _files(text).items():
            target = root / relative.removeprefix("my-catalog/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
        return root

    load_catalog(catalog_folder("as-written"))
    typo = catalog_folder("typo")
    tickets = typo / "mappings" / "helpdesk" / "tickets.json"
    tickets.write_text(tickets.read_text().replace('"owner_id": "assignee.id"', '"owner_id": "assigned_to"'))
    with pytest.raises(ConfigError, match=r"reads field\(s\) \['assigned_to'\] that service helpdesk table tickets"):
        load_catalog(typo)
    undeclared = catalog_folder("template")
    spec = undeclared / "services" / "helpdesk.json"
    spec.write_text(spec.read_text().replace('"{api_url}/api/v2"', '"{api_url}/{region}/api/v2"'))
    with pytest.raises(ConfigError, match=r"use \{region\} but credentials declare only api_key, api_url"):
        load_catalog(undeclared)
