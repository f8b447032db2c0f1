"""Specs and mappings from AVESA_CATALOG_PATH: what is accepted, and what is refused with a clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from avesa.catalog.loader import load_catalog
from avesa.domain.errors import ConfigError


def _spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "acme_desk",
        "display_name": "Acme Desk",
        "credentials": [{"name": "api_url", "secret": False}, {"name": "api_key", "secret": True}],
        "base_url": "{api_url}/api/v2",
        "auth": {"type": "api_key", "header": "X-Api-Key", "value": "{api_key}"},
        "paginator": {"type": "keyset", "page_size_param": "limit"},
        "records": "data",
        "incremental": {"style": "query_params", "since_param": "updated_since", "until_param": "updated_before",
                        "after_id_param": "after_id", "sort_params": {"sort": "id"}},
        "count": {"type": "body_field", "field": "total"},
        "page_size_max": 500,
        "rate_limit": {"requests_per_minute": 120, "burst": 20},
        "tables": {"companies": {"path": "companies", "change_field": "updated_at", "canonical": "companies",
                                 "enabled_by_default": True, "fields": ["id", "name", "updated_at", "address"]}},
    }
    spec.update(overrides)
    return spec


def _mapping(**columns: str) -> dict[str, Any]:
    return {"canonical_table": "companies", "source_service": "acme_desk", "source_table": "companies",
            "id": "id", "last_updated": "updated_at",
            "columns": {"id": "id", "company_name": "name", "last_updated": "updated_at", **columns}}


def _write(root: Path, spec: dict[str, Any], mapping: dict[str, Any] | None = None) -> Path:
    (root / "services").mkdir(parents=True, exist_ok=True)
    (root / "services" / "acme_desk.json").write_text(json.dumps(spec))
    if mapping is not None:
        (root / "mappings" / "acme_desk").mkdir(parents=True, exist_ok=True)
        (root / "mappings" / "acme_desk" / "companies.json").write_text(json.dumps(mapping))
    return root


def test_a_user_spec_and_mapping_join_the_built_in_catalog(tmp_path: Path) -> None:
    catalog = load_catalog(_write(tmp_path, _spec(), _mapping(city="address.city")))
    assert {"connectwise", "acme_desk"} <= set(catalog.services)
    assert catalog.mapping("acme_desk", "companies") is not None


def test_a_mapping_reading_a_field_the_spec_does_not_declare_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"reads field\(s\) \['phone'\].*acme_desk table companies"):
        load_catalog(_write(tmp_path, _spec(), _mapping(phone_number="phone")))


def test_a_template_naming_an_undeclared_credential_is_refused(tmp_path: Path) -> None:
    spec = _spec(base_url="{api_url}/{region}/api/v2")
    with pytest.raises(ConfigError, match=r"acme_desk.json: .*\{region\}.*declare only api_key, api_url"):
        load_catalog(_write(tmp_path, spec))


def test_an_incomplete_paginator_is_refused_with_what_it_needs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="paginator 'offset' needs offset_param"):
        load_catalog(_write(tmp_path, _spec(paginator={"type": "offset"})))


def test_a_window_table_without_change_field_is_refused(tmp_path: Path) -> None:
    spec = _spec(tables={"companies": {"path": "companies", "fields": ["id"]}})
    with pytest.raises(ConfigError, match="needs a change_field"):
        load_catalog(_write(tmp_path, spec))


def test_a_user_spec_cannot_replace_a_built_in_service(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'connectwise' is built in"):
        load_catalog(_write(tmp_path, _spec(service="connectwise")))


def test_a_missing_catalog_folder_says_what_it_should_hold(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such folder.*services/\*\.json"):
        load_catalog(tmp_path / "nope")


def test_a_spec_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "broken.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        load_catalog(tmp_path)


def test_a_spec_that_is_not_utf8_names_the_file_and_the_byte(tmp_path: Path) -> None:
    spec = _write(tmp_path, _spec()) / "services" / "acme_desk.json"
    spec.write_bytes(spec.read_bytes().replace(b"Acme Desk", b"Acme D\xe9sk"))  # Latin-1, not UTF-8
    with pytest.raises(ConfigError, match=r"acme_desk\.json: not UTF-8 text \(byte \d+ is 0xe9\); save it as UTF-8"):
        load_catalog(tmp_path)


def test_a_mapping_nested_beyond_what_the_parser_goes_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path, _spec(), _mapping())
    deep = tmp_path / "mappings" / "acme_desk" / "companies.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ConfigError, match=r"companies\.json: nested too deeply"):
        load_catalog(tmp_path)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", "with space", ".hidden", "back\\slash", ""])
def test_a_table_name_that_is_not_a_safe_folder_name_is_refused(name: str, tmp_path: Path) -> None:
    spec = _spec()
    spec["tables"] = {name: spec["tables"]["companies"]}
    with pytest.raises(ConfigError, match=r"acme_desk\.json: tables: .*table name\(s\) .* not allowed.*\(no '/'"):
        load_catalog(_write(tmp_path, spec))


def test_a_canonical_table_name_that_is_not_a_slug_is_refused(tmp_path: Path) -> None:
    (tmp_path / "canonical").mkdir()
    (tmp_path / "canonical" / "evil.json").write_text(json.dumps(
        {"canonical_table": "../tickets", "columns": [{"name": "id", "type": "string"}]}))
    with pytest.raises(ConfigError, match=r"evil\.json: canonical_table: String should match pattern"):
        load_catalog(tmp_path)


def test_a_mapping_naming_a_missing_field_or_table_names_its_file(tmp_path: Path) -> None:
    mapping_file = tmp_path / "mappings" / "acme_desk" / "companies.json"
    _write(tmp_path, _spec(), _mapping(phone_number="phone"))
    with pytest.raises(ConfigError, match=rf"^{mapping_file}: mapping acme_desk/companies: reads field\(s\) "
                                          r"\['phone'\]"):
        load_catalog(tmp_path)
    _write(tmp_path, _spec(), {**_mapping(), "source_table": "customers"})
    with pytest.raises(ConfigError, match=rf"^{mapping_file}: .*service acme_desk has no table 'customers'"):
        load_catalog(tmp_path)
    _write(tmp_path, _spec(), _mapping(favourite_colour="name"))
    with pytest.raises(ConfigError, match=rf"^{mapping_file}: .*columns not in canonical companies"):
        load_catalog(tmp_path)


def test_a_spec_whose_id_field_is_not_among_its_fields_names_its_file(tmp_path: Path) -> None:
    spec = _spec()
    spec["tables"]["companies"]["id_field"] = "uuid"
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'services' / 'acme_desk.json'}: service acme_desk table "
                                          r"companies: id/change/deleted field\(s\) \['uuid'\]"):
        load_catalog(_write(tmp_path, spec))


def test_a_source_table_mapped_twice_names_both_files(tmp_path: Path) -> None:
    _write(tmp_path, _spec(), _mapping())
    (tmp_path / "mappings" / "acme_desk" / "companies_again.json").write_text(json.dumps(_mapping()))
    with pytest.raises(ConfigError, match=r"companies_again\.json: acme_desk/companies is mapped twice \(also in "
                                          r".*companies\.json\)"):
        load_catalog(tmp_path)
