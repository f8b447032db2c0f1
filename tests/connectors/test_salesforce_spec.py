"""The Salesforce spec, mappings and SOQL text: generated from the reference schema, mapped as the
canonical model says, and configuration mistakes refused before any request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.salesforce import SalesforceConnector, connector_spec, normalize_login_url
from avesa.connectors.salesforce_soql import ObjectQueries, soql_datetime
from avesa.domain.errors import ConfigError
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.pipeline.registration import split_credentials
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox import SandboxAdmin
from tests.connectors.test_salesforce import sf_instance  # noqa: F401 (fixture)

SPEC = load_catalog().service("salesforce")
REFERENCE = json.loads((resources.files("avesa_sandbox.salesforce") / "sobjects-subset.json").read_text())["objects"]


def test_table_fields_are_the_reference_schema_fields() -> None:
    """salesforce.json's field lists were generated from the reference schema: every field of the
    object in describe order, without ``attributes`` (every record has it; SOQL cannot select it)."""
    assert list(SPEC.tables) == ["Account", "Contact", "Case", "Opportunity", "Lead", "Task", "Event", "User"]
    for name, table in SPEC.tables.items():
        reference = [f["name"] for f in REFERENCE[name]["fields"] if f["name"] != "attributes"]
        assert table.fields == reference, name
        assert (table.path, table.id_field, table.change_field, table.sync) == (name, "Id", "SystemModstamp", "window")
        assert table.deleted_field == ("IsDeleted" if "IsDeleted" in reference else None), name
    assert SPEC.table("User").deleted_field is None
    assert SPEC.default_tables == ["Account", "Contact", "Case"]
    assert {t: SPEC.table(t).canonical for t in SPEC.default_tables} == {
        "Account": "companies", "Contact": "contacts", "Case": "tickets"}
    assert (SPEC.backfill.lookback_days, SPEC.backfill.window_days) == (1095, 7)
    assert (SPEC.page_size_max, SPEC.rate_limit.requests_per_minute) == (2000, 1000)


@pytest.mark.parametrize(("table", "expected"), [
    ("Account", {"company_name": "Name", "city": "BillingCity", "annual_revenue": "AnnualRevenue",
                 "number_of_employees": "NumberOfEmployees"}),
    ("Contact", {"company_id": "AccountId", "last_name": "LastName", "default_email_address": "Email",
                 "zip": "MailingPostalCode"}),
    ("Case", {"ticket_number": "CaseNumber", "summary": "Subject", "contact_id": "ContactId",
              "created_date": "CreatedDate", "closed_date": "ClosedDate"}),
])
def test_mappings_read_the_served_records_as_the_canonical_model_says(
        sandbox_admin: SandboxAdmin, sf_instance: Callable[..., str],  # noqa: F811
        table: str, expected: dict[str, str]) -> None:
    catalog = load_catalog()
    mapping = catalog.mapping("salesforce", table)
    assert mapping is not None and (mapping.id, mapping.last_updated) == ("Id", "SystemModstamp")
    compiled = CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))
    entries = [e for e in sandbox_admin.changes(sf_instance(), table=table) if e["op"] != "delete"][:25]
    rows = compiled.to_versions(
        [(e["id"], parse_utc(e["last_updated"]), orjson.dumps(e["record"]).decode()) for e in entries],
        tenant_id="t", run_id="r", loaded_at=utc_now()).to_pylist()
    for entry, row in zip(entries, rows, strict=True):
        record = entry["record"]
        assert row["id"] == row["source_id"] == record["Id"]
        assert row["last_updated"] == parse_utc(record["SystemModstamp"])
        assert row["last_updated_by"] == record["LastModifiedById"]
        for column, field in expected.items():
            value = record[field]
            if column.endswith("_date") and value is not None:
                value = parse_utc(value)
            assert row[column] == value, (column, field)
    assert any(row[c] is not None for row in rows for c in expected)


def test_bounds_are_written_unquoted_and_rounded_up_to_the_millisecond() -> None:
    assert soql_datetime(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05.000Z"
    assert soql_datetime(datetime(2024, 1, 2, 3, 4, 5, 7000, tzinfo=UTC)) == "2024-01-02T03:04:05.007Z"
    assert soql_datetime(datetime(2024, 1, 2, 3, 4, 5, 7001, tzinfo=UTC)) == "2024-01-02T03:04:05.008Z"
    assert soql_datetime(datetime(2024, 1, 2, 3, 4, 59, 999_500, tzinfo=UTC)) == "2024-01-02T03:05:00.000Z"
    q = ObjectQueries.for_table(SPEC.table("Case"))
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 8, tzinfo=UTC)
    assert q.page(["Id", "Subject"], start, end, "5005g000000b3QWAAY", 500) == (
        "SELECT Id, Subject FROM Case WHERE SystemModstamp >= 2024-01-01T00:00:00.000Z AND "
        "SystemModstamp < 2024-01-08T00:00:00.000Z AND Id > '5005g000000b3QWAAY' ORDER BY Id ASC LIMIT 500")
    assert q.earliest(None, end) == ("SELECT Id, SystemModstamp FROM Case WHERE SystemModstamp < "
                                     "2024-01-08T00:00:00.000Z ORDER BY SystemModstamp ASC, Id ASC LIMIT 1")
    assert q.count(start, None) == "SELECT COUNT() FROM Case WHERE SystemModstamp >= 2024-01-01T00:00:00.000Z"
    assert q.ids(None, 2000) == "SELECT Id FROM Case WHERE IsDeleted = false ORDER BY Id ASC LIMIT 2000"
    assert ObjectQueries.for_table(SPEC.table("User")).ids("0055g000000HCb6AAG", 2000) == (
        "SELECT Id FROM User WHERE Id > '0055g000000HCb6AAG' ORDER BY Id ASC LIMIT 2000")
    with pytest.raises(ValueError, match="not a Salesforce id"):
        q.page(["Id"], start, end, "' OR Id != '", 10)


def test_the_base_url_is_cut_to_the_login_root_and_queries_ask_for_whole_pages() -> None:
    spec, api_path = connector_spec(SPEC, "t/salesforce")
    assert (spec.base_url, api_path) == ("{login_url}", "services/data/v59.0/")
    assert spec.auth.headers == {"Sforce-Query-Options": "batchSize=2000"}
    assert spec.auth.instance_url_field == "instance_url"
    for bad in ("https://login.salesforce.com/services/data/v59.0", "{login_url}/services/apexrest/x"):
        with pytest.raises(ConfigError, match="base_url must be"):
            connector_spec(SPEC.model_copy(update={"base_url": bad}), "t/salesforce")


def _build(credentials: dict[str, str], spec=SPEC) -> SalesforceConnector:  # type: ignore[no-untyped-def]
    return SalesforceConnector(spec=spec, credentials=credentials, tenant_id="acme",
                               budget=RateBudget(requests_per_minute=100, burst=10), options=HttpOptions())


def test_login_urls_are_normalized_and_credentials_split() -> None:
    assert normalize_login_url(" acme.my.salesforce.com/ ") == "https://acme.my.salesforce.com"
    assert normalize_login_url("http://127.0.0.1:8000/salesforce/x/") == "http://127.0.0.1:8000/salesforce/x"
    conn = _build({"login_url": "acme.my.salesforce.com/", "client_id": "c", "client_secret": "s"})
    assert conn.base_url == "https://acme.my.salesforce.com/"
    asyncio.run(conn.aclose())
    settings, secrets = split_credentials(SPEC, {"login_url": "https://acme.my.salesforce.com", "client_id": "c",
                                                 "client_secret": "s"})
    assert settings == {"login_url": "https://acme.my.salesforce.com", "client_id": "c"}
    assert secrets == {"client_secret": "s"}
    with pytest.raises(ConfigError, match="missing credential fields \\['client_secret'\\]"):
        _build({"login_url": "https://acme.my.salesforce.com", "client_id": "c"})


def test_a_name_soql_could_misread_is_refused_before_any_request() -> None:
    data = json.loads(SPEC.model_dump_json())
    data["tables"]["Case"]["fields"].append("Subject FROM Account --")
    with pytest.raises(ConfigError, match="not SOQL names"):
        _build({"login_url": "https://x.my.salesforce.com", "client_id": "c", "client_secret": "s"},
               type(SPEC).model_validate(data))
