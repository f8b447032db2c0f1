"""Record builders of a simulated Microsoft 365 tenant, with Graph's record shapes.

``RecordFactory`` builds one record of a table (used by whole-tenant generation and by inserts at
run time): organization (its id is the tenant id), licence subscriptions, users (members, some
synced from on-premises AD, guests), groups of every kind, Entra devices and Intune managed
devices. Every served property is present on a record, ``null`` when unset, as Graph returns a
property that was selected. ``Pool`` holds the existing records new ones reference.
"""

from __future__ import annotations

import base64
import random
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.microsoft365 import ids
from avesa_sandbox.microsoft365 import vocab as v

Record = dict[str, Any]

WINDOW_START = parse_epoch("2024-01-01T00:00:00Z")
WINDOW_END = parse_epoch("2025-12-31T23:59:59Z")

_HOUR = 3600
_DAY = 86400
_NEVER = "0001-01-01T00:00:00Z"
"""Intune's value for a date that never happened."""
_INTUNE_APP_ID = "0000000a-0000-0000-c000-000000000000"


def rng_for(seed: int | str, instance: str, purpose: str) -> random.Random:
    """A random generator determined by (seed, instance, purpose) alone (string seeds hash stably)."""
    return random.Random(f"{seed}/{instance}/m365/{purpose}")


def _guid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _sid_from_guid(guid: str) -> str:
    """Entra ID's ``securityIdentifier``: S-1-12-1 followed by the object id as four 32-bit numbers."""
    raw = bytes.fromhex(guid.replace("-", ""))
    parts = [int.from_bytes(raw[i : i + 4], "little") for i in range(0, 16, 4)]
    return "S-1-12-1-" + "-".join(str(p) for p in parts)


def _immutable_id(rng: random.Random) -> str:
    """``onPremisesImmutableId``: the base64 of the on-premises objectGUID."""
    return base64.b64encode(rng.getrandbits(128).to_bytes(16, "little")).decode("ascii")


def org_key(instance: str) -> int:
    """The organization record's key: fixed per instance name, so the tenant id is too."""
    return 0x10000000 + int(ids._digest("org-key", instance)[:8], 16) % 0x60000000


def tenant_id_for(instance: str) -> str:
    """The directory (tenant) id of an instance: a GUID derived from its name."""
    return ids.guid_for(ids.instance_salt(instance), "organization", org_key(instance))


@dataclass
class Tenant:
    """Tenant-wide facts every record builder needs."""

    tenant_id: str
    display_name: str
    domain: str
    initial_domain: str
    created: int
    hybrid: bool
    """Users are synced from an on-premises Active Directory (Entra Connect)."""
    onprem_domain: str
    netbios: str
    domain_sid: str
    phone: str
    office: tuple[str, str, str, str, str, str]


def make_tenant(seed: int | str, instance: str) -> Tenant:
    rng = rng_for(seed, instance, "tenant")
    word = rng.choice(v.COMPANY_WORDS)
    kind, short = rng.choice(v.COMPANY_KINDS)
    stem = f"{word}{short}".lower()
    office = v.OFFICES[rng.randrange(len(v.OFFICES) - 1)]
    return Tenant(
        tenant_id=tenant_id_for(instance),
        display_name=f"{word} {kind}",
        domain=f"{stem}{rng.choice(v.TLDS)}",
        initial_domain=f"{stem}{rng.randint(1, 99) if rng.random() < 0.4 else ''}.onmicrosoft.com",
        created=WINDOW_START - rng.randint(200, 2500) * _DAY,
        hybrid=rng.random() < 0.45,
        onprem_domain=f"corp.{stem}.local",
        netbios=word.upper()[:15],
        domain_sid="S-1-5-21-" + "-".join(str(rng.randint(10**8, 4 * 10**9)) for _ in range(3)),
        phone=f"+1 {office[5]} 555 0{rng.randint(100, 199)}",
        office=office,
    )


