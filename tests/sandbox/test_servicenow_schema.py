"""Served ServiceNow records have the real shapes: every column of the reference table definitions, typed.

The JSON Schema of a table is built from its column list (the reference SDK definitions, or the
modelled definitions of the tables the reference lacks): every served column required, nothing else
but ``u_`` custom fields, each value a string of its internal type's format, references as
``{"link", "value"}`` into the referenced table, or "".
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from avesa_sandbox import SandboxAdmin
from avesa_sandbox.servicenow.builders import Factory
from avesa_sandbox.servicenow.generate import WINDOW_END, WINDOW_START, generate
from avesa_sandbox.servicenow.records import Shaper
from avesa_sandbox.servicenow.schema import SCHEMA_FILE, Column, columns, reference_document
from avesa_sandbox.servicenow.tables import DATA_TABLES, TABLES, TASK_TABLES, table_counts
from avesa_sandbox.servicenow.timefmt import format_datetime

from .servicenow_support import SnClient, fresh_sn_instance, sn_instance  # noqa: F401

REFERENCE_COPY = Path(__file__).resolve().parents[2].parent / "shared/reference/schemas/servicenow-tables-subset.json"

SYS_ID = "[0-9a-f]{32}"
DATE_TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}"
_PATTERNS = {
    "GUID": f"^{SYS_ID}$",
    "boolean": "^(true|false)?$",
    "integer": "^(-?[0-9]+)?$",
    "decimal": r"^(-?[0-9]+(\.[0-9]+)?)?$",
    "float": r"^(-?[0-9]+(\.[0-9]+)?)?$",
    "currency": r"^(-?[0-9]+(\.[0-9]+)?)?$",
    "glide_date_time": f"^({DATE_TIME})?$",
    "due_date": f"^({DATE_TIME})?$",
    "glide_duration": f"^(1970-{DATE_TIME[6:]})?$",
    "glide_date": r"^(\d{4}-\d{2}-\d{2})?$",
    "glide_list": f"^({SYS_ID}(,{SYS_ID})*)?$",
    "email": r"^([^@\s]+@[^@\s]+)?$",
    "url": r"^(https?://\S+)?$",
    "ip_addr": r"^((\d{1,3}\.){3}\d{1,3})?$",
}


def column_schema(col: Column) -> dict[str, Any]:
    if col.is_reference:
        target = col.link_table
        return {
            "oneOf": [
                {"const": ""},
                {
                    "type": "object",
                    "properties": {
                        "link": {"type": "string", "pattern": f"/api/now/table/{target}/({SYS_ID}|global)$"},
                        "value": {"type": "string", "pattern": f"^({SYS_ID}|global)$"},
                    },
                    "required": ["link", "value"],
                    "additionalProperties": False,
                },
            ]
        }
    schema: dict[str, Any] = {"type": "string"}
    if col.internal_type in _PATTERNS:
        schema["pattern"] = _PATTERNS[col.internal_type]
    elif col.max_length and col.internal_type in ("string", "table_name", "ph_number", "multi_two_lines", "html"):
        schema["maxLength"] = col.max_length
    return schema


def table_schema(table: str) -> dict[str, Any]:
    cols = columns(table)
    return {
        "type": "object",
        "properties": {name: column_schema(col) for name, col in cols.items()},
        "patternProperties": {"^u_": {"type": "string"}},
        "required": list(cols),
        "additionalProperties": False,
    }


_VALIDATORS: dict[str, jsonschema.Draft202012Validator] = {}


def assert_valid(table: str, records: list[dict[str, Any]]) -> None:
    if table not in _VALIDATORS:
        schema = table_schema(table)
        jsonschema.Draft202012Validator.check_schema(schema)
        _VALIDATORS[table] = jsonschema.Draft202012Validator(schema)
    check = _VALIDATORS[table]
    assert records, table
    for record in records:
        problems = sorted(check.iter_errors(record), key=lambda e: list(e.path))
        assert not problems, f"{table} {record.get('sys_id')}: " + "; ".join(
            f"{'/'.join(map(str, p.path))}: {p.message[:200]}" for p in problems[:5]
        )


def test_served_columns_are_the_reference_definitions() -> None:
    for table, definition in reference_document()["tables"].items():
        if table not in TABLES:
            continue
        listed = definition.get("effective_columns") or definition["own_columns"]
        expected = {c["name"] for c in listed if c.get("active") is not False and c["internal_type"] != "password"}
        served = {name for name in columns(table) if not name.startswith("u_")}
        assert served == expected, table
    for table in TABLES:
        assert {
            "sys_id",
            "sys_created_on",
            "sys_created_by",
            "sys_updated_on",
            "sys_updated_by",
            "sys_mod_count",
        } <= set(columns(table)), table
    assert set(columns("sys_user")) < set(columns("customer_contact"))
    assert set(columns("core_company")) < set(columns("customer_account"))


@pytest.mark.parametrize("table", DATA_TABLES)
def test_served_records_match_the_schema(sn: SnClient, table: str) -> None:
    assert_valid(table, sn.all(table))


def test_generated_small_instance_matches_the_schema() -> None:
    factory = Factory(Shaper("http://127.0.0.1:1/servicenow/x/api/now"), "avesa.integration")
    data = generate(factory, 3, "schema-check", table_counts("small"))
    for table, records in data.items():
        if records:
            assert_valid(table, records[::40])


def test_inserted_and_mutated_records_match_the_schema(admin: SandboxAdmin, sn_fresh: SnClient) -> None:
    for table in DATA_TABLES:
        created = admin.create_record(sn_fresh.name, table)
        assert created["sys_mod_count"] == "0" and created["sys_created_on"] == created["sys_updated_on"]
    admin.mutate(sn_fresh.name, updates=150, inserts=20, deletes=5, seed=3)
    for table in TABLES:
        assert_valid(table, sn_fresh.all(table))


def test_references_point_at_existing_records(sn: SnClient) -> None:
    ids = {table: {r["sys_id"] for r in sn.all(table, sysparm_fields="sys_id")} for table in DATA_TABLES}
    ids["task"] = set().union(*(ids[t] for t in TASK_TABLES))
    checked = 0
    for table in DATA_TABLES:
        refs = {name: col.reference for name, col in columns(table).items() if col.internal_type == "reference"}
        for record in sn.all(table):
            for name, target in refs.items():
                value = record[name]
                if value and target in ids:
                    assert value["value"] in ids[target], (table, name, value)
                    checked += 1
    assert checked > 500


def test_generated_timestamps_lie_in_the_fixed_window(sn: SnClient) -> None:
    low, high = format_datetime(WINDOW_START), format_datetime(WINDOW_END)
    for table in DATA_TABLES:
        for record in sn.all(table, sysparm_fields="sys_created_on,sys_updated_on"):
            assert low <= record["sys_created_on"] <= record["sys_updated_on"] <= high, table


def test_incidents_are_consistent(sn: SnClient) -> None:
    incidents = sn.all("incident")
    assert len({i["number"] for i in incidents}) == len(incidents)
    for incident in incidents:
        assert incident["incident_state"] == incident["state"]
        assert (incident["active"] == "false") == (incident["state"] in ("7", "8"))
        if incident["state"] in ("6", "7"):
            assert incident["opened_at"] <= incident["resolved_at"] and incident["close_code"]
        if incident["state"] == "7":
            assert incident["resolved_at"] <= incident["closed_at"] <= incident["sys_updated_on"]
    states = {i["state"] for i in incidents}
    assert {"1", "2", "7"} <= states


def test_generation_is_deterministic() -> None:
    def run(seed: int) -> dict[str, list[dict[str, Any]]]:
        factory = Factory(Shaper("http://127.0.0.1:1/servicenow/same/api/now"), "avesa.integration")
        return generate(factory, seed, "same", table_counts("tiny"))

    assert run(11) == run(11)
    assert run(11) != run(12)
    keys = [r["sys_id"] for r in run(11)["incident"]]
    assert keys != sorted(keys), "sys_id order must not follow creation order"


def test_packaged_schema_is_the_reference_copy() -> None:
    if not REFERENCE_COPY.exists():
        pytest.skip("shared reference material not present")
    packaged = Path(str(files("avesa_sandbox.servicenow"))) / SCHEMA_FILE
    assert hashlib.sha256(packaged.read_bytes()).digest() == hashlib.sha256(REFERENCE_COPY.read_bytes()).digest()
