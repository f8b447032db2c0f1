"""Served Salesforce records have the real shapes: validated against the reference sObject schemas.

The reference file holds, per object, the Salesforce-generated OpenAPI schema (JSON types and
formats) and describe() data (nillability, picklist values, references; Event has none). The
validation schema takes the OpenAPI property types, closes the object (no invented fields), makes
a field nullable only where describe says it is nillable (or does not know), pins datetimes and
dates to the API's text formats, references to 18-character ids, and picklists to their values.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.salesforce.generate import generate
from avesa_sandbox.salesforce.schema import SCHEMA_FILE
from avesa_sandbox.salesforce.tables import OBJECTS, object_counts

from .salesforce_support import SfClient, fresh_org, new_org

REFERENCE_COPY = Path(__file__).resolve().parents[2].parent / "shared/reference/schemas/salesforce-sobjects-subset.json"
PACKAGED = Path(str(files("avesa_sandbox.salesforce"))) / SCHEMA_FILE

DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$"
DATE = r"^\d{4}-\d{2}-\d{2}$"
ID18 = r"^[0-9A-Za-z]{18}$"
_JSON_TYPES = {"boolean": "boolean", "int": "integer", "double": "number", "currency": "number", "percent": "number"}


def _document() -> dict[str, Any]:
    return json.loads(PACKAGED.read_text("utf-8"))  # type: ignore[no-any-return]


def _property(oas: dict[str, Any] | None, field: dict[str, Any]) -> dict[str, Any]:
    prop: dict[str, Any] = {k: v for k, v in (oas or {}).items() if k != "description"}
    if "type" not in prop:
        prop["type"] = _JSON_TYPES.get(field.get("type") or "", "string")
    kind, fmt = field.get("type"), prop.pop("format", None)
    if fmt == "date-time":
        prop["pattern"] = DATETIME
    elif fmt == "date":
        prop["pattern"] = DATE
    elif kind in ("id", "reference"):
        prop["pattern"] = ID18
    if prop["type"] == "object":
        keys = ("city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode", "state", "street")
        prop["properties"] = {key: {"type": ["string", "number", "null"]} for key in keys}
        prop["required"] = list(keys)
        prop["additionalProperties"] = False
    if field.get("picklistValues") and kind != "combobox":
        prop["enum"] = list(field["picklistValues"])
    if field.get("nillable") is not False:
        prop["type"] = [prop["type"], "null"]
        if "enum" in prop:
            prop["enum"] = [*prop["enum"], None]
    return prop


def record_schema(obj: str, served: bool) -> dict[str, Any]:
    """JSON Schema of one object's records (``served``: with the query ``attributes``)."""
    document = _document()
    oas = copy.deepcopy(document["oas_components"]["schemas"][f"{obj}SObject"]["properties"])
    fields = [f for f in document["objects"][obj]["fields"] if f["name"] != "attributes"]
    properties = {f["name"]: _property(oas.get(f["name"]), f) for f in fields}
    required = [f["name"] for f in fields]
    if served:
        properties["attributes"] = {
            "type": "object",
            "properties": {
                "type": {"const": obj},
                "url": {"type": "string", "pattern": f"^/services/data/v\\d+\\.\\d/sobjects/{obj}/"},
            },
            "required": ["type", "url"],
            "additionalProperties": False,
        }
        required.append("attributes")
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


_VALIDATORS: dict[tuple[str, bool], jsonschema.Draft202012Validator] = {}


def assert_valid(obj: str, records: list[dict[str, Any]], served: bool = True) -> None:
    key = (obj, served)
    if key not in _VALIDATORS:
        _VALIDATORS[key] = jsonschema.Draft202012Validator(record_schema(obj, served))
    check = _VALIDATORS[key]
    assert records, obj
    for record in records:
        problems = sorted(check.iter_errors(record), key=lambda e: list(e.path))
        assert not problems, f"{obj} {record.get('Id')}: " + "; ".join(
            f"{'/'.join(map(str, p.path))}: {p.message}" for p in problems[:5]
        )


@pytest.fixture(scope="module")
def sf(admin: SandboxAdmin) -> Iterator[SfClient]:
    with fresh_org(admin, "sfs", seed=8) as client:
        yield client


def everything(sf: SfClient, obj: str) -> list[dict[str, Any]]:
    return sf.records(f"SELECT FIELDS(ALL) FROM {obj} LIMIT 200")


