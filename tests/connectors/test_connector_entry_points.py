"""A connector class of a user's own package runs without editing AVESA: the package registers it
under the `avesa.connectors` entry points, a spec in AVESA_CATALOG_PATH names it, and a sync
against the sandbox's Acme Helpdesk goes through it. The package here is installed the way pip
leaves one — its code and a `.dist-info` folder with `entry_points.txt` on the path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.factory import ENTRY_POINT_GROUP, connector_class
from avesa.domain.errors import ConfigError
from avesa.pipeline.context import PipelineContext
from avesa.settings import Settings
from tests.catalog.test_adding_a_service_guide import GUIDE, _files
from tests.pipeline.helpers import sync

CONNECTOR = '''
from avesa.connectors.rest import RestConnector

PAGES: list[str] = []


class HelpdeskConnector(RestConnector):
    """The spec's connector, plus a note of every page it read."""

    async def pages(self, table, start, end, after_id):
        async for page in super().pages(table, start, end, after_id):
            PAGES.append(table)
            yield page
'''


def _install(site: Path, entries: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A package `acme_avesa` as pip installs it: its module and its dist-info on sys.path."""
    (site / "acme_avesa").mkdir(parents=True)
    (site / "acme_avesa" / "__init__.py").write_text("")
    (site / "acme_avesa" / "connector.py").write_text(textwrap.dedent(CONNECTOR))
    info = site / "acme_avesa-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-avesa\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    monkeypatch.syspath_prepend(str(site))


def _catalog(root: Path, connector: str) -> Path:
    """The guide's Acme Helpdesk catalog, its spec naming `connector`."""
    for relative, body in _files(GUIDE.read_text()).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith("services/helpdesk.json"):
            spec = json.loads(body)
            spec["connector"] = connector
            body = json.dumps(spec)
        target.write_text(body)
    return root / "my-catalog"


def test_a_connector_registered_by_another_package_runs_a_sync(
        tmp_path: Path, sandbox_admin, new_instance, avesa_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path / "site", {"acme_helpdesk": "acme_avesa.connector:HelpdeskConnector"}, monkeypatch)
    catalog = _catalog(tmp_path, "acme_helpdesk")
    instance = new_instance("plugin", scale="tiny", service="helpdesk")
    ctx = PipelineContext.from_settings(Settings(home=avesa_home, catalog_path=catalog))
    from avesa.pipeline.registration import register_service

    register_service(ctx, tenant_id="acme", service="helpdesk", credentials=sandbox_admin.connection(instance),
                     company_name="Acme")
    summary = sync(PipelineContext.from_settings(Settings(home=avesa_home, catalog_path=catalog)), tenant_id="acme")
    assert not summary.failed and summary.records > 0

    from acme_avesa import connector  # the user's module, as the pipeline imported it

    assert set(connector.PAGES) == {"companies", "contacts", "tickets", "time_entries"}


def test_a_built_in_name_is_never_replaced_by_another_package(tmp_path: Path, monkeypatch) -> None:
    _install(tmp_path / "site", {"connectwise": "acme_avesa.connector:HelpdeskConnector"}, monkeypatch)
    assert connector_class("connectwise").__module__ == "avesa.connectors.connectwise"


@pytest.mark.parametrize(("entries", "says"), [
    ({}, ("no connector implementation 'acme_helpdesk'; built in: connectwise, microsoft365, rest, salesforce, "
         "servicenow")),
    ({"acme_helpdesk": "acme_avesa.missing:Connector"},
     "connector 'acme_helpdesk' (acme_avesa.missing:Connector) could not be imported: ModuleNotFoundError"),
    ({"acme_helpdesk": "acme_avesa.connector:PAGES"},
     "connector 'acme_helpdesk' (acme_avesa.connector:PAGES) is not a connector class"),
])
def test_a_connector_that_cannot_be_had_is_one_clear_error(
        entries: dict[str, str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install(tmp_path / "site", entries, monkeypatch)
    with pytest.raises(ConfigError, match=None) as refused:
        connector_class("acme_helpdesk")
    assert says in str(refused.value)


def test_scd_type_in_a_canonical_table_says_history_is_always_kept(tmp_path: Path) -> None:
    catalog = _catalog(tmp_path, "rest")
    (catalog / "canonical").mkdir(exist_ok=True)
    table = {"canonical_table": "assets", "scd_type": 1, "columns": [{"name": "name", "type": "string"}]}
    (catalog / "canonical" / "assets.json").write_text(json.dumps(table))
    with pytest.raises(ConfigError, match="every canonical table keeps full SCD Type 2 history"):
        load_catalog(catalog)
