"""Builders of single Salesforce records with the real shapes: every field of the object, nulls included.

A record starts from the object's template (every schema field, in describe order: null, or false
for booleans) and the builder fills what a real org's record of an MSP's CRM holds: names,
addresses (components and the compound ``BillingAddress``-style object), picklist values from
the org's own picklists, references to records that exist (Contact -> Account, Case -> Contact
and its Account, Opportunity -> Account, Task/Event -> Who and What), owners, and the system
fields (``CreatedDate``, ``LastModifiedDate``, ``SystemModstamp`` and their ``...ById``).

The same builders serve the initial generation (``generate``) and run-time inserts; the caller
chooses the stamps. Free text and semantics come from ``vocab``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox import names
from avesa_sandbox.salesforce import ids
from avesa_sandbox.salesforce import vocab as v
from avesa_sandbox.salesforce.schema import ObjectDef, object_def
from avesa_sandbox.salesforce.tables import OBJECTS
from avesa_sandbox.salesforce.timefmt import format_date, format_datetime

Record = dict[str, Any]

_DAY = 86400
_HOUR = 3600

PROFILES = {"System Administrator": 10_201, "Standard User": 10_202, "Salesforce API Only System Integrations": 10_203}
ROLES = (("CEO", 5_101), ("Sales Manager", 5_102), ("Service Manager", 5_103), ("Account Executive", 5_104))
SUPPORT_QUEUE_KEY = 7_700


def sf_id(obj: str, key: int) -> str:
    """The public id of a record of a served object."""
    return ids.encode(OBJECTS[obj].key_prefix, key)


def profile_id(name: str) -> str:
    return ids.encode("00e", PROFILES[name])


def role_id(key: int) -> str:
    return ids.encode("00E", key)


SUPPORT_QUEUE_ID = ids.encode("00G", SUPPORT_QUEUE_KEY)
"""A queue (Group) that owns unassigned cases, as Case.OwnerId references Group or User."""


SYSTEM_ACTOR = "system"
"""``by`` of a change made by the platform itself (roll-ups, workflow): only ``SystemModstamp`` moves."""


def integration_user_id() -> str:
    """The API-only user that owns changes made through the API (the first generated user)."""
    return sf_id("User", OBJECTS["User"].first_key)


def org_domain(instance: str) -> str:
    return f"{instance}.example.com"


@dataclass
class Pool:
    """Existing records new records may reference (filled during generation, or from live tables)."""

    users: list[Record] = field(default_factory=list)
    accounts: list[Record] = field(default_factory=list)
    contacts: list[Record] = field(default_factory=list)
    contacts_by_account: dict[str, list[Record]] = field(default_factory=lambda: defaultdict(list))
    opportunities: list[Record] = field(default_factory=list)
    leads: list[Record] = field(default_factory=list)
    cases: list[Record] = field(default_factory=list)
    used_usernames: set[str] = field(default_factory=set)

    @property
    def owners(self) -> list[Record]:
        """Active users other than the integration user (who owns no business records)."""
        active = [u for u in self.users[1:] if u.get("IsActive")]
        return active or self.users

    def add(self, obj: str, record: Record) -> None:
        """Make a new record referenceable."""
        if obj == "User":
            self.users.append(record)
            self.used_usernames.add(record["Username"])
        elif obj == "Account":
            self.accounts.append(record)
        elif obj == "Contact":
            self.contacts.append(record)
            if record.get("AccountId"):
                self.contacts_by_account[record["AccountId"]].append(record)
        elif obj == "Opportunity":
            self.opportunities.append(record)
        elif obj == "Lead":
            self.leads.append(record)
        elif obj == "Case":
            self.cases.append(record)

    @classmethod
    def from_tables(cls, tables: dict[str, dict[int, Record]]) -> Pool:
        """A pool over live tables (object -> key -> record), in key order."""
        pool = cls()
        for obj in ("User", "Account", "Contact", "Opportunity", "Lead", "Case"):
            records = tables.get(obj, {})
            for key in sorted(records):
                pool.add(obj, records[key])
        return pool


def _template(definition: ObjectDef) -> Record:
    return {f.name: (False if f.type == "boolean" else None) for f in definition.fields}


def address_object(
    street: str | None,
    city: str | None,
    state: str | None,
    postal: str | None,
    country: str | None,
    latitude: float | None,
    longitude: float | None,
    accuracy: str | None,
) -> dict[str, Any] | None:
    """The compound address field as the REST API returns it (null when every component is)."""
    parts = (street, city, state, postal, country, latitude, longitude, accuracy)
    if all(part is None for part in parts):
        return None
    return {
        "city": city,
        "country": country,
        "geocodeAccuracy": accuracy,
        "latitude": latitude,
        "longitude": longitude,
        "postalCode": postal,
        "state": state,
        "street": street,
    }


class RecordFactory:
    """Builds records of each object for one instance (generation and run-time inserts)."""

    def __init__(self, instance: str) -> None:
        self.instance = instance
        self.domain = org_domain(instance)
        self.templates = {name: _template(object_def(name)) for name in OBJECTS}
        self.builders: dict[str, Callable[[random.Random, int, int, int, Pool], Record]] = {
            "User": self.user,
            "Account": self.account,
            "Contact": self.contact,
            "Opportunity": self.opportunity,
            "Lead": self.lead,
            "Case": self.case,
            "Task": self.task,
            "Event": self.event,
        }

    def build(self, obj: str, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        """A record of ``obj`` created at ``created`` whose ``SystemModstamp`` is ``updated``."""
        return self.builders[obj](rng, key, created, updated, pool)

    # -- shared pieces ------------------------------------------------------------------------------

    def _base(self, obj: str, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = dict(self.templates[obj])
        record["Id"] = sf_id(obj, key)
        if "IsDeleted" in record:
            record["IsDeleted"] = False
        creator = self._actor(rng, pool)
        # now and then a system process (roll-up, workflow, sharing recalculation) touched the
        # record after its last user edit: SystemModstamp moves, LastModifiedDate does not
        modified = updated
        if updated > created and rng.random() < 0.06:
            modified = rng.randint(created, updated - 1)
        record["CreatedDate"] = format_datetime(created)
        record["CreatedById"] = creator
        record["LastModifiedDate"] = format_datetime(modified)
        record["LastModifiedById"] = creator if modified == created else self._actor(rng, pool)
        record["SystemModstamp"] = format_datetime(updated)
        if "LastViewedDate" in record and rng.random() < 0.3:
            viewed = format_datetime(rng.randint(created, max(created, updated)))
            record["LastViewedDate"] = viewed
            record["LastReferencedDate"] = viewed
        return record

    def _actor(self, rng: random.Random, pool: Pool) -> str:
        owners = pool.owners
        if owners and rng.random() < 0.8:
            return str(rng.choice(owners)["Id"])
        return integration_user_id()

    def _owner(self, rng: random.Random, pool: Pool) -> str:
        owners = pool.owners
        return str(rng.choice(owners)["Id"]) if owners else integration_user_id()

    def phone(self, rng: random.Random) -> str:
        """A US phone number as users type them into Salesforce: ``(512) 555-0142``."""
        return names.phone_number(rng, v.AREA_CODES)

    def place(self, rng: random.Random) -> tuple[str, str, str, str, str, float, float]:
        """(street, city, state, postal code, country, latitude, longitude) of a real US city."""
        city, state, zip_prefix = rng.choice(v.CITIES)
        latitude, longitude = v.COORDINATES[city]
        suite = rng.choice(v.SUITES)
        street = names.street_line(rng, v.STREETS) + (f"\n{suite}" if suite else "")
        jitter = rng.uniform(-0.05, 0.05)
        return (
            street,
            city,
            state,
            names.zip_code(rng, zip_prefix),
            "USA",
            round(latitude + jitter, 6),
            round(longitude - jitter, 6),
        )

    def _pick(self, rng: random.Random, obj: str, name: str, none_share: float = 0.0) -> str | None:
        if none_share and rng.random() < none_share:
            return None
        definition = object_def(obj).field(name)
        assert definition is not None and definition.picklist, f"{obj}.{name} is not a picklist"
        return rng.choice(definition.picklist)

    def _person(self, rng: random.Random) -> tuple[str, str]:
        return rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)

    def _company_name(self, rng: random.Random) -> tuple[str, str]:
        word, kind, suffix = rng.choice(v.COMPANY_WORDS), rng.choice(v.COMPANY_KINDS), rng.choice(v.COMPANY_SUFFIXES)
        domain = names.domain_stem(word, kind) + rng.choice(v.TLDS)
        return f"{word} {kind} {suffix}".strip(), domain

    @staticmethod
    def _set_address(record: Record, prefix: str, parts: tuple[Any, ...] | None, compound: str) -> None:
        street, city, state, postal, country, latitude, longitude = parts or (None,) * 7
        record[f"{prefix}Street"] = street
        record[f"{prefix}City"] = city
        record[f"{prefix}State"] = state
        record[f"{prefix}PostalCode"] = postal
        record[f"{prefix}Country"] = country
        record[f"{prefix}Latitude"] = latitude
        record[f"{prefix}Longitude"] = longitude
        accuracy = "Address" if parts else None
        record[f"{prefix}GeocodeAccuracy"] = accuracy
        record[compound] = address_object(street, city, state, postal, country, latitude, longitude, accuracy)

    def _activity_date(self, rng: random.Random, created: int, updated: int) -> str | None:
        if rng.random() < 0.3:
            return None
        return format_date(rng.randint(created, max(created, updated)))

    # -- objects ------------------------------------------------------------------------------------

    def user(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("User", rng, key, created, updated, pool)
        integration = not pool.users
        if integration:
            first, last = "Integration", "User"
        else:
            first, last = self._person(rng)
        base = f"{first}.{last}".lower().replace("'", "")
        username, suffix = f"{base}@{self.domain}", 1
        while username in pool.used_usernames:
            suffix += 1
            username = f"{base}{suffix}@{self.domain}"
        street, city, state, postal, country, _, _ = self.place(rng)
        active = integration or rng.random() < 0.9
        role = rng.choice(v.USER_TITLES)
        record.update(
            Username=username,
            LastName=last,
            FirstName=first,
            Name=f"{first} {last}",
            CompanyName=f"{self.instance.title()} Managed IT",
            Division=None if integration else rng.choice(v.USER_DIVISIONS),
            Department=None if integration else rng.choice(v.USER_DEPARTMENTS),
            Title=None if integration else role,
            Street=street.split("\n")[0],
            City=city,
            State=state,
            PostalCode=postal,
            Country=country,
            Email=username.replace(f"@{self.domain}", f"@mail.{self.domain}"),
            Phone=self.phone(rng),
            MobilePhone=self.phone(rng) if rng.random() < 0.6 else None,
            Alias=(first[0] + last.replace("'", ""))[:8].lower(),
            CommunityNickname=username.split("@")[0][:40],
            IsActive=active,
            TimeZoneSidKey=rng.choice(v.TIME_ZONES),
            UserRoleId=None if integration else role_id(rng.choice(ROLES)[1]),
            LocaleSidKey="en_US",
            ReceivesInfoEmails=rng.random() < 0.3,
            ReceivesAdminInfoEmails=rng.random() < 0.2,
            EmailEncodingKey="UTF-8",
            ProfileId=profile_id(
                "Salesforce API Only System Integrations"
                if integration
                else ("System Administrator" if rng.random() < 0.15 else "Standard User")
            ),
            UserType="Standard",
            LanguageLocaleKey="en_US",
            EmployeeNumber=None if integration else f"E{key % 100000:05d}",
            ManagerId=str(rng.choice(pool.users[1:])["Id"]) if len(pool.users) > 1 and rng.random() < 0.6 else None,
            LastLoginDate=format_datetime(rng.randint(created, max(created, updated))) if active else None,
            LastPasswordChangeDate=None if integration else format_datetime(created + rng.randint(60, 3 * _DAY)),
            NumberOfFailedLogins=0,
            UserPermissionsMarketingUser=rng.random() < 0.2,
            UserPermissionsSFContentUser=True,
            UserPermissionsSupportUser=role in ("Service Desk Technician", "Service Manager", "Support Engineer"),
            UserPreferencesLightningExperiencePreferred=True,
            UserPreferencesHideS1BrowserUI=rng.random() < 0.5,
            ForecastEnabled=role in ("Account Executive", "Sales Manager"),
            DigestFrequency="D",
            DefaultGroupNotificationFrequency="N",
            FullPhotoUrl=f"https://{self.instance}.file.force.com/profilephoto/005/F",
            SmallPhotoUrl=f"https://{self.instance}.file.force.com/profilephoto/005/T",
            MediumPhotoUrl=f"https://{self.instance}.file.force.com/profilephoto/005/M",
            BannerPhotoUrl="/profilephoto/005/B",
            SmallBannerPhotoUrl="/profilephoto/005/D",
            MediumBannerPhotoUrl="/profilephoto/005/E",
        )
        record["Address"] = address_object(record["Street"], city, state, postal, country, None, None, None)
        return record

    def account(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Account", rng, key, created, updated, pool)
        name, domain = self._company_name(rng)
        billing = self.place(rng)
        kind = rng.choices(
            ("Customer - Direct", "Prospect", "Customer - Channel", "Technology Partner", "Other", None),
            weights=(55, 25, 6, 4, 3, 7),
        )[0]
        self._set_address(record, "Billing", billing, "BillingAddress")
        self._set_address(record, "Shipping", billing if rng.random() < 0.6 else None, "ShippingAddress")
        revenue = rng.choice((None, 250000.0, 750000.0, 1500000.0, 4000000.0, 12000000.0, 45000000.0))
        record.update(
            Name=name,
            Type=kind,
            ParentId=str(rng.choice(pool.accounts)["Id"]) if pool.accounts and rng.random() < 0.06 else None,
            Phone=self.phone(rng),
            Fax=self.phone(rng) if rng.random() < 0.25 else None,
            AccountNumber=f"CD{rng.randint(100000, 999999)}" if rng.random() < 0.7 else None,
            Website=f"www.{domain}",
            PhotoUrl=f"/services/images/photo/{record['Id']}",
            Sic=str(rng.choice((7372, 8011, 8111, 1542, 3599, 8721, 6411, 5812))) if rng.random() < 0.4 else None,
            Industry=self._pick(rng, "Account", "Industry", 0.15),
            AnnualRevenue=revenue,
            NumberOfEmployees=rng.choice((None, 4, 9, 15, 28, 45, 80, 150, 420)),
            Ownership=rng.choices(("Private", "Public", "Subsidiary", None), weights=(70, 5, 5, 20))[0],
            TickerSymbol=None,
            Description=rng.choice(
                (None, None, "Long-standing client; monthly managed services.", "Referred by a partner.")
            ),
            Rating=self._pick(rng, "Account", "Rating", 0.4),
            OwnerId=self._owner(rng, pool),
            LastActivityDate=self._activity_date(rng, created, updated),
            CleanStatus=rng.choice(("Pending", "Pending", None)),
            AccountSource=self._pick(rng, "Account", "AccountSource", 0.3),
            YearStarted=str(rng.randint(1965, 2020)) if rng.random() < 0.3 else None,
            CustomerPriority__c=rng.choice(("High", "Medium", "Low", None)),
            SLA__c=rng.choice(("Gold", "Silver", "Platinum", "Bronze", None)),
            Active__c=rng.choice(("Yes", "Yes", "No", None)),
            NumberofLocations__c=float(rng.choice((1, 1, 2, 3, 5, 12))) if rng.random() < 0.6 else None,
            UpsellOpportunity__c=rng.choice(("Maybe", "No", "Yes", None)),
            SLASerialNumber__c=str(rng.randint(1000, 9999)) if rng.random() < 0.5 else None,
            SLAExpirationDate__c=format_date(created + rng.randint(180, 900) * _DAY) if rng.random() < 0.5 else None,
        )
        return record

    def contact(
        self, rng: random.Random, key: int, created: int, updated: int, pool: Pool, account: Record | None = None
    ) -> Record:
        record = self._base("Contact", rng, key, created, updated, pool)
        if account is None and pool.accounts:
            account = rng.choice(pool.accounts)
        first, last = self._person(rng)
        website = (account or {}).get("Website") or "www.example.com"
        email = f"{first}.{last}".lower().replace("'", "") + "@" + website.removeprefix("www.")
        if account:
            parts = (
                account["BillingStreet"],
                account["BillingCity"],
                account["BillingState"],
                account["BillingPostalCode"],
                account["BillingCountry"],
                account["BillingLatitude"],
                account["BillingLongitude"],
            )
            self._set_address(record, "Mailing", parts, "MailingAddress")
        colleagues = pool.contacts_by_account.get(account["Id"], []) if account else []
        record.update(
            AccountId=account["Id"] if account else None,
            LastName=last,
            FirstName=first,
            Salutation=self._pick(rng, "Contact", "Salutation", 0.5),
            Name=f"{first} {last}",
            Phone=self.phone(rng) if rng.random() < 0.85 else None,
            MobilePhone=self.phone(rng) if rng.random() < 0.5 else None,
            ReportsToId=str(rng.choice(colleagues)["Id"]) if colleagues and rng.random() < 0.3 else None,
            Email=email if rng.random() < 0.95 else None,
            Title=rng.choice(v.TITLES) if rng.random() < 0.85 else None,
            Department=rng.choice(v.DEPARTMENTS) if rng.random() < 0.6 else None,
            LeadSource=self._pick(rng, "Contact", "LeadSource", 0.4),
            Birthdate=format_date(created - rng.randint(22 * 365, 64 * 365) * _DAY) if rng.random() < 0.2 else None,
            OwnerId=(account or {}).get("OwnerId") or self._owner(rng, pool),
            LastActivityDate=self._activity_date(rng, created, updated),
            PhotoUrl=f"/services/images/photo/{record['Id']}",
            CleanStatus=rng.choice(("Pending", "Pending", None)),
            IsPriorityRecord=rng.random() < 0.05,
            Level__c=rng.choice(("Primary", "Secondary", "Tertiary", None)),
            Languages__c=rng.choice(("English", "English", "Spanish", "English;Spanish", None)),
        )
        return record

    def opportunity(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Opportunity", rng, key, created, updated, pool)
        account = rng.choice(pool.accounts) if pool.accounts else None
        product = rng.choice(v.PRODUCTS)
        stage = rng.choices(v.STAGES, weights=(8, 8, 7, 7, 5, 4, 7, 6, 28, 20))[0]
        amount = float(rng.choice((2400, 6000, 9500, 15000, 24000, 48000, 72000, 120000)))
        close = created + rng.randint(20, 150) * _DAY
        if stage[3]:
            close = min(close, max(created, updated))
        contacts = pool.contacts_by_account.get(account["Id"], []) if account else []
        stage_name, probability, forecast, closed, won = stage
        category = forecast_category(probability, forecast)
        close_date = format_date(close)
        record.update(
            AccountId=account["Id"] if account else None,
            IsPrivate=False,
            Name=f"{account['Name'] if account else 'New Customer'} - {product}",
            Description=rng.choice((None, None, f"{product} for {rng.randint(5, 150)} seats.")),
            StageName=stage_name,
            Amount=amount,
            Probability=float(probability),
            ExpectedRevenue=round(amount * probability / 100, 2),
            TotalOpportunityQuantity=float(rng.randint(1, 150)) if rng.random() < 0.4 else None,
            CloseDate=close_date,
            Type=self._pick(rng, "Opportunity", "Type", 0.2),
            NextStep=None if closed else rng.choice(v.NEXT_STEPS),
            LeadSource=self._pick(rng, "Opportunity", "LeadSource", 0.3),
            IsClosed=closed,
            IsWon=won,
            ForecastCategory=category[0],
            ForecastCategoryName=category[1],
            OwnerId=(account or {}).get("OwnerId") or self._owner(rng, pool),
            LastActivityDate=self._activity_date(rng, created, updated),
            FiscalQuarter=(int(close_date[5:7]) - 1) // 3 + 1,
            FiscalYear=int(close_date[:4]),
            Fiscal=f"{close_date[:4]} {(int(close_date[5:7]) - 1) // 3 + 1}",
            ContactId=str(rng.choice(contacts)["Id"]) if contacts and rng.random() < 0.5 else None,
            HasOpenActivity=not closed and rng.random() < 0.4,
            HasOverdueTask=not closed and rng.random() < 0.1,
            PushCount=rng.choice((0, 0, 0, 1, 1, 2, 3)),
            LastStageChangeDate=format_datetime(rng.randint(created, max(created, updated))),
            DeliveryInstallationStatus__c=rng.choice(("In progress", "Yet to begin", "Completed", None))
            if won
            else None,
            TrackingNumber__c=f"TN{rng.randint(10**8, 10**9 - 1)}" if won and rng.random() < 0.5 else None,
            OrderNumber__c=str(rng.randint(100000, 999999)) if won else None,
            CurrentGenerators__c=rng.choice(v.GENERATOR_BRANDS),
            MainCompetitors__c=rng.choice(v.COMPETITORS),
        )
        return record

    def lead(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Lead", rng, key, created, updated, pool)
        first, last = self._person(rng)
        company, domain = self._company_name(rng)
        street, city, state, postal, country, latitude, longitude = self.place(rng)
        status = rng.choices(v.LEAD_STATUSES, weights=(30, 30, 20, 20))[0]
        converted = status == "Closed - Converted" and bool(pool.accounts)
        account = rng.choice(pool.accounts) if converted else None
        contacts = pool.contacts_by_account.get(account["Id"], []) if account else []
        opportunities = [o for o in pool.opportunities[-50:] if account and o["AccountId"] == account["Id"]]
        record.update(
            LastName=last,
            FirstName=first,
            Salutation=self._pick(rng, "Lead", "Salutation", 0.5),
            Name=f"{first} {last}",
            Title=rng.choice(v.TITLES) if rng.random() < 0.7 else None,
            Company=company,
            Street=street,
            City=city,
            State=state,
            PostalCode=postal,
            Country=country,
            Latitude=latitude,
            Longitude=longitude,
            GeocodeAccuracy="Address",
            Address=address_object(street, city, state, postal, country, latitude, longitude, "Address"),
            Phone=self.phone(rng),
            MobilePhone=self.phone(rng) if rng.random() < 0.4 else None,
            Email=f"{first[0]}{last}".lower().replace("'", "") + f"@{domain}",
            Website=f"www.{domain}" if rng.random() < 0.6 else None,
            Description=rng.choice((None, None, "Asked for a quote on managed services.", "Met at a trade show.")),
            LeadSource=self._pick(rng, "Lead", "LeadSource", 0.2),
            Status=status if (converted or status != "Closed - Converted") else "Closed - Not Converted",
            Industry=self._pick(rng, "Lead", "Industry", 0.3),
            Rating=self._pick(rng, "Lead", "Rating", 0.4),
            AnnualRevenue=rng.choice((None, 500000.0, 2000000.0, 8000000.0)),
            NumberOfEmployees=rng.choice((None, 5, 12, 30, 75, 200)),
            OwnerId=self._owner(rng, pool),
            IsConverted=converted,
            ConvertedDate=format_date(max(created, updated)) if converted else None,
            ConvertedAccountId=account["Id"] if account else None,
            ConvertedContactId=str(rng.choice(contacts)["Id"]) if contacts else None,
            ConvertedOpportunityId=str(rng.choice(opportunities)["Id"]) if opportunities else None,
            IsUnreadByOwner=rng.random() < 0.2 and status == "Open - Not Contacted",
            LastActivityDate=self._activity_date(rng, created, updated),
            CleanStatus=rng.choice(("Pending", None)),
            IsPriorityRecord=rng.random() < 0.05,
            SICCode__c=str(rng.randint(1000, 9999)) if rng.random() < 0.3 else None,
            ProductInterest__c=rng.choice(v.LEAD_PRODUCTS) if rng.random() < 0.5 else None,
            Primary__c=rng.choice(("Yes", "No", None)),
            CurrentGenerators__c=rng.choice(v.GENERATOR_BRANDS),
            NumberofLocations__c=float(rng.randint(1, 8)) if rng.random() < 0.4 else None,
        )
        return record

    def case(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Case", rng, key, created, updated, pool)
        contact = rng.choice(pool.contacts) if pool.contacts and rng.random() < 0.92 else None
        account_id = contact["AccountId"] if contact else (rng.choice(pool.accounts)["Id"] if pool.accounts else None)
        status = rng.choices(v.CASE_STATUS_FLOW, weights=(12, 14, 4, 70))[0]
        closed = status == "Closed"
        origin = self._pick(rng, "Case", "Origin")
        queued = status == "New" and rng.random() < 0.5
        supplier = contact if origin == "Web" else None  # a web case names who sent it
        record.update(
            CaseNumber=f"{key - OBJECTS['Case'].first_key + 1001:08d}",
            ContactId=contact["Id"] if contact else None,
            AccountId=account_id,
            ParentId=str(rng.choice(pool.cases)["Id"]) if pool.cases and rng.random() < 0.03 else None,
            SuppliedName=supplier["Name"] if supplier is not None else None,
            SuppliedEmail=supplier["Email"] if supplier is not None else None,
            SuppliedPhone=supplier["Phone"] if supplier is not None else None,
            Type=self._pick(rng, "Case", "Type", 0.2),
            Status=status,
            Reason=self._pick(rng, "Case", "Reason", 0.3),
            Origin=origin,
            Subject=rng.choice(v.CASE_SUBJECTS),
            Priority=rng.choices(("High", "Medium", "Low"), weights=(2, 5, 3))[0],
            Description=rng.choice(v.CASE_DESCRIPTIONS),
            IsClosed=closed,
            ClosedDate=format_datetime(max(created, updated - rng.randint(0, 2 * _HOUR))) if closed else None,
            IsEscalated=status == "Escalated" or rng.random() < 0.04,
            OwnerId=SUPPORT_QUEUE_ID if queued else self._owner(rng, pool),
            ContactPhone=contact["Phone"] if contact else None,
            ContactMobile=contact["MobilePhone"] if contact else None,
            ContactEmail=contact["Email"] if contact else None,
            ContactFax=contact["Fax"] if contact else None,
            Comments=rng.choice(v.CASE_COMMENTS) if closed else None,
            EngineeringReqNumber__c=str(rng.randint(100000, 999999)) if rng.random() < 0.1 else None,
            SLAViolation__c=rng.choice(("No", "No", "No", "Yes", None)),
            Product__c=rng.choice(v.CASE_PRODUCTS) if rng.random() < 0.4 else None,
            PotentialLiability__c=rng.choice(("No", "No", "Yes", None)),
        )
        return record

    def _who_what(self, rng: random.Random, pool: Pool) -> tuple[Record | None, str | None, str | None]:
        """(who record, WhatId, AccountId) of an activity: a contact and something of its account, or a lead."""
        if pool.leads and rng.random() < 0.2:
            return rng.choice(pool.leads), None, None
        contact = rng.choice(pool.contacts) if pool.contacts and rng.random() < 0.85 else None
        account_id = contact["AccountId"] if contact else (rng.choice(pool.accounts)["Id"] if pool.accounts else None)
        roll = rng.random()
        what: str | None = account_id
        if roll < 0.3 and pool.cases:
            case = rng.choice(pool.cases[-200:])
            what, account_id = case["Id"], case["AccountId"]
        elif roll < 0.5 and pool.opportunities:
            opportunity = rng.choice(pool.opportunities[-200:])
            what, account_id = opportunity["Id"], opportunity["AccountId"]
        elif roll > 0.9:
            what = None
        return contact, what, account_id

    def task(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Task", rng, key, created, updated, pool)
        who, what, account_id = self._who_what(rng, pool)
        subject = rng.choices(v.TASK_SUBJECTS, weights=(40, 30, 5, 10, 15))[0]
        status = rng.choices(v.TASK_STATUSES, weights=(15, 10, 65, 5, 5))[0]
        priority = rng.choices(("High", "Normal", "Low"), weights=(2, 7, 1))[0]
        completed = status == "Completed"
        call = subject == "Call"
        due = created + rng.randint(0, 14) * _DAY
        reminder = not completed and rng.random() < 0.3
        record.update(
            WhoId=who["Id"] if who else None,
            WhatId=what,
            Subject=subject if rng.random() < 0.7 else f"{subject}: {rng.choice(v.PRODUCTS)}",
            ActivityDate=format_date(due) if rng.random() < 0.85 else None,
            Status=status,
            Priority=priority,
            IsHighPriority=priority == "High",
            OwnerId=self._owner(rng, pool),
            Description=rng.choice(v.TASK_DESCRIPTIONS),
            AccountId=account_id,
            IsClosed=completed,
            IsArchived=False,
            CallDurationInSeconds=rng.randint(30, 1800) if call and completed else None,
            CallType=rng.choice(("Inbound", "Outbound", "Outbound")) if call else None,
            CallDisposition=rng.choice(v.CALL_DISPOSITIONS) if call and completed else None,
            ReminderDateTime=format_datetime(due - due % _DAY + 9 * _HOUR) if reminder else None,
            IsReminderSet=reminder,
            TaskSubtype="Call" if call else ("Email" if subject == "Email" else "Task"),
            CompletedDateTime=format_datetime(max(created, updated)) if completed else None,
        )
        return record

    def event(self, rng: random.Random, key: int, created: int, updated: int, pool: Pool) -> Record:
        record = self._base("Event", rng, key, created, updated, pool)
        who, what, account_id = self._who_what(rng, pool)
        all_day = rng.random() < 0.08
        start = created + rng.randint(1, 30) * _DAY
        start = start - start % _DAY + (0 if all_day else rng.choice((8, 9, 10, 11, 13, 14, 15, 16)) * _HOUR)
        minutes = 1440 if all_day else rng.choice((15, 30, 30, 60, 60, 90, 120))
        end = start + minutes * 60
        reminder = rng.random() < 0.5
        record.update(
            WhoId=who["Id"] if who else None,
            WhatId=what,
            Subject=rng.choice(v.EVENT_SUBJECTS),
            Location=rng.choice(v.EVENT_LOCATIONS),
            IsAllDayEvent=all_day,
            ActivityDateTime=format_datetime(start),
            ActivityDate=format_date(start),
            DurationInMinutes=minutes,
            StartDateTime=format_datetime(start),
            EndDateTime=format_datetime(end),
            EndDate=format_date(end - 1 if all_day else end),
            Description=rng.choice((None, None, "Agenda sent by email.", "Bring the network diagram.")),
            AccountId=account_id,
            OwnerId=self._owner(rng, pool),
            IsPrivate=rng.random() < 0.03,
            ShowAs=rng.choice(("Busy", "Busy", "Busy", "Free", "OutOfOffice")),
            IsChild=False,
            IsGroupEvent=False,
            GroupEventType="0",
            IsArchived=False,
            IsRecurrence=False,
            ReminderDateTime=format_datetime(start - 15 * 60) if reminder else None,
            IsReminderSet=reminder,
            EventSubtype="Event",
            IsRecurrence2=False,
            IsRecurrence2Exclusion=False,
            IsRecurrence2Exception=False,
        )
        return record


def forecast_category(probability: int, forecast: str) -> tuple[str, str]:
    """(ForecastCategory, ForecastCategoryName) of a stage."""
    if forecast != "Pipeline":
        return forecast, forecast
    if probability >= 75:
        return "Forecast", "Commit"
    if probability >= 50:
        return "BestCase", "Best Case"
    return "Pipeline", "Pipeline"


def stage(name: str) -> tuple[str, int, str, bool, bool]:
    """The (name, probability, forecast, closed, won) tuple of a stage name (first stage if unknown)."""
    for item in v.STAGES:
        if item[0] == name:
            return item
    return v.STAGES[0]
