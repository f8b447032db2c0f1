"""The ServiceNow spec and mappings: generated from the reference schema, both reference shapes map
alike, and configuration mistakes are refused before any request."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable

import httpx
import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.connectors.http_client import HttpOptions
from avesa.connectors.rate_budget import RateBudget
from avesa.connectors.servicenow import ServiceNowConnector
from avesa.connectors.servicenow_setup import normalize_instance_url
from avesa.domain.errors import ConfigError, UsageError
from avesa.domain.timeutil import parse_utc, utc_now
from avesa.pipeline.registration import split_credentials
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox import SandboxAdmin
from avesa_sandbox.servicenow.schema import columns, reference_document
from tests.connectors.test_servicenow import sn_credentials, sn_instance  # noqa: F401 (fixture)

SPEC = load_catalog().service("servicenow")


def test_table_fields_are_the_reference_schema_columns() -> None:
    """The lists in servicenow.json were generated from the reference schema (and the documented
    tables it lacks): every served standard column, in schema order; custom u_ columns are the
    instance's own and land in raw without being declared."""
    for name, table in SPEC.tables.items():
        assert table.fields == [c for c in columns(name) if not c.startswith("u_")], name
        assert (table.id_field, table.change_field, table.path) == ("sys_id", "sys_updated_on", name)
    assert SPEC.default_tables == ["incident", "sys_user", "core_company", "time_card"]


def test_sensitive_fields_cover_every_password_column_of_the_reference_schema() -> None:
    secret_looking = {
        column["name"]
        for table in reference_document()["tables"].values()
        for column in table.get("effective_columns") or table["own_columns"]
        if column["internal_type"].startswith("password")
        or ("password" in column["name"] and column["internal_type"] == "string")
    }
    assert secret_looking and secret_looking <= set(SPEC.sensitive_fields)


def test_served_records_hold_only_declared_or_custom_fields(sandbox_admin: SandboxAdmin,
                                                            sn_instance: Callable[..., str]) -> None:  # noqa: F811
    name = sn_instance()
    creds = sn_credentials(sandbox_admin, name)
    with httpx.Client(auth=(creds["username"], creds["password"])) as http:
        for table, spec in SPEC.tables.items():
            records = http.get(f"{creds['instance_url']}/api/now/table/{table}",
                               params={"sysparm_limit": 5}).json()["result"]
            assert records, table
            extra = {k for r in records for k in r} - set(spec.fields)
            assert all(k.startswith("u_") for k in extra), (table, extra)


@pytest.mark.parametrize("table", ["incident", "sys_user", "core_company", "time_card"])
def test_mappings_give_the_same_row_with_and_without_reference_links(sandbox_admin: SandboxAdmin,
                                                                     sn_instance: Callable[..., str],  # noqa: F811
                                                                     table: str) -> None:
    """The change log keeps references as {link, value}; the connector asks for bare sys_ids."""
    catalog = load_catalog()
    mapping = catalog.mapping("servicenow", table)
    assert mapping is not None
    compiled = CompiledMapping(mapping, catalog.canonical_table(mapping.canonical_table))
    name = sn_instance()
    entries = [e for e in sandbox_admin.changes(name, table=table) if e["op"] != "delete"][:20]

    def bare(record: dict) -> dict:
        return {k: v["value"] if isinstance(v, dict) and "link" in v else v for k, v in record.items()}

    loaded_at = utc_now()

    def rows(records: list[dict]) -> list[dict]:
        return compiled.to_versions(
            [(e["id"], parse_utc(e["last_updated"]), orjson.dumps(r).decode()) for e, r in zip(entries, records,
                                                                                            strict=True)],
            tenant_id="t", run_id="r", loaded_at=loaded_at).to_pylist()

    linked, plain = rows([e["record"] for e in entries]), rows([bare(e["record"]) for e in entries])
    assert linked == plain
    assert all(row["id"] == row["source_id"] and row["last_updated"] is not None for row in plain)
    references = [c for c, source in mapping.columns.items() if isinstance(source, list)]
    values = [row[c] for row in plain for c in references if row[c] is not None]
    assert bool(values) is bool(references)
    assert all(re.fullmatch(r"[0-9a-f]{32}|global", v) for v in values)  # sys_ids, never link objects
    if table == "sys_user":
        assert {row["inactive_flag"] for row in plain} <= {True, False}
        actives = {e["id"]: e["record"]["active"] == "true" for e in entries}
        assert all(row["inactive_flag"] is not actives[row["source_id"]] for row in plain)


def test_instance_urls_are_normalized() -> None:
    assert normalize_instance_url("acme") == "https://acme.service-now.com"
    assert normalize_instance_url("acme.service-now.com/") == "https://acme.service-now.com"
    assert normalize_instance_url(" https://acme.example.com/ ") == "https://acme.example.com"
    assert normalize_instance_url("http://127.0.0.1:8000/servicenow/x/") == "http://127.0.0.1:8000/servicenow/x"


def _build(credentials: dict[str, str], spec=SPEC) -> ServiceNowConnector:  # type: ignore[no-untyped-def]
    return ServiceNowConnector(spec=spec, credentials=credentials, tenant_id="acme",
                               budget=RateBudget(requests_per_minute=100, burst=10), options=HttpOptions())


def test_oauth_needs_both_client_fields_and_basic_needs_none() -> None:
    basic = {"instance_url": "acme", "username": "u", "password": "p"}
    conn = _build(basic)
    assert not conn.uses_oauth and conn.base_url == "https://acme.service-now.com/api/now/table/"
    asyncio.run(conn.aclose())
    conn = _build({**basic, "client_id": "c", "client_secret": "s"})
    assert conn.uses_oauth
    asyncio.run(conn.aclose())
    with pytest.raises(ConfigError, match="both client_id and client_secret"):
        _build({**basic, "client_id": "c"})
    with pytest.raises(ConfigError, match="missing credential fields \\['password'\\]"):
        _build({"instance_url": "acme", "username": "u"})


def test_registration_keeps_the_oauth_client_optional() -> None:
    settings, secrets = split_credentials(SPEC, {"instance_url": "acme", "username": "u", "password": "p"})
    assert settings == {"instance_url": "acme", "username": "u"} and secrets == {"password": "p"}
    settings, secrets = split_credentials(SPEC, {"instance_url": "acme", "username": "u", "password": "p",
                                                 "client_id": "c", "client_secret": "s", })
    assert settings["client_id"] == "c" and secrets == {"password": "p", "client_secret": "s"}
    with pytest.raises(UsageError, match="password"):
        split_credentials(SPEC, {"instance_url": "acme", "username": "u", "client_id": "c"})


def test_a_name_servicenow_could_misread_is_refused_before_any_request() -> None:
    data = json.loads(SPEC.model_dump_json())
    data["tables"]["incident"]["change_field"] = "sys_updated_on>2024"
    data["tables"]["incident"]["fields"].append("sys_updated_on>2024")
    spec = type(SPEC).model_validate(data)
    with pytest.raises(ConfigError, match="not a plain ServiceNow name"):
        _build({"instance_url": "acme", "username": "u", "password": "p"}, spec)