@dataclass
class Pool:
    """Existing records new records may reference."""

    skus: list[Record] = field(default_factory=list)
    users: list[Record] = field(default_factory=list)
    members: list[Record] = field(default_factory=list)
    """Users of type Member (Intune devices' primary users)."""
    devices: list[Record] = field(default_factory=list)
    unmanaged_devices: list[Record] = field(default_factory=list)
    used_names: set[str] = field(default_factory=set)

    @classmethod
    def from_tables(cls, tables: dict[str, dict[int, Record]]) -> Pool:
        pool = cls()
        pool.skus = list(tables.get("subscribedSkus", {}).values())
        pool.users = list(tables.get("users", {}).values())
        pool.members = [u for u in pool.users if u.get("userType") == "Member"]
        pool.devices = list(tables.get("devices", {}).values())
        managed = {m.get("azureADDeviceId") for m in tables.get("deviceManagement/managedDevices", {}).values()}
        pool.unmanaged_devices = [d for d in pool.devices if d["deviceId"] not in managed and d["isManaged"]]
        pool.used_names = {u["mailNickname"].lower() for u in pool.users if u.get("mailNickname")}
        pool.used_names.update(g["displayName"].lower() for g in tables.get("groups", {}).values())
        return pool

    def add(self, table: str, record: Record) -> None:
        """Take in a record just inserted into ``table``."""
        if table == "subscribedSkus":
            self.skus.append(record)
        elif table == "users":
            self.users.append(record)
            if record.get("userType") == "Member":
                self.members.append(record)
            self.used_names.add((record.get("mailNickname") or "").lower())
        elif table == "groups":
            self.used_names.add((record.get("displayName") or "").lower())
        elif table == "devices":
            self.devices.append(record)
            if record.get("isManaged"):
                self.unmanaged_devices.append(record)

    def base_skus(self) -> list[Record]:
        return [s for s in self.skus if v.SKU_BY_PART[s["skuPartNumber"]].kind == "base"]

    def addon_skus(self) -> list[Record]:
        return [s for s in self.skus if v.SKU_BY_PART[s["skuPartNumber"]].kind == "addon"]


