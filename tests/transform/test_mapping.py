from datetime import UTC, datetime

import orjson

from avesa.catalog.loader import load_catalog
from avesa.catalog.models import CanonicalColumn, CanonicalTable, Mapping
from avesa.transform.mapping import CompiledMapping

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def _compiled(source_table: str) -> CompiledMapping:
    catalog = load_catalog()
    mapping = catalog.mapping("connectwise", source_table)
    return CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))


def test_contact_mapping_follows_references_and_picks_the_default_email() -> None:
    record = {
        "id": 7, "firstName": "Ada", "lastName": "Lovelace", "company": {"id": 250, "name": "Acme"},
        "department": {"id": 1, "name": "IT"}, "types": [{"id": 3, "name": "Client"}], "inactiveFlag": False,
        "communicationItems": [
            {"type": {"id": 1, "name": "Email"}, "communicationType": "Email", "value": "old@x", "defaultFlag": False},
            {"type": {"id": 1, "name": "Email"}, "communicationType": "Email", "value": "ada@x", "defaultFlag": True},
        ],
        "_info": {"lastUpdated": "2025-03-01T12:00:00Z", "updatedBy": "jdoe"},
        "portalPassword": "hunter2",
    }
    versions = _compiled("company_contacts").to_versions(
        [("7", T, orjson.dumps(record).decode())], tenant_id="acme", run_id="r", loaded_at=T
    )
    row = versions.to_pylist()[0]
    assert row["source_id"] == "7" and row["id"] == "7"
    assert row["company_id"] == "250" and row["company_name"] == "Acme"
    assert row["default_email_address"] == "ada@x"
    assert row["type"] == "Client" and row["department"] == "IT"
    assert row["inactive_flag"] is False
    assert row["last_updated"] == T and row["last_updated_by"] == "jdoe"
    assert "portalPassword" not in versions.column_names and "hunter2" not in str(row)


def test_types_are_normalised_and_bad_values_become_null() -> None:
    record = {"id": 1, "name": "Acme", "identifier": "ACME", "annualRevenue": "12.5", "numberOfEmployees": "x",
              "dateAcquired": "2020-01-02T03:04:05Z", "types": [{"name": "Customer"}],
              "_info": {"lastUpdated": "2025-03-01T12:00:00Z"}}
    row = _compiled("company_companies").to_versions(
        [("1", T, orjson.dumps(record).decode())], tenant_id="acme", run_id="r", loaded_at=T
    ).to_pylist()[0]
    assert row["annual_revenue"] == 12.5
    assert row["number_of_employees"] is None
    assert row["date_acquired"] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert row["company_type"] == "Customer"  # falls back from type.name to types[0].name


def test_negated_flags_and_empty_text_become_canonical_values() -> None:
    canonical = CanonicalTable(canonical_table="contacts", columns=[
        CanonicalColumn(name="id", type="string"), CanonicalColumn(name="inactive_flag", type="bool"),
        CanonicalColumn(name="title", type="string"), CanonicalColumn(name="last_updated", type="timestamp")])
    mapping = Mapping(canonical_table="contacts", source_service="servicenow", source_table="sys_user", id="sys_id",
                      columns={"id": "sys_id", "inactive_flag": "!active", "title": "title",
                               "last_updated": "sys_updated_on"})
    compiled = CompiledMapping(mapping, canonical)
    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    rows = compiled.to_versions(
        [("a", stamp, '{"sys_id":"a","active":"true","title":"","sys_updated_on":"2024-01-01 00:00:00"}'),
         ("b", stamp, '{"sys_id":"b","active":"false","title":"CTO","sys_updated_on":"2024-01-01 00:00:00"}')],
        tenant_id="t", run_id="r", loaded_at=stamp).to_pylist()
    assert [r["inactive_flag"] for r in rows] == [False, True]
    assert [r["title"] for r in rows] == [None, "CTO"]
    assert rows[0]["last_updated"] == stamp
