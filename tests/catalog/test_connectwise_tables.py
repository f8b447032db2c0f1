"""The ConnectWise spec's tables agree with the OpenAPI subset and with what the sandbox serves."""

from __future__ import annotations

from avesa.catalog.loader import load_catalog
from avesa_sandbox.connectwise.schema import component
from avesa_sandbox.connectwise.tables import TABLES

ADDED = {
    "company_configurations": "company/configurations",
    "sales_opportunities": "sales/opportunities",
    "project_tickets": "project/tickets",
    "schedule_entries": "schedule/entries",
    "service_boards": "service/boards",
}


def test_the_five_added_tables_are_optional_incremental_and_unmapped() -> None:
    catalog = load_catalog()
    spec = catalog.service("connectwise")
    for name, path in ADDED.items():
        table = spec.table(name)
        assert table.path == path
        assert (table.id_field, table.change_field, table.sync) == ("id", "_info/lastUpdated", "window")
        assert table.enabled_by_default is False and table.canonical is None
        # project tickets would share the canonical tickets key (source_service, source_id) with
        # service tickets; nothing guarantees their ids never overlap, so they stay raw-only
        assert catalog.mapping("connectwise", name) is None
    assert spec.default_tables == ["service_tickets", "time_entries", "company_companies", "company_contacts"]


def test_every_connectwise_table_lists_its_schemas_top_level_fields_and_is_served() -> None:
    spec = load_catalog().service("connectwise")
    assert {t.path for t in spec.tables.values()} == set(TABLES)
    for name, table in spec.tables.items():
        assert table.fields == list(component(TABLES[table.path].schema)["properties"]), name