class RecordFactory:
    """Builds single records of each table for one tenant (generation and run-time inserts)."""

    def __init__(self, tenant: Tenant, salt: str) -> None:
        self.tenant = tenant
        self.salt = salt
        self._plan_lists: dict[tuple[Any, ...], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self.builders: dict[str, Callable[[random.Random, int, int, Pool], Record]] = {
            "organization": self.organization,
            "subscribedSkus": self.subscribed_sku,
            "users": self.user,
            "groups": self.group,
            "devices": self.device,
            "deviceManagement/managedDevices": self.managed_device,
        }

    def build(self, table: str, rng: random.Random, key: int, created: int, pool: Pool) -> Record:
        """A new record of ``table`` with key ``key``, created at ``created``."""
        return self.builders[table](rng, key, created, pool)

    def guid(self, table: str, key: int) -> str:
        return ids.guid_for(self.salt, table, key)

    # -- shared pieces ------------------------------------------------------------------------------

    def _phone(self, rng: random.Random, area: str | None = None) -> str:
        area = area or rng.choice(("215", "303", "512", "614", "919", "646"))
        return f"+1 {area} {rng.randint(200, 999)} {rng.randint(0, 9999):04d}"

    def _plans(self, skus: list[v.Sku], assigned: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(assignedPlans, provisionedPlans) for licences assigned at ``assigned`` (lists are shared)."""
        day = assigned - assigned % _DAY
        key = (tuple(s.part_number for s in skus), day)
        cached = self._plan_lists.get(key)
        if cached is None:
            seen: dict[str, v.ServicePlan] = {}
            for sku in skus:
                for plan in sku.plans:
                    seen.setdefault(plan.plan_id, plan)
            when = format_epoch(day + 9 * _HOUR)
            assigned_plans = [
                {
                    "assignedDateTime": when,
                    "capabilityStatus": "Enabled",
                    "service": p.service,
                    "servicePlanId": p.plan_id,
                }
                for p in seen.values()
            ]
            services = sorted({p.service for p in seen.values()})
            provisioned = [
                {"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": service}
                for service in services
            ]
            cached = self._plan_lists[key] = (assigned_plans, provisioned)
            if len(self._plan_lists) > 50_000:
                self._plan_lists.clear()
        return cached[0], cached[1]

    # -- tables -------------------------------------------------------------------------------------

    def organization(self, rng: random.Random, key: int, created: int, pool: Pool) -> Record:
        t = self.tenant
        skus = [v.SKU_BY_PART[s["skuPartNumber"]] for s in pool.skus] or [v.SKU_BY_PART["O365_BUSINESS_ESSENTIALS"]]
        assigned, provisioned = self._plans(skus, created)
        _, street, city, state, postal, _ = t.office
        return {
            "id": self.guid("organization", key),
            "deletedDateTime": None,
            "assignedPlans": assigned,
            "businessPhones": [t.phone],
            "city": city,
            "country": "United States",
            "countryLetterCode": "US",
            "createdDateTime": format_epoch(created),
            "defaultUsageLocation": "US",
            "displayName": t.display_name,
            "marketingNotificationEmails": [],
            "mobileDeviceManagementAuthority": "intune",
            "onPremisesLastSyncDateTime": format_epoch(WINDOW_END - rng.randint(60, 1800)) if t.hybrid else None,
            "onPremisesSyncEnabled": True if t.hybrid else None,
            "partnerTenantType": None,
            "postalCode": postal,
            "preferredLanguage": "en",
            "privacyProfile": None,
            "provisionedPlans": provisioned,
            "securityComplianceNotificationMails": [],
            "securityComplianceNotificationPhones": [],
            "state": state,
            "street": street,
            "technicalNotificationMails": [f"it-alerts@{t.domain}"],
            "tenantType": "AAD",
            "verifiedDomains": [
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": True,
                    "isInitial": False,
                    "name": t.domain,
                    "type": "Federated" if t.hybrid and rng.random() < 0.2 else "Managed",
                },
                {
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": False,
                    "isInitial": True,
                    "name": t.initial_domain,
                    "type": "Managed",
                },
            ],
        }

    def subscribed_sku(self, rng: random.Random, key: int, created: int, pool: Pool, consumed: int = 0) -> Record:
        sku = v.SKUS_BY_ID_ORDER[key - 1]
        enabled = 10000 if sku.kind == "free" else max(1, consumed + rng.choice((0, 0, 1, 2, 3, 5, 10)))
        return {
            "id": ids.subscribed_sku_id(self.tenant.tenant_id, key),
            "accountId": self.tenant.tenant_id,
            "accountName": self.tenant.display_name.replace(" ", ""),
            "appliesTo": sku.applies_to,
            "capabilityStatus": "Enabled",
            "consumedUnits": consumed,
            "prepaidUnits": {"enabled": enabled, "lockedOut": 0, "suspended": 0, "warning": 0},
            "servicePlans": [
                {
                    "appliesTo": sku.applies_to,
                    "provisioningStatus": "Success",
                    "servicePlanId": plan.plan_id,
                    "servicePlanName": plan.name,
                }
                for plan in sku.plans
            ],
            "skuId": sku.sku_id,
            "skuPartNumber": sku.part_number,
            "subscriptionIds": [_guid(rng)],
        }

    def _unique_nickname(self, pool: Pool, first: str, last: str) -> str:
        base = _ascii(f"{first}.{last}").lower().replace("'", "").replace(" ", "")
        name, suffix = base, 1
        while name in pool.used_names:
            suffix += 1
            name = f"{base}{suffix}"
        pool.used_names.add(name)
        return name

    def user(self, rng: random.Random, key: int, created: int, pool: Pool) -> Record:
        t = self.tenant
        uid = self.guid("users", key)
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        nickname = self._unique_nickname(pool, first, last)
        guest = rng.random() < 0.12
        departments = list(v.DEPARTMENT_WEIGHTS)
        department = rng.choices(departments, weights=[v.DEPARTMENT_WEIGHTS[d] for d in departments])[0]
        office = rng.choice(v.OFFICES)
        synced = t.hybrid and not guest and rng.random() < 0.85
        enabled = rng.random() < 0.94
        password_changed = min(WINDOW_END, created + rng.randint(0, 300) * _DAY)
        if guest:
            ext_domain = f"{rng.choice(v.COMPANY_WORDS).lower()}{rng.choice(v.TLDS)}"
            mail = f"{nickname}@{ext_domain}"
            upn = f"{nickname}_{ext_domain}#EXT#@{t.initial_domain}"
            licences: list[Record] = []
        else:
            mail = f"{nickname}@{t.domain}"
            upn = mail
            licences = self._licences_for(rng, pool)
        skus = [v.SKU_BY_PART[s["skuPartNumber"]] for s in licences]
        assigned, provisioned = self._plans(skus, created) if skus else ([], [])
        last_sign_in = min(WINDOW_END, created + rng.randint(1, 700) * _DAY) if enabled else None
        ext_attrs: dict[str, str | None] = {f"extensionAttribute{i}": None for i in range(1, 16)}
        if not guest:
            ext_attrs["extensionAttribute1"] = rng.choice(v.COST_CENTERS)
            ext_attrs["extensionAttribute2"] = f"E{key % 100000:05d}"
            if rng.random() < 0.3:
                ext_attrs["extensionAttribute10"] = rng.choice(("Contractor", "Intern", "Seasonal"))
        employee_id = None if guest else f"{10000 + key % 90000}"
        return {
            "id": uid,
            "deletedDateTime": None,
            "accountEnabled": enabled,
            "ageGroup": None,
            "assignedLicenses": [{"disabledPlans": [], "skuId": s["skuId"]} for s in licences],
            "assignedPlans": assigned,
            "authorizationInfo": {"certificateUserIds": []},
            "businessPhones": [] if guest or office[5] == "888" else [self._phone(rng, office[5])],
            "city": None if guest else office[2] or None,
            "companyName": None if guest else t.display_name,
            "consentProvidedForMinor": None,
            "country": None if guest else "United States",
            "createdDateTime": format_epoch(created),
            "creationType": "Invitation" if guest else None,
            "customSecurityAttributes": None,
            "department": None if guest else department,
            "deviceEnrollmentLimit": 5,
            "displayName": f"{first} {last}",
            "employeeHireDate": None if guest else format_epoch(created - created % _DAY - rng.randint(0, 20) * _DAY),
            "employeeId": employee_id,
            "employeeLeaveDateTime": None,
            "employeeOrgData": None
            if guest
            else {"costCenter": ext_attrs["extensionAttribute1"], "division": rng.choice(v.DIVISIONS)},
            "employeeType": None if guest else ("Contractor" if ext_attrs["extensionAttribute10"] else "Employee"),
            "externalUserState": rng.choice(("Accepted", "Accepted", "PendingAcceptance")) if guest else None,
            "externalUserStateChangeDateTime": format_epoch(created + rng.randint(60, 5 * _DAY)) if guest else None,
            "faxNumber": None,
            "givenName": first,
            "identities": [
                {
                    "signInType": "userPrincipalName",
                    "issuer": t.initial_domain if guest else t.domain,
                    "issuerAssignedId": upn,
                }
            ],
            "identityParentId": None,
            "imAddresses": [] if guest else [f"sip:{upn}"],
            "isManagementRestricted": None,
            "isResourceAccount": None,
            "jobTitle": None if guest else rng.choice(v.DEPARTMENTS[department]),
            "lastPasswordChangeDateTime": format_epoch(password_changed),
            "legalAgeGroupClassification": None,
            "licenseAssignmentStates": [
                {
                    "assignedByGroup": None,
                    "disabledPlans": [],
                    "error": "None",
                    "lastUpdatedDateTime": format_epoch(created),
                    "skuId": s["skuId"],
                    "state": "Active",
                }
                for s in licences
            ],
            "mail": mail,
            "mailNickname": nickname if not guest else f"{nickname}_{mail.split('@')[1]}#EXT#",
            "mobilePhone": self._phone(rng) if not guest and rng.random() < 0.5 else None,
            "officeLocation": None if guest else office[0],
            "onPremisesDistinguishedName": (
                f"CN={first} {last},OU=Users,OU={t.netbios},DC={t.onprem_domain.replace('.', ',DC=')}"
                if synced
                else None
            ),
            "onPremisesDomainName": t.onprem_domain if synced else None,
            "onPremisesExtensionAttributes": ext_attrs,
            "onPremisesImmutableId": _immutable_id(rng) if synced else None,
            "onPremisesLastSyncDateTime": format_epoch(min(WINDOW_END, created + rng.randint(0, 600) * _DAY))
            if synced
            else None,
            "onPremisesProvisioningErrors": [],
            "onPremisesSamAccountName": _ascii(f"{first[0]}{last}").lower().replace("'", "")[:20] if synced else None,
            "onPremisesSecurityIdentifier": f"{t.domain_sid}-{1100 + key % 50000}" if synced else None,
            "onPremisesSyncEnabled": True if synced else None,
            "onPremisesUserPrincipalName": f"{nickname}@{t.onprem_domain}" if synced else None,
            "otherMails": [mail] if guest else [],
            "passwordPolicies": None if synced or guest else rng.choice((None, "DisablePasswordExpiration")),
            "passwordProfile": None,
            "postalCode": None if guest else office[4] or None,
            "preferredDataLocation": None,
            "preferredLanguage": None if guest else "en-US",
            "provisionedPlans": provisioned,
            "proxyAddresses": [] if guest else [f"SMTP:{mail}", f"smtp:{nickname}@{t.initial_domain}"],
            "securityIdentifier": _sid_from_guid(uid),
            "serviceProvisioningErrors": [],
            "showInAddressList": None,
            "signInActivity": {
                "lastNonInteractiveSignInDateTime": format_epoch(last_sign_in + 3 * _HOUR) if last_sign_in else None,
                "lastNonInteractiveSignInRequestId": _guid(rng) if last_sign_in else None,
                "lastSignInDateTime": format_epoch(last_sign_in) if last_sign_in else None,
                "lastSignInRequestId": _guid(rng) if last_sign_in else None,
                "lastSuccessfulSignInDateTime": format_epoch(last_sign_in) if last_sign_in else None,
                "lastSuccessfulSignInRequestId": _guid(rng) if last_sign_in else None,
            },
            "signInSessionsValidFromDateTime": format_epoch(password_changed),
            "state": None if guest else office[3] or None,
            "streetAddress": None if guest else office[1] or None,
            "surname": last,
            "usageLocation": None if guest else "US",
            "userPrincipalName": upn,
            "userType": "Guest" if guest else "Member",
        }

    def _licences_for(self, rng: random.Random, pool: Pool) -> list[Record]:
        bases = pool.base_skus()
        chosen: list[Record] = []
        if bases and rng.random() < 0.9:
            chosen.append(bases[0] if rng.random() < 0.85 else rng.choice(bases))
        for addon in pool.addon_skus():
            if rng.random() < {"POWER_BI_PRO": 0.15, "MCOEV": 0.1, "EXCHANGESTANDARD": 0.05}.get(
                addon["skuPartNumber"], 0.03
            ):
                chosen.append(addon)
        return chosen

    def group(
        self,
        rng: random.Random,
        key: int,
        created: int,
        pool: Pool,
        template: tuple[str, str, str] | None = None,
        department: str | None = None,
    ) -> Record:
        t = self.tenant
        gid = self.guid("groups", key)
        if template is None:
            template = rng.choice(v.GROUP_TEMPLATES)
        department = department or rng.choice(list(v.DEPARTMENTS))
        pattern, kind, description = template
        name = pattern.format(dept=department)
        if name.lower() in pool.used_names:
            name = f"{name} {rng.randint(2, 99)}"
        pool.used_names.add(name.lower())
        nickname = "".join(ch for ch in _ascii(name) if ch.isalnum() or ch in "-_") or f"group{key}"
        unified = kind == "unified"
        mail_enabled = kind in ("unified", "distribution", "mailsecurity")
        security = kind in ("security", "mailsecurity", "dynamic", "dynamicdevice", "roleassignable")
        dynamic = kind in ("dynamic", "dynamicdevice")
        synced = t.hybrid and kind in ("security", "distribution") and rng.random() < 0.6
        mail = f"{nickname}@{t.domain}" if mail_enabled else None
        rule = None
        if kind == "dynamic":
            rule = f'(user.department -eq "{department}") and (user.accountEnabled -eq true)'
        elif kind == "dynamicdevice":
            os_name = "iOS" if "iOS" in name else "Windows"
            rule = f'(device.deviceOSType -eq "{os_name}")'
        group_types = (["Unified"] if unified else []) + (["DynamicMembership"] if dynamic else [])
        renewed = min(WINDOW_END, created + rng.randint(0, 400) * _DAY) if unified else created
        return {
            "id": gid,
            "deletedDateTime": None,
            "assignedLabels": [],
            "assignedLicenses": [{"disabledPlans": [], "skuId": pool.skus[0]["skuId"]}]
            if "License" in name and pool.skus
            else [],
            "classification": None,
            "createdDateTime": format_epoch(created),
            "description": description.format(dept=department),
            "displayName": name,
            "expirationDateTime": None,
            "groupTypes": group_types,
            "isAssignableToRole": True if kind == "roleassignable" else None,
            "isManagementRestricted": None,
            "licenseProcessingState": {"state": "ProcessingComplete"} if "License" in name else None,
            "mail": mail,
            "mailEnabled": mail_enabled,
            "mailNickname": nickname if mail_enabled else _guid(rng)[:8] if not synced else nickname,
            "membershipRule": rule,
            "membershipRuleProcessingState": "On" if dynamic else None,
            "onPremisesDomainName": t.onprem_domain if synced else None,
            "onPremisesExtensionAttributes": {f"extensionAttribute{i}": None for i in range(1, 16)},
            "onPremisesLastSyncDateTime": format_epoch(min(WINDOW_END, created + rng.randint(0, 600) * _DAY))
            if synced
            else None,
            "onPremisesNetBiosName": t.netbios if synced else None,
            "onPremisesProvisioningErrors": [],
            "onPremisesSamAccountName": nickname[:20] if synced else None,
            "onPremisesSecurityIdentifier": f"{t.domain_sid}-{60000 + key % 50000}" if synced else None,
            "onPremisesSyncEnabled": True if synced else None,
            "organizationId": t.tenant_id,
            "preferredDataLocation": None,
            "preferredLanguage": None,
            "proxyAddresses": [f"SMTP:{mail}", f"smtp:{nickname}@{t.initial_domain}"] if mail else [],
            "renewedDateTime": format_epoch(renewed),
            "resourceBehaviorOptions": [] if not unified else rng.choice(([], ["WelcomeEmailDisabled"])),
            "resourceProvisioningOptions": ["Team"] if unified and rng.random() < 0.6 else [],
            "securityEnabled": security,
            "securityIdentifier": _sid_from_guid(gid),
            "serviceProvisioningErrors": [],
            "theme": None,
            "uniqueName": None,
            "visibility": rng.choice(("Public", "Private")) if unified else None,
            "welcomeMessageEnabled": None,
        }

    def device(self, rng: random.Random, key: int, created: int, pool: Pool, managed: bool | None = None) -> Record:
        """An Entra device; ``managed`` (enrolled in Intune) is drawn when not given, as for a new device."""
        t = self.tenant
        if managed is None:
            managed = rng.random() < 0.7
        platform = rng.choices(v.DEVICE_PLATFORMS, weights=[p[2] for p in v.DEVICE_PLATFORMS])[0]
        os_name, _, _, trust_types, models = platform
        manufacturer, model = rng.choice(models)
        trust = rng.choice(trust_types)
        if trust == "ServerAd" and not t.hybrid:
            trust = "AzureAd"
        device_id = _guid(rng)
        if os_name == "Windows":
            name = (
                f"{rng.choice(('DESKTOP', 'LAPTOP'))}-{''.join(rng.choices('ABCDEFGHJKLMNPQRSTUVWXYZ0123456789', k=7))}"
            )
        elif os_name == "MacMDM":
            name = f"{rng.choice(v.FIRST_NAMES)}'s MacBook"
        else:
            name = f"{rng.choice(v.FIRST_NAMES)}'s {model.split()[0] if os_name == 'iOS' else model}"
        sign_in = min(WINDOW_END, created + rng.randint(0, 500) * _DAY)
        hw = rng.getrandbits(52)
        return {
            "id": self.guid("devices", key),
            "deletedDateTime": None,
            "accountEnabled": rng.random() < 0.97,
            "alternativeSecurityIds": [
                {
                    "identityProvider": None,
                    "key": base64.b64encode(f"X509:<SHA1-TP-PUBKEY>{rng.getrandbits(160):040X}".encode()).decode(),
                    "type": 2,
                }
            ],
            "approximateLastSignInDateTime": format_epoch(sign_in),
            "complianceExpirationDateTime": None,
            "deviceCategory": None,
            "deviceId": device_id,
            "deviceMetadata": None,
            "deviceOwnership": "Company" if trust != "Workplace" or rng.random() < 0.4 else "Personal",
            "deviceVersion": 2,
            "displayName": name,
            "enrollmentProfileName": "Autopilot - Standard"
            if managed and os_name == "Windows" and rng.random() < 0.5
            else None,
            "enrollmentType": "AzureDomainJoined" if managed and os_name == "Windows" else None,
            "isCompliant": (rng.random() < 0.88) if managed else None,
            "isManaged": True if managed else None,
            "isManagementRestricted": None,
            "isRooted": False,
            "managementType": "MDM" if managed else None,
            "manufacturer": manufacturer,
            "mdmAppId": _INTUNE_APP_ID if managed else None,
            "model": model,
            "onPremisesLastSyncDateTime": format_epoch(sign_in) if trust == "ServerAd" else None,
            "onPremisesSecurityIdentifier": f"{t.domain_sid}-{90000 + key % 50000}" if trust == "ServerAd" else None,
            "onPremisesSyncEnabled": True if trust == "ServerAd" else None,
            "operatingSystem": os_name,
            "operatingSystemVersion": rng.choice(v.OS_VERSIONS[os_name]),
            "physicalIds": [
                f"[USER-GID]:{_guid(rng)}:{hw}",
                f"[GID]:g:{hw}",
                f"[USER-HWID]:{_guid(rng)}:{hw + 1}",
                f"[HWID]:h:{hw + 1}",
            ]
            + ([f"[ZTDID]:{_guid(rng)}"] if managed and os_name == "Windows" and rng.random() < 0.5 else []),
            "profileType": "RegisteredDevice",
            "registrationDateTime": format_epoch(created),
            "systemLabels": [],
            "trustType": trust,
        }

    def managed_device(
        self, rng: random.Random, key: int, created: int, pool: Pool, device: Record | None = None
    ) -> Record:
        if device is None and pool.unmanaged_devices:
            device = pool.unmanaged_devices.pop(rng.randrange(len(pool.unmanaged_devices)))
        members = pool.members or pool.users
        user = rng.choice(members) if members else None
        os_map = {"Windows": "Windows", "iOS": "iOS", "Android": "Android", "MacMDM": "macOS"}
        if device is not None:
            os_name = os_map[device["operatingSystem"]]
            manufacturer, model, name = device["manufacturer"], device["model"], device["displayName"]
            os_version = device["operatingSystemVersion"]
            aad_id = device["deviceId"]
            ownership = "company" if device["deviceOwnership"] == "Company" else "personal"
        else:
            os_name, manufacturer, model = "Android", "samsung", "SM-A546B"
            name, os_version, aad_id, ownership = f"Galaxy-{rng.randint(1000, 9999)}", "14", None, "personal"
        phone = os_name in ("iOS", "Android")
        upn = user["userPrincipalName"] if user else None
        local = upn.split("@")[0] if upn else "unknown"
        when = datetime.fromtimestamp(created, UTC)
        stamp = f"{when.month}/{when.day}/{when.year}_{(when.hour % 12) or 12}:{when.minute:02d} {when.strftime('%p')}"
        total = rng.choice((127, 255, 511, 1023)) * 1_000_000_000 if not phone else rng.choice((64, 128, 256)) * 10**9
        compliance = rng.choices(("compliant", "noncompliant", "inGracePeriod", "unknown"), weights=(80, 10, 5, 5))[0]
        last_sync = min(WINDOW_END, created + rng.randint(0, 500) * _DAY)
        if os_name == "Windows":
            enrollment = rng.choice(("windowsAzureADJoin", "windowsAutoEnrollment", "windowsCoManagement"))
        elif os_name in ("iOS", "macOS"):
            enrollment = rng.choice(("appleBulkWithUser", "userEnrollment"))
        else:
            enrollment = "userEnrollment"
        return {
            "id": self.guid("deviceManagement/managedDevices", key),
            "activationLockBypassCode": None,
            "androidSecurityPatchLevel": "2024-09-01" if os_name == "Android" else "",
            "azureADDeviceId": aad_id or "00000000-0000-0000-0000-000000000000",
            "azureADRegistered": aad_id is not None,
            "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z"
            if compliance != "inGracePeriod"
            else format_epoch(last_sync + 3 * _DAY),
            "complianceState": compliance,
            "configurationManagerClientEnabledFeatures": None,
            "deviceActionResults": [],
            "deviceCategoryDisplayName": "Unknown Category",
            "deviceEnrollmentType": enrollment,
            "deviceHealthAttestationState": None,
            "deviceName": name,
            "deviceRegistrationState": "registered",
            "easActivated": phone,
            "easActivationDateTime": format_epoch(created + 600) if phone else _NEVER,
            "easDeviceId": f"{rng.getrandbits(128):032X}" if phone else "",
            "emailAddress": user["mail"] if user else "",
            "enrolledDateTime": format_epoch(created),
            "enrollmentProfileName": None,
            "ethernetMacAddress": None,
            "exchangeAccessState": "allowed" if phone else "none",
            "exchangeAccessStateReason": "compliant" if phone else "none",
            "exchangeLastSuccessfulSyncDateTime": format_epoch(last_sync) if phone else _NEVER,
            "freeStorageSpaceInBytes": int(total * rng.uniform(0.15, 0.7)),
            "iccid": f"8901{rng.randint(10**14, 10**15 - 1)}" if phone else None,
            "imei": f"35{rng.randint(10**12, 10**13 - 1)}" if phone else "",
            "isEncrypted": rng.random() < 0.93,
            "isSupervised": os_name == "iOS" and ownership == "company",
            "jailBroken": "False" if phone else "Unknown",
            "lastSyncDateTime": format_epoch(last_sync),
            "managedDeviceName": f"{local}_{os_name}_{stamp}",
            "managedDeviceOwnerType": ownership,
            "managementAgent": "mdm",
            "managementCertificateExpirationDate": format_epoch(created + 365 * _DAY),
            "managementState": "managed",
            "manufacturer": manufacturer,
            "meid": None,
            "model": model,
            "notes": None,
            "operatingSystem": os_name,
            "osVersion": os_version,
            "partnerReportedThreatState": "unknown",
            "phoneNumber": self._phone(rng) if phone and rng.random() < 0.7 else None,
            "physicalMemoryInBytes": 0,
            "remoteAssistanceSessionErrorDetails": None,
            "remoteAssistanceSessionUrl": None,
            "requireUserEnrollmentApproval": None,
            "serialNumber": "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=10 if not phone else 12)),
            "subscriberCarrier": rng.choice(v.CARRIERS) if phone else "",
            "totalStorageSpaceInBytes": total,
            "udid": f"{rng.getrandbits(96):024X}" if os_name == "iOS" else None,
            "userDisplayName": user["displayName"] if user else None,
            "userId": user["id"] if user else None,
            "userPrincipalName": upn,
            "wiFiMacAddress": f"{rng.getrandbits(48):012x}",
        }
