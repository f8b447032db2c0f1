import pytest

from avesa.catalog.loader import Catalog, load_catalog
from avesa.catalog.models import Mapping
from avesa.domain.errors import ConfigError, NotFoundError


def test_connectwise_spec_has_the_briefs_eight_endpoints() -> None:
    spec = load_catalog().service("connectwise")
    assert set(spec.tables) >= {
        "service_tickets", "time_entries", "company_companies", "company_contacts",
        "procurement_products", "finance_agreements", "project_projects", "system_members",
    }
    assert spec.default_tables == ["service_tickets", "time_entries", "company_companies", "company_contacts"]
    assert "portalPassword" in spec.sensitive_fields


def test_every_canonical_table_has_a_connectwise_mapping_with_the_model_fields() -> None:
    catalog = load_catalog()
    for source, canonical in [("company_companies", "companies"), ("company_contacts", "contacts"),
                              ("service_tickets", "tickets"), ("time_entries", "time_entries")]:
        mapping = catalog.mapping("connectwise", source)
        assert mapping is not None and mapping.canonical_table == canonical
        assert {"id", "last_updated", "last_updated_by"} <= set(mapping.columns)


def test_unknown_service_lists_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="known services: connectwise"):
        load_catalog().service("nosuch")


def test_unknown_table_lists_the_known_ones() -> None:
    with pytest.raises(NotFoundError, match="service_tickets"):
        load_catalog().service("connectwise").table("tickets_typo")


def test_a_mapping_naming_a_column_the_canonical_table_lacks_is_refused() -> None:
    catalog = load_catalog()
    bad = Mapping(canonical_table="companies", source_service="connectwise", source_table="company_companies",
                  id="id", last_updated="_info.lastUpdated", columns={"id": "id", "favourite_colour": "colour"})
    with pytest.raises(ConfigError, match="favourite_colour"):
        Catalog(catalog.services, catalog.canonical, [bad])
