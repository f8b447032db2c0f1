"""The six Graph resources the sandbox serves, how each behaves, and how big each is per scale.

The resource path (``users``, ``deviceManagement/managedDevices``) is a table's name everywhere in
the sandbox, as it is in the pipeline's catalog; short aliases are accepted by the admin API.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox.scales import scale_counts


@dataclass(frozen=True)
class ResourceDef:
    """One Graph collection."""

    path: str
    schema: str
    """Entity type in the OpenAPI document (``microsoft.graph.user``)."""
    aliases: tuple[str, ...]
    error_type: str
    """How the service names the type in "Could not find a property" errors."""
    directory: bool
    """A directory (Entra ID) object: ``$count`` needs ``ConsistencyLevel: eventual``, ``$skip`` is refused."""
    delta: bool
    """Has a ``/delta`` function (users, groups, devices)."""
    removed_reason: str
    """``@removed.reason`` of a deleted record in delta responses: ``changed`` for objects that go to the
    recycle bin first (users, groups: restorable for 30 days), ``deleted`` for permanent deletes."""
    default_page_size: int
    max_page_size: int
    default_select: tuple[str, ...] | None = None
    """Properties returned without ``$select`` (None: every property the sandbox serves)."""
    select_only: tuple[str, ...] = ()
    """Served properties left out of the default set (returned only when ``$select`` names them)."""
    not_in_list: tuple[str, ...] = ()
    """Schema properties the real service refuses to return from a list (stored outside the directory,
    e.g. a user's ``skills`` in SharePoint): ``$select`` of one is answered 501 NotImplemented."""

    @property
    def noun(self) -> str:
        return self.path.rsplit("/", 1)[-1]


USER_DEFAULT_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
"""What ``GET /users`` returns without ``$select`` (Graph v1.0's documented default set)."""

USER_NOT_IN_LIST = (
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
    "print",
)

GROUP_SELECT_ONLY = (
    "assignedLabels",
    "assignedLicenses",
    "licenseProcessingState",
    "isManagementRestricted",
    "onPremisesExtensionAttributes",
    "organizationId",
    "uniqueName",
    "welcomeMessageEnabled",
)
"""Group properties Graph returns only when ``$select`` names them."""

GROUP_NOT_IN_LIST = (
    "allowExternalSenders",
    "autoSubscribeNewMembers",
    "hideFromAddressLists",
    "hideFromOutlookClients",
    "isSubscribedByMail",
    "unseenCount",
    "unseenConversationsCount",
    "unseenMessagesCount",
    "isArchived",
    "isFavorite",
    "accessType",
    "infoCatalogs",
    "hasMembersWithLicenseErrors",
)
"""Group properties Exchange holds: only a single-group GET returns them, never a list."""

RESOURCES: dict[str, ResourceDef] = {
    r.path: r
    for r in (
        ResourceDef(
            "organization",
            "microsoft.graph.organization",
            ("organisation", "tenant"),
            "Microsoft.DirectoryServices.TenantDetail",
            True,
            False,
            "deleted",
            100,
            999,
        ),
        ResourceDef(
            "subscribedSkus",
            "microsoft.graph.subscribedSku",
            ("subscribed_skus", "skus", "licenses"),
            "Microsoft.DirectoryServices.SubscribedSku",
            True,
            False,
            "deleted",
            999,
            999,
        ),
        ResourceDef(
            "users",
            "microsoft.graph.user",
            ("user",),
            "Microsoft.DirectoryServices.User",
            True,
            True,
            "changed",
            100,
            999,
            USER_DEFAULT_SELECT,
            (),
            USER_NOT_IN_LIST,
        ),
        ResourceDef(
            "groups",
            "microsoft.graph.group",
            ("group",),
            "Microsoft.DirectoryServices.Group",
            True,
            True,
            "changed",
            100,
            999,
            None,
            GROUP_SELECT_ONLY,
            GROUP_NOT_IN_LIST,
        ),
        ResourceDef(
            "devices",
            "microsoft.graph.device",
            ("device", "entra_devices"),
            "Microsoft.DirectoryServices.Device",
            True,
            True,
            "deleted",
            100,
            999,
        ),
        ResourceDef(
            "deviceManagement/managedDevices",
            "microsoft.graph.managedDevice",
            ("managedDevices", "managed_devices", "intune_devices"),
            "microsoft.management.services.api.managedDevice",
            False,
            False,
            "deleted",
            1000,
            1000,
        ),
    )
}
"""Path -> definition, in generation order (referenced tables first)."""

ALIASES: dict[str, str] = {alias: r.path for r in RESOURCES.values() for alias in r.aliases}

DELTA_PAGE_SIZE = 200
"""Objects per delta page. ``$top`` is not supported by directory delta functions; the service picks."""

_BASE = {
    "organization": 1,
    "subscribedSkus": 8,
    "users": 500,
    "groups": 60,
    "devices": 600,
    "deviceManagement/managedDevices": 450,
}

SCALES: dict[str, dict[str, int]] = {
    "tiny": {
        "organization": 1,
        "subscribedSkus": 6,
        "users": 40,
        "groups": 12,
        "devices": 48,
        "deviceManagement/managedDevices": 36,
    },
    "small": dict(_BASE),
    "medium": {
        "organization": 1,
        "subscribedSkus": 10,
        "users": 12_000,
        "groups": 1_000,
        "devices": 16_000,
        "deviceManagement/managedDevices": 11_000,
    },
    "large": {
        "organization": 1,
        "subscribedSkus": 12,
        "users": 30_000,
        "groups": 2_500,
        "devices": 40_000,
        "deviceManagement/managedDevices": 28_000,
    },
}
"""Record counts per table for each scale preset (an MSP's biggest client tenants are the large ones)."""


def resolve_table(name: str) -> str:
    """Path for a path or alias (case-insensitive); KeyError naming the known tables otherwise."""
    if name in RESOURCES:
        return name
    if name in ALIASES:
        return ALIASES[name]
    lowered = name.strip("/").lower()
    for path in RESOURCES:
        if path.lower() == lowered:
            return path
    for alias, path in ALIASES.items():
        if alias.lower() == lowered:
            return path
    raise KeyError(f"unknown Microsoft 365 table {name!r}; known: {', '.join(RESOURCES)}")


def table_counts(scale: str, overrides: dict[str, int] | None = None) -> dict[str, int]:
    """Counts for a scale preset, with per-table overrides (path or alias keys)."""
    counts = scale_counts(SCALES, scale, overrides, resolve_table)
    if counts["organization"] > 1:
        raise ValueError("a tenant has exactly one organization record (count 0 or 1)")
    return counts
