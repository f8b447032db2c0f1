"""Realistic values for generated Microsoft 365 data: people, offices, licences, devices.

The SKUs and service plans are Microsoft's real product identifiers (``skuId`` / ``servicePlanId``
GUIDs and part numbers), the ones an MSP's small and mid-sized clients actually hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from avesa_sandbox import names


@dataclass(frozen=True)
class ServicePlan:
    name: str
    plan_id: str
    service: str
    """``assignedPlans[].service`` / ``provisionedPlans[].service``."""


@dataclass(frozen=True)
class Sku:
    part_number: str
    sku_id: str
    kind: str
    """``base`` (one per licensed user), ``addon``, ``free`` (self-service, large prepaid pools)."""
    plans: tuple[ServicePlan, ...]
    applies_to: str = "User"


_EXO_STD = ServicePlan("EXCHANGE_S_STANDARD", "9aaf7827-d63c-4b61-89c3-182f06f82e5c", "exchange")
_EXO_ENT = ServicePlan("EXCHANGE_S_ENTERPRISE", "efb87545-963c-4e0d-99df-69c6916d9eb0", "exchange")
_SPO_STD = ServicePlan("SHAREPOINTSTANDARD", "c7699d2e-19aa-44de-8edf-1736da088ca1", "SharePoint")
_SPO_ENT = ServicePlan("SHAREPOINTENTERPRISE", "5dbe027f-2339-4123-9542-606e4d348a72", "SharePoint")
_SPO_WAC = ServicePlan("SHAREPOINTWAC", "e95bec33-7c88-4a70-8e19-b10bd9d0c014", "SharePoint")
_TEAMS = ServicePlan("TEAMS1", "57ff2da0-773e-42df-b2af-ffb7a2317929", "TeamspaceAPI")
_SKYPE = ServicePlan("MCOSTANDARD", "0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MicrosoftCommunicationsOnline")
_OFFICE = ServicePlan("OFFICESUBSCRIPTION", "43de0ff5-c92c-492b-9116-175376d08c38", "MicrosoftOffice")
_FORMS = ServicePlan("FORMS_PLAN_E3", "2789c901-c14e-48ab-a76a-be334d9d793a", "OfficeForms")
_SWAY = ServicePlan("SWAY", "a23b959c-7ce8-4e57-9140-b90eb88a9e97", "Sway")
_PLANNER = ServicePlan("PROJECTWORKMANAGEMENT", "b737dad2-2f6c-4c65-90e3-ca563267e8b9", "ProjectWorkManagement")
_YAMMER = ServicePlan("YAMMER_ENTERPRISE", "7547a3fe-08ee-4ccb-b430-5077c5041653", "YammerEnterprise")
_BOOKINGS = ServicePlan("MICROSOFTBOOKINGS", "199a5c09-e0ca-4e37-8f7c-b05d533e1ea2", "MicrosoftOffice")
_INTUNE = ServicePlan("INTUNE_A", "c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "SCO")
_AAD_P1 = ServicePlan("AAD_PREMIUM", "41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AADPremiumService")
_MFA = ServicePlan("MFA_PREMIUM", "8a256a2b-b617-496d-b51b-e76466e88db0", "MultiFactorService")
_RMS = ServicePlan("RMS_S_PREMIUM", "6c57d4b6-3b23-47a5-9bc9-69f17b4947b3", "RMSOnline")
_ATP = ServicePlan("ATP_ENTERPRISE", "f20fedf3-f3c3-43c3-8267-2bfdd51c0939", "exchange")
_MDE = ServicePlan("WINDEFATP", "871d91ec-ec1a-452b-a83f-bd76c7d770ef", "WindowsDefenderATP")
_FLOW_O365 = ServicePlan("FLOW_O365_P1", "0f9b09cb-62d1-4ff4-9129-43f4996f83f4", "MicrosoftFlow")
_POWERAPPS_O365 = ServicePlan("POWERAPPS_O365_P1", "92f7a6f3-b89b-4bbd-8c30-809e6da5ad1c", "PowerAppsService")
_BI_PRO = ServicePlan("BI_AZURE_P2", "70d33638-9c74-4d01-bfd3-562de28bd4ba", "PowerBI")
_BI_FREE = ServicePlan("BI_AZURE_P0", "2049e525-b859-401b-b2a0-e0a31c4b1fe4", "PowerBI")
_FLOW_FREE = ServicePlan("FLOW_P2_VIRAL", "50e68c76-46c6-4674-81f9-75456511b170", "MicrosoftFlow")
_TEAMS_EXPL = ServicePlan("TEAMS_EXPLORATORY", "42a3ec34-28ba-46b6-992f-db53a675ac5b", "TeamspaceAPI")
_VISIO = ServicePlan("VISIO_CLIENT_SUBSCRIPTION", "663a804f-1c30-4ff0-9915-9db84f0d1cea", "Visio")
_PROJECT = ServicePlan("PROJECT_CLIENT_SUBSCRIPTION", "fafd7243-e5c1-4a3a-9e40-495efcb1d3c3", "ProjectOnline")
_PHONE = ServicePlan("MCOEV", "4828c8ec-dc2e-4779-b502-87ac9ce28ab7", "MicrosoftCommunicationsOnline")

_COLLAB = (_SPO_WAC, _TEAMS, _SKYPE, _FORMS, _SWAY, _PLANNER, _YAMMER, _FLOW_O365, _POWERAPPS_O365)

SKUS: tuple[Sku, ...] = (
    Sku("O365_BUSINESS_ESSENTIALS", "3b555118-da6a-4418-894f-7df1e2096870", "base", (_EXO_STD, _SPO_STD, *_COLLAB)),
    Sku(
        "O365_BUSINESS_PREMIUM",
        "f245ecc8-75af-4f8e-b61f-27d8114de5f3",
        "base",
        (_EXO_STD, _SPO_STD, _OFFICE, _BOOKINGS, *_COLLAB),
    ),
    Sku(
        "SPB",
        "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46",
        "base",
        (_EXO_STD, _SPO_STD, _OFFICE, _BOOKINGS, _INTUNE, _AAD_P1, _MFA, _RMS, _ATP, *_COLLAB),
    ),
    Sku("ENTERPRISEPACK", "6fd2c87f-b296-42f0-b197-1e91e994b900", "base", (_EXO_ENT, _SPO_ENT, _OFFICE, *_COLLAB)),
    Sku(
        "SPE_E3",
        "05e9a617-0261-4cee-bb44-138d3ef5d965",
        "base",
        (_EXO_ENT, _SPO_ENT, _OFFICE, _INTUNE, _AAD_P1, _MFA, _RMS, *_COLLAB),
    ),
    Sku(
        "SPE_E5",
        "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
        "base",
        (_EXO_ENT, _SPO_ENT, _OFFICE, _INTUNE, _AAD_P1, _MFA, _RMS, _ATP, _MDE, _BI_PRO, _PHONE, *_COLLAB),
    ),
    Sku("EXCHANGESTANDARD", "4b9405b0-7788-4568-add1-99614e613b69", "addon", (_EXO_STD,)),
    Sku("EMS", "efccb6f7-5641-4e0e-bd10-b4976e1bf68e", "addon", (_INTUNE, _AAD_P1, _MFA, _RMS)),
    Sku("POWER_BI_PRO", "f8a1db68-be16-40ed-86d5-cb42ce701560", "addon", (_BI_PRO,)),
    Sku("VISIOCLIENT", "c5928f49-12ba-48f7-ada3-0d743a3601d5", "addon", (_VISIO,)),
    Sku("PROJECTPROFESSIONAL", "53818b1b-4a27-454b-8896-0dba576410e6", "addon", (_PROJECT,)),
    Sku("MCOEV", "e43b5b99-8dfb-405f-9987-dc307f34bcbd", "addon", (_PHONE,)),
    Sku("ATP_ENTERPRISE", "4ef96642-f096-40de-a3e9-d83fb2f90211", "addon", (_ATP,)),
    Sku("FLOW_FREE", "f30db892-07e9-47e9-837c-80727f46fd3d", "free", (_FLOW_FREE,)),
    Sku("POWER_BI_STANDARD", "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235", "free", (_BI_FREE,)),
    Sku("TEAMS_EXPLORATORY", "710779e8-3d4a-4c88-adb9-386c958d1fdf", "free", (_TEAMS_EXPL, *_COLLAB[:3])),
)

SKUS_BY_ID_ORDER: tuple[Sku, ...] = tuple(sorted(SKUS, key=lambda sku: sku.sku_id))
"""Key ``n`` of a subscribedSku is ``SKUS_BY_ID_ORDER[n - 1]``: ids then sort like keys."""

SKU_BY_PART: dict[str, Sku] = {sku.part_number: sku for sku in SKUS}

FIRST_NAMES = (*names.FIRST_NAMES, "Zoë", "José")

LAST_NAMES = names.LAST_NAMES

COMPANY_WORDS = names.COMPANY_WORDS[:28]
"""The first 28 words only: more would change the name of every generated tenant."""

COMPANY_KINDS = (
    ("Dental Group", "dental"), ("Law Offices", "law"), ("Manufacturing", "mfg"), ("Logistics", "logistics"),
    ("Construction", "build"), ("Accounting", "cpa"), ("Realty", "realty"), ("Veterinary Clinic", "vet"),
    ("Insurance Agency", "insurance"), ("Engineering", "eng"), ("Credit Union", "cu"), ("Architects", "arch"),
    ("Medical Center", "med"), ("Wealth Management", "wealth"), ("Foods", "foods"), ("Hospitality", "hotels"),
)  # fmt: skip

TLDS = (*names.TLDS, ".co")

DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Executive": ("Chief Executive Officer", "Chief Operating Officer", "Chief Financial Officer", "President"),
    "Finance": ("Controller", "Accountant", "Accounts Payable Specialist", "Payroll Administrator"),
    "Sales": ("Sales Manager", "Account Executive", "Sales Representative", "Inside Sales Associate"),
    "Marketing": ("Marketing Manager", "Marketing Coordinator", "Graphic Designer", "Content Specialist"),
    "Operations": ("Operations Manager", "Office Manager", "Project Coordinator", "Scheduler"),
    "Human Resources": ("HR Manager", "HR Generalist", "Recruiter"),
    "IT": ("IT Manager", "Systems Administrator", "Help Desk Technician"),
    "Customer Service": ("Customer Service Manager", "Customer Service Representative", "Receptionist"),
    "Production": ("Plant Manager", "Shift Supervisor", "Quality Technician", "Machine Operator"),
}

DEPARTMENT_WEIGHTS: dict[str, int] = {
    "Executive": 1,
    "Finance": 3,
    "Sales": 5,
    "Marketing": 2,
    "Operations": 5,
    "Human Resources": 1,
    "IT": 1,
    "Customer Service": 4,
    "Production": 6,
}

OFFICES: tuple[tuple[str, str, str, str, str, str], ...] = (
    # officeLocation, streetAddress, city, state, postalCode, area code
    ("HQ", "1200 Market Street", "Philadelphia", "PA", "19107", "215"),
    ("Denver", "1801 California Street", "Denver", "CO", "80202", "303"),
    ("Austin", "500 West 2nd Street", "Austin", "TX", "78701", "512"),
    ("Columbus", "41 South High Street", "Columbus", "OH", "43215", "614"),
    ("Raleigh", "150 Fayetteville Street", "Raleigh", "NC", "27601", "919"),
    ("Remote", "", "", "", "", "888"),
)

COST_CENTERS = ("CC-100", "CC-110", "CC-200", "CC-210", "CC-300", "CC-400", "CC-500")
DIVISIONS = ("Corporate", "Field Services", "Commercial", "Retail")

GROUP_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    # displayName pattern, kind, description pattern
    ("{dept} Team", "unified", "Microsoft 365 group for the {dept} team"),
    ("SG-{dept}", "security", "Security group: members of {dept}"),
    ("DL-{dept}", "distribution", "Distribution list for {dept}"),
    ("All {dept} (dynamic)", "dynamic", "Dynamic group of every user in {dept}"),
    ("{dept} Managers", "mailsecurity", "Managers in {dept}"),
)

FIXED_GROUPS: tuple[tuple[str, str, str], ...] = (
    ("All Staff", "unified", "Company-wide Microsoft 365 group"),
    ("SG-VPN-Users", "security", "Allowed to connect to the VPN"),
    ("SG-MFA-Excluded", "security", "Break-glass accounts excluded from MFA policies"),
    ("Intune - Windows Devices", "dynamicdevice", "All Windows devices"),
    ("Intune - iOS Devices", "dynamicdevice", "All iOS devices"),
    ("License - Business Premium", "security", "Group-based licensing"),
    ("IT Admins", "roleassignable", "Privileged administrators"),
    ("Shared Mailbox Access", "mailsecurity", "Access to shared mailboxes"),
)

# operatingSystem (devices), Intune operatingSystem, share, trustType, models (manufacturer, model)
DEVICE_PLATFORMS: tuple[tuple[str, str, float, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "Windows",
        "Windows",
        0.62,
        ("AzureAd", "AzureAd", "ServerAd", "Workplace"),
        (
            ("Dell Inc.", "Latitude 5440"),
            ("Dell Inc.", "OptiPlex 7010"),
            ("LENOVO", "ThinkPad T14 Gen 4"),
            ("HP", "HP EliteBook 840 G10"),
            ("Microsoft Corporation", "Surface Laptop 5"),
        ),
    ),
    ("iOS", "iOS", 0.2, ("Workplace",), (("Apple", "iPhone 15"), ("Apple", "iPhone 14"), ("Apple", "iPad Air"))),
    ("Android", "Android", 0.1, ("Workplace",), (("samsung", "SM-S911B"), ("Google", "Pixel 8"))),
    ("MacMDM", "macOS", 0.08, ("Workplace",), (("Apple", "MacBookPro18,3"), ("Apple", "MacBookAir10,1"))),
)

OS_VERSIONS: dict[str, tuple[str, ...]] = {
    "Windows": ("10.0.19045.4529", "10.0.19045.5011", "10.0.22631.3880", "10.0.22631.4317", "10.0.26100.2033"),
    "iOS": ("17.5.1", "17.6.1", "18.0.1", "18.1"),
    "Android": ("13", "14", "15"),
    "MacMDM": ("14.5", "14.6.1", "15.0.1"),
}

CARRIERS = ("Verizon", "AT&T", "T-Mobile", "")