@pytest.mark.parametrize("obj", list(OBJECTS))
def test_served_records_match_the_schema(sf: SfClient, obj: str) -> None:
    assert_valid(obj, everything(sf, obj))


def test_generated_small_org_matches_the_schema() -> None:
    data = generate(3, "schema-check", object_counts("small"))
    for obj, records in data.items():
        assert_valid(obj, records[::20], served=False)


def test_inserted_and_mutated_records_match_the_schema(admin: SandboxAdmin) -> None:
    name = new_org(admin, "sfsm")
    client = SfClient(admin, name)
    try:
        for obj in OBJECTS:
            admin.create_record(name, obj)
        admin.mutate(name, updates=200, inserts=30, deletes=10, seed=3)
        for obj in OBJECTS:
            assert_valid(obj, everything(client, obj))
        soql = "SELECT FIELDS(ALL) FROM {} WHERE IsDeleted = true LIMIT 200"
        binned = {obj: client.records(soql.format(obj), all_rows=True) for obj in OBJECTS if obj != "User"}
        assert sum(map(len, binned.values())) == 10
        for obj, records in binned.items():
            if records:
                assert_valid(obj, records)
    finally:
        client.close()
        admin.delete_instance(name)


def test_references_point_at_existing_records(sf: SfClient) -> None:
    ids = {obj: {r["Id"] for r in sf.records(f"SELECT Id FROM {obj}")} for obj in OBJECTS}
    users = ids["User"]
    contacts = {c["Id"]: c for c in everything(sf, "Contact")}
    for contact in contacts.values():
        assert contact["AccountId"] in ids["Account"]
        assert contact["OwnerId"] in users and contact["Name"] == f"{contact['FirstName']} {contact['LastName']}"
        if contact["MailingCity"]:
            assert contact["MailingAddress"]["city"] == contact["MailingCity"]
    for case in everything(sf, "Case"):
        if case["ContactId"]:
            assert case["AccountId"] == contacts[case["ContactId"]]["AccountId"]
            assert case["ContactEmail"] == contacts[case["ContactId"]]["Email"]
        assert case["OwnerId"] in users or case["OwnerId"].startswith("00G")
        assert case["IsClosed"] == (case["Status"] == "Closed") and bool(case["ClosedDate"]) == case["IsClosed"]
    for opportunity in everything(sf, "Opportunity"):
        assert opportunity["AccountId"] in ids["Account"]
        assert opportunity["ExpectedRevenue"] == round(opportunity["Amount"] * opportunity["Probability"] / 100, 2)
    for task in everything(sf, "Task") + everything(sf, "Event"):
        assert task["WhoId"] is None or task["WhoId"] in ids["Contact"] | ids["Lead"]
        assert task["WhatId"] is None or task["WhatId"] in ids["Account"] | ids["Case"] | ids["Opportunity"]
        assert task["OwnerId"] in users
    for obj in OBJECTS:
        for record in everything(sf, obj):
            assert record["CreatedDate"] <= record["LastModifiedDate"] <= record["SystemModstamp"]
            assert "2024-01-01T00:00:00.000+0000" <= record["SystemModstamp"] <= "2025-12-31T23:59:59.000+0000"
            assert record["CreatedById"] in users and record["LastModifiedById"] in users


def test_some_records_were_touched_by_the_system_after_their_last_edit() -> None:
    data = generate(3, "touch", object_counts("small"))
    touched = [r for r in data["Task"] if r["SystemModstamp"] > r["LastModifiedDate"]]
    assert 0 < len(touched) < len(data["Task"]) // 5


def test_generation_is_deterministic_and_scales() -> None:
    first = generate(11, "same", object_counts("tiny"))
    assert first == generate(11, "same", object_counts("tiny"))
    assert first != generate(12, "same", object_counts("tiny"))
    assert {obj: len(records) for obj, records in first.items()} == object_counts("tiny")
    assert object_counts("medium")["Task"] == 20_000 and object_counts("large")["Task"] == 50_000
    case_numbers = [c["CaseNumber"] for c in first["Case"]]
    assert case_numbers == sorted(case_numbers) and len(set(case_numbers)) == len(case_numbers)


def test_packaged_schema_is_the_reference_copy() -> None:
    if not REFERENCE_COPY.exists():
        pytest.skip("shared reference material not present")
    assert hashlib.sha256(PACKAGED.read_bytes()).digest() == hashlib.sha256(REFERENCE_COPY.read_bytes()).digest()
