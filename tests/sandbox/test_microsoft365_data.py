"""Microsoft 365 data: real Graph shapes (validated against the OpenAPI schemas), ids, references,
determinism, mutate and the ground-truth change log, admin record CRUD with GUID ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from avesa_sandbox import SandboxAdmin, SandboxAdminError
from avesa_sandbox.microsoft365 import ids
from avesa_sandbox.microsoft365.builders import RecordFactory, make_tenant
from avesa_sandbox.microsoft365.generate import generate
from avesa_sandbox.microsoft365.query import served_properties
from avesa_sandbox.microsoft365.schema import SCHEMA_FILE, component, openapi
from avesa_sandbox.microsoft365.tables import RESOURCES, table_counts

from .microsoft365_support import GraphClient, fresh_tenant, new_instance

REFERENCE_COPY = Path(__file__).resolve().parents[2].parent / "shared/reference/schemas/msgraph-v1.0-subset.json"


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 (Microsoft's conventions) -> JSON Schema 2020-12, every object closed.

    ``allOf`` inheritance chains are flattened into one closed object (closing each part would reject
    the others' properties); ``anyOf [$ref, {type: object, nullable: true}]`` (a nullable complex
    property) becomes ``$ref`` or null; ``nullable`` adds null to the type or enum."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "allOf" in node:
        properties: dict[str, Any] = {}
        for part in node["allOf"]:
            target = component(part["$ref"].rsplit("/", 1)[-1]) if "$ref" in part else part
            if "$ref" in part:
                properties.update(to_json_schema(target).get("properties", {}))
            else:
                properties.update({name: to_json_schema(prop) for name, prop in part.get("properties", {}).items()})
        return {"type": "object", "properties": properties, "additionalProperties": False}
    if "anyOf" in node:
        options = []
        for option in node["anyOf"]:
            if option.get("type") == "object" and option.get("nullable") and "properties" not in option:
                options.append({"type": "null"})
            else:
                options.append(to_json_schema(option))
        return {"anyOf": options}
    skipped = ("nullable", "description", "discriminator", "properties", "x-ms-navigationProperty")
    out = {k: to_json_schema(v) for k, v in node.items() if k not in skipped}
    if "properties" in node:
        out["properties"] = {name: to_json_schema(prop) for name, prop in node["properties"].items()}
        out.setdefault("additionalProperties", False)
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


@pytest.fixture(scope="module")
def defs() -> dict[str, Any]:
    return {name: to_json_schema(schema) for name, schema in openapi()["components"]["schemas"].items()}


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def assert_valid(defs: dict[str, Any], path: str, records: list[dict[str, Any]]) -> None:
    resource = RESOURCES[path]
    if resource.schema not in _VALIDATORS:
        schema = {"$defs": defs, "$ref": f"#/$defs/{resource.schema}"}
        if not _VALIDATORS:  # checking the 600-type document once is enough (and takes a second)
            jsonschema.Draft202012Validator.check_schema(schema)
        _VALIDATORS[resource.schema] = jsonschema.Draft202012Validator(schema)
    check = _VALIDATORS[resource.schema]
    assert records, path
    served = set(served_properties(resource))
    for record in records:
        problems = sorted(check.iter_errors(record), key=lambda e: list(e.path))
        assert not problems, f"{path} {record.get('id')}: " + "; ".join(
            f"{'/'.join(map(str, p.path))}: {p.message}" for p in problems[:5]
        )
        assert set(record) == served, f"{path}: every served property present, null when unset"


@pytest.fixture(scope="module")
def graph(admin: SandboxAdmin) -> Iterator[GraphClient]:
    with fresh_tenant(admin, "data", seed=21) as client:
        yield client


@pytest.mark.parametrize("path", list(RESOURCES))
def test_served_records_match_the_schema(defs: dict[str, Any], graph: GraphClient, path: str) -> None:
    assert_valid(defs, path, graph.all(path, **{"$select": "*"}))


def test_generated_small_tenant_matches_the_schema(defs: dict[str, Any]) -> None:
    salt = ids.instance_salt("schema-check")
    data = generate(3, "schema-check", table_counts("small"), RecordFactory(make_tenant(3, "schema-check"), salt))
    for path, records in data.tables.items():
        assert_valid(defs, path, records[::20])


def test_inserted_and_mutated_records_match_the_schema(defs: dict[str, Any], admin: SandboxAdmin) -> None:
    name = new_instance(admin, "data")
    try:
        client = GraphClient(admin, name)
        for path in ("users", "groups", "devices", "deviceManagement/managedDevices"):
            admin.create_record(name, path)
        admin.mutate(name, updates=200, inserts=20, deletes=5, seed=3)
        for path in RESOURCES:
            assert_valid(defs, path, client.all(path, **{"$select": "*"}))
        client.close()
    finally:
        admin.delete_instance(name)


def test_ids_are_guids_ordered_like_keys_and_unique_across_tables(graph: GraphClient) -> None:
    seen: set[str] = set()
    for path in RESOURCES:
        records = graph.all(path, **{"$select": "id"})
        record_ids = [r["id"] for r in records]
        assert record_ids == sorted(record_ids)
        seen.update(record_ids)
        if path == "subscribedSkus":
            assert all(i.startswith(graph.credentials["tenant_id"] + "_") for i in record_ids)
        else:
            assert all(ids.GUID_PATTERN.match(i) for i in record_ids)
    assert len(seen) == sum(len(graph.all(p, **{"$select": "id"})) for p in RESOURCES)


def test_references_are_consistent(graph: GraphClient) -> None:
    org = graph.get("organization").json()["value"]
    assert len(org) == 1 and org[0]["id"] == graph.credentials["tenant_id"]
    domains = {d["name"] for d in org[0]["verifiedDomains"]}
    skus = {s["skuId"]: s for s in graph.all("subscribedSkus")}
    users = graph.all("users", **{"$select": "*"})
    user_ids = {u["id"] for u in users}
    consumed: dict[str, int] = {}
    for user in users:
        assert user["userPrincipalName"].split("@")[1] in domains
        for licence in user["assignedLicenses"]:
            assert licence["skuId"] in skus
            consumed[licence["skuId"]] = consumed.get(licence["skuId"], 0) + 1
        if user["userType"] == "Guest":
            assert "#EXT#" in user["userPrincipalName"] and not user["assignedLicenses"]
    for sku_id, used in consumed.items():
        assert skus[sku_id]["consumedUnits"] == used <= skus[sku_id]["prepaidUnits"]["enabled"]
    devices = {d["deviceId"]: d for d in graph.all("devices", **{"$select": "*"})}
    for managed in graph.all("deviceManagement/managedDevices"):
        assert managed["userId"] in user_ids
        assert managed["azureADDeviceId"] in devices
        assert devices[managed["azureADDeviceId"]]["isManaged"] is True
        assert devices[managed["azureADDeviceId"]]["displayName"] == managed["deviceName"]


def test_generated_timestamps_and_change_times_lie_in_the_window(graph: GraphClient, admin: SandboxAdmin) -> None:
    changes = admin.changes(graph.instance)
    assert {c["op"] for c in changes} == {"insert"}
    assert all("2024-01-01T00:00:00Z" <= c["last_updated"] <= "2025-12-31T23:59:59Z" for c in changes)
    for user in graph.all("users", **{"$select": "createdDateTime"}):
        assert "2024-01-01T00:00:00Z" <= user["createdDateTime"] <= "2025-12-31T23:59:59Z"


def test_generation_is_deterministic() -> None:
    def build(seed: int) -> dict[str, Any]:
        factory = RecordFactory(make_tenant(seed, "same"), ids.instance_salt("same"))
        return generate(seed, "same", table_counts("tiny"), factory).tables

    assert build(11) == build(11)
    assert build(11) != build(12)


def test_mutate_changes_are_in_the_log_and_served(graph: GraphClient, admin: SandboxAdmin) -> None:
    name = new_instance(admin, "data")
    try:
        client = GraphClient(admin, name)
        before = len(admin.changes(name))
        report = admin.mutate(name, updates=60, inserts=10, deletes=6, seed=5)
        counts = report["counts"]
        assert counts["inserted"] == 10 and counts["updated"] == 60 and counts["deleted"] == 6
        assert counts["noop_updates"] == 0
        log = admin.changes(name, after_seq=before)
        assert len(log) == 76
        assert [e["op"] for e in log] == ["insert"] * 10 + ["update"] * 60 + ["delete"] * 6
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in admin.changes(name):
            latest[(entry["table"], entry["id"])] = entry
        for path in RESOURCES:
            served = {r["id"]: r for r in client.all(path, **{"$select": "*"})}
            alive = {i for (t, i), e in latest.items() if t == path and e["op"] != "delete"}
            assert set(served) == alive, path
            for record_id, record in served.items():
                assert latest[(path, record_id)]["record"] == record
        for update in report["updated"]:
            assert update["fields"], "every update changes at least one property"
        versions: dict[tuple[str, str], list[str]] = {}
        for entry in admin.changes(name):
            versions.setdefault((entry["table"], entry["id"]), []).append(entry["last_updated"])
        assert all(stamps == sorted(set(stamps)) for stamps in versions.values())  # strictly increasing
        client.close()
    finally:
        admin.delete_instance(name)


def test_admin_records_crud_with_guid_ids(graph: GraphClient, admin: SandboxAdmin) -> None:
    name = graph.instance
    created = admin.create_record(name, "users", {"displayName": "Ada Lovelace", "department": "Engineering"})
    user_id = created["id"]
    assert ids.GUID_PATTERN.match(user_id)
    assert user_id > max(i for i in admin.record_ids(name, "users") if i != user_id)  # new keys come last
    served = graph.get(f"users/{user_id}", **{"$select": "displayName,department"}).json()
    assert served["displayName"] == "Ada Lovelace" and served["department"] == "Engineering"
    assert admin.get_record(name, "users", user_id.upper())["id"] == user_id

    admin.update_record(name, "users", user_id, {"jobTitle": "Analyst", "department": None})
    record = admin.get_record(name, "users", user_id)
    assert record["jobTitle"] == "Analyst" and record["department"] is None  # cleared, still present
    log = admin.changes(name, table="users", record_id=user_id)
    assert [e["op"] for e in log] == ["insert", "update"]

    admin.delete_record(name, "users", user_id)
    assert graph.get(f"users/{user_id}").status_code == 404
    assert admin.changes(name, table="users", record_id=user_id)[-1]["op"] == "delete"

    sku = admin.record_ids(name, "subscribedSkus")[0]
    assert admin.get_record(name, "skus", sku)["id"] == sku
    with pytest.raises(SandboxAdminError) as malformed:
        admin.get_record(name, "users", "12345")
    assert malformed.value.status == 400
    with pytest.raises(SandboxAdminError) as foreign:
        admin.get_record(name, "users", "0abcdef0-1111-4222-8333-444444444444")
    assert foreign.value.status == 404
    with pytest.raises(SandboxAdminError):
        admin.create_record(name, "organization")


def test_packaged_schema_is_the_reference_copy() -> None:
    if not REFERENCE_COPY.exists():
        pytest.skip("shared reference material not present")
    packaged = Path(str(files("avesa_sandbox.microsoft365"))) / SCHEMA_FILE
    assert hashlib.sha256(packaged.read_bytes()).digest() == hashlib.sha256(REFERENCE_COPY.read_bytes()).digest()
