"""Generated records have the real ConnectWise shapes: validated against the OpenAPI schemas.

The OpenAPI 3.0 document is converted to JSON Schema: ``nullable`` becomes a union with null,
``$ref``s point into ``$defs``, and every object schema is closed (``additionalProperties: false``)
so the sandbox cannot invent a field the real API does not have. The one documented gap is
allowed: ``CustomFieldValue.value`` (and ``ConfigurationQuestion.answer``) is typed ``object`` but
real responses carry scalars or null.
"""

from __future__ import annotations

import copy
import hashlib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from avesa_sandbox.connectwise.generate import generate
from avesa_sandbox.connectwise.references import References
from avesa_sandbox.connectwise.schema import SCHEMA_FILE, openapi
from avesa_sandbox.connectwise.tables import TABLES, table_counts

from .conftest import CwClient

REFERENCE_COPY = (
    Path(__file__).resolve().parents[2].parent / "shared/reference/schemas/connectwise-manage-2025.8-subset.json"
)


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema object -> JSON Schema (2020-12)."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    skipped = ("nullable", "description", "example", "properties")
    out = {k: to_json_schema(v) for k, v in node.items() if k not in skipped}
    if "properties" in node:
        out["properties"] = {name: to_json_schema(prop) for name, prop in node["properties"].items()}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def defs() -> dict[str, Any]:
    converted = to_json_schema(copy.deepcopy(openapi()["components"]["schemas"]))
    # documented gap: custom field values are scalars or null in reality
    converted["CustomFieldValue"]["properties"]["value"] = {"type": ["string", "number", "boolean", "null"]}
    converted["ConfigurationQuestion"]["properties"]["answer"] = {"type": ["string", "number", "boolean", "null"]}
    return converted


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def validator(defs: dict[str, Any], schema_name: str) -> jsonschema.Draft202012Validator:
    if schema_name not in _VALIDATORS:
        schema = {"$defs": defs, "$ref": f"#/$defs/{schema_name}"}
        if not _VALIDATORS:
            jsonschema.Draft202012Validator.check_schema(schema)
        _VALIDATORS[schema_name] = jsonschema.Draft202012Validator(schema)
    return _VALIDATORS[schema_name]


def assert_valid(defs: dict[str, Any], endpoint: str, records: list[dict[str, Any]]) -> None:
    check = validator(defs, TABLES[endpoint].schema)
    assert records, endpoint
    for record in records:
        problems = sorted(check.iter_errors(record), key=lambda e: list(e.path))
        assert not problems, f"{endpoint} {record.get('id')}: " + "; ".join(
            f"{'/'.join(map(str, p.path))}: {p.message}" for p in problems[:5]
        )


NOT_IN_SUBSET = {"project/tickets": "Ticket"}
"""Endpoints the OpenAPI subset has no path for; ConnectWise serves project tickets in the ticket shape."""


def test_list_endpoints_in_the_spec_return_these_schemas() -> None:
    paths = openapi()["paths"]
    for endpoint, table in TABLES.items():
        if endpoint in NOT_IN_SUBSET:
            assert table.schema == NOT_IN_SUBSET[endpoint] and table.schema in openapi()["components"]["schemas"]
            continue
        items = paths[f"/{endpoint}"]["get"]["responses"]["200"]["content"]
        schema = next(iter(items.values()))["schema"]
        assert schema["items"]["$ref"].endswith(f"/{table.schema}"), endpoint
        assert f"/{endpoint}/count" in paths


@pytest.mark.parametrize("endpoint", list(TABLES))
def test_served_records_match_the_schema(defs: dict[str, Any], cw: CwClient, endpoint: str) -> None:
    assert_valid(defs, endpoint, cw.all(endpoint))


def test_generated_small_instance_matches_the_schema(defs: dict[str, Any]) -> None:
    data = generate(
        3, "schema-check", table_counts("small"), References("http://127.0.0.1:1/connectwise/x/v4_6_release/apis/3.0")
    )
    for endpoint, records in data.items():
        assert_valid(defs, endpoint, records[::25])


def test_inserted_and_mutated_records_match_the_schema(defs: dict[str, Any], admin, fresh) -> None:  # type: ignore[no-untyped-def]
    name, cw = fresh
    for endpoint in TABLES:
        admin.create_record(name, endpoint)
    admin.mutate(name, updates=150, inserts=20, seed=3)
    for endpoint in TABLES:
        assert_valid(defs, endpoint, cw.all(endpoint))


def test_contacts_carry_sensitive_fields_like_the_real_api(cw: CwClient) -> None:
    contacts = cw.all("company/contacts")
    assert any("portalPassword" in c for c in contacts)
    for contact in contacts:
        emails = [i for i in contact["communicationItems"] if i["communicationType"] == "Email"]
        assert emails and emails[0]["defaultFlag"] is True and "@" in emails[0]["value"]


def test_references_point_at_existing_records(cw: CwClient) -> None:
    ids = {endpoint: {r["id"] for r in cw.all(endpoint, fields="id")} for endpoint in TABLES}
    for ticket in cw.all("service/tickets"):
        assert ticket["company"]["id"] in ids["company/companies"]
        if "contact" in ticket:
            assert ticket["contact"]["id"] in ids["company/contacts"]
        if "owner" in ticket:
            assert ticket["owner"]["id"] in ids["system/members"]
        assert ticket["_info"]["dateEntered"] <= ticket["_info"]["lastUpdated"]
    for entry in cw.all("time/entries"):
        assert entry["chargeToType"] == "ServiceTicket"
        assert entry["chargeToId"] in ids["service/tickets"]
        assert entry["ticket"]["id"] == entry["chargeToId"]
        assert entry["company"]["id"] in ids["company/companies"]
        assert entry["member"]["id"] in ids["system/members"]
        assert entry["timeStart"] < entry["timeEnd"]
    for contact in cw.all("company/contacts"):
        assert contact["company"]["id"] in ids["company/companies"]


def test_generated_timestamps_lie_in_the_fixed_window(cw: CwClient) -> None:
    for endpoint in TABLES:
        for record in cw.all(endpoint, fields="id,_info"):
            stamp = record["_info"]["lastUpdated"]
            assert "2024-01-01T00:00:00Z" <= stamp <= "2025-12-31T23:59:59Z"
            assert len(stamp) == 20 and stamp.endswith("Z")


def test_generation_is_deterministic() -> None:
    refs = "http://127.0.0.1:1/connectwise/same/v4_6_release/apis/3.0"
    first = generate(11, "same", table_counts("tiny"), References(refs))
    second = generate(11, "same", table_counts("tiny"), References(refs))
    other_seed = generate(12, "same", table_counts("tiny"), References(refs))
    assert first == second
    assert first != other_seed


def test_packaged_schema_is_the_reference_copy() -> None:
    if not REFERENCE_COPY.exists():
        pytest.skip("shared reference material not present")
    packaged = Path(str(files("avesa_sandbox.connectwise"))) / SCHEMA_FILE
    assert hashlib.sha256(packaged.read_bytes()).digest() == hashlib.sha256(REFERENCE_COPY.read_bytes()).digest()
