"""The Microsoft 365 service spec and mapping: field lists derived from the Graph reference schema,
the users $select, the deny-list, and users mapped to canonical contacts."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from avesa.catalog.loader import load_catalog
from avesa.transform.mapping import CompiledMapping
from avesa_sandbox.microsoft365.schema import data_properties

SCHEMAS = {
    "users": "microsoft.graph.user",
    "groups": "microsoft.graph.group",
    "devices": "microsoft.graph.device",
    "organization": "microsoft.graph.organization",
    "subscribed_skus": "microsoft.graph.subscribedSku",
    "managed_devices": "microsoft.graph.managedDevice",
}
"""Each table's entity type in the reference schema (msgraph-v1.0-subset.json)."""

NOT_IN_LISTS = {
    "users": ["aboutMe", "birthday", "hireDate", "interests", "mySite", "pastProjects", "preferredName",
              "responsibilities", "schools", "skills", "mailboxSettings", "print"],
    "groups": ["allowExternalSenders", "autoSubscribeNewMembers", "hideFromAddressLists", "hideFromOutlookClients",
               "isSubscribedByMail", "unseenCount", "unseenConversationsCount", "unseenMessagesCount", "isArchived",
               "isFavorite", "accessType", "infoCatalogs", "hasMembersWithLicenseErrors"],
}
"""Properties Graph returns only for a single object (stored outside the directory: SharePoint, Exchange)."""
NOT_BY_DEFAULT = {
    "groups": ["assignedLabels", "assignedLicenses", "licenseProcessingState", "isManagementRestricted",
               "onPremisesExtensionAttributes", "organizationId", "uniqueName", "welcomeMessageEnabled"],
}
"""Group properties returned only when $select names them (groups are read without $select)."""
NEEDS_MORE_THAN_READ_ALL = {"users": ["signInActivity", "customSecurityAttributes", "employeeLeaveDateTime"]}
"""AuditLog.Read.All and an Entra ID P1 licence; CustomSecAttributeAssignment.Read.All; User-LifeCycleInfo.Read.All."""
SENSITIVE = {"users": ["passwordProfile"], "managed_devices": ["activationLockBypassCode"]}


def _expected_fields(table: str) -> list[str]:
    left_out = {*NOT_IN_LISTS.get(table, []), *NOT_BY_DEFAULT.get(table, []),
                *NEEDS_MORE_THAN_READ_ALL.get(table, []), *SENSITIVE.get(table, [])}
    properties = list(data_properties(SCHEMAS[table]))
    assert left_out <= set(properties), f"{table}: exclusions name properties the schema lacks"
    return [name for name in properties if name not in left_out]


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_fields_are_the_reference_schemas_properties_graph_returns_in_a_list(table: str) -> None:
    spec = load_catalog().service("microsoft365").table(table)
    delta = ["@removed"] if spec.sync == "delta" else []
    assert spec.fields == _expected_fields(table) + delta


def test_tables_sync_as_graph_allows_and_users_feed_contacts() -> None:
    spec = load_catalog().service("microsoft365")
    assert {name: t.sync for name, t in spec.tables.items()} == {
        "users": "delta", "groups": "delta", "devices": "delta",
        "organization": "snapshot", "subscribed_skus": "snapshot", "managed_devices": "snapshot"}
    assert all(t.deleted_field == "@removed" for t in spec.tables.values() if t.sync == "delta")
    assert spec.table("managed_devices").path == "deviceManagement/managedDevices"
    assert spec.default_tables == ["users"] and spec.table("users").canonical == "contacts"


def test_users_select_asks_for_exactly_the_declared_fields() -> None:
    users = load_catalog().service("microsoft365").table("users")
    assert users.params["$select"].split(",") == [f for f in users.fields if f != "@removed"]
    assert len(users.params["$select"]) < 1500  # the nextLinks repeat it; keep URLs well under limits


def test_sensitive_fields_are_never_declared_readable() -> None:
    spec = load_catalog().service("microsoft365")
    assert set(spec.sensitive_fields) == {f for fields in SENSITIVE.values() for f in fields}
    for table in spec.tables.values():
        assert not set(table.fields) & set(spec.sensitive_fields)


def test_a_user_maps_to_a_contact_stamped_with_the_time_it_was_observed() -> None:
    catalog = load_catalog()
    mapping = catalog.mapping("microsoft365", "users")
    assert mapping is not None and mapping.last_updated is None  # Graph has no change stamp
    compiled = CompiledMapping(mapping, catalog.canonical_table("contacts"))
    user = {"id": "6e7b768e-07e2-4810-8459-485f84f8f204", "givenName": "Megan", "surname": "Bowen",
            "jobTitle": "Auditor", "department": "Finance", "streetAddress": "12 Main St", "city": "Austin",
            "state": "TX", "postalCode": "78701", "country": "United States",
            "businessPhones": ["+1 512 555 0100", "+1 512 555 0199"], "mail": "megan@contoso.com",
            "accountEnabled": False}
    observed = datetime(2025, 6, 1, 12, tzinfo=UTC)
    row = compiled.to_versions([(user["id"], observed, orjson.dumps(user).decode())], tenant_id="contoso",
                               run_id="r", loaded_at=observed).to_pylist()[0]
    assert {k: row[k] for k in ("first_name", "last_name", "title", "department", "address_line1", "city", "state",
                                "zip", "country", "default_phone_number", "default_email_address",
                                "inactive_flag")} == {
        "first_name": "Megan", "last_name": "Bowen", "title": "Auditor", "department": "Finance",
        "address_line1": "12 Main St", "city": "Austin", "state": "TX", "zip": "78701", "country": "United States",
        "default_phone_number": "+1 512 555 0100", "default_email_address": "megan@contoso.com",
        "inactive_flag": True}
    assert row["last_updated"] == observed and row["source_table"] == "users"
