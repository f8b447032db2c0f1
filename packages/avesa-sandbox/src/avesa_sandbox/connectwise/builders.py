"""One ConnectWise record of any table, with the real shapes: ``RecordFactory`` builds them — for an
instance's initial data (generate.py) and for inserts at run time, stamped with the time the
caller gives — from a random generator and a ``Pool`` of the records they may reference. Like the
real API, fields without a value are left out."""

from __future__ import annotations

import bisect
import random
import string
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from avesa_sandbox import names
from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.connectwise import vocab as v
from avesa_sandbox.connectwise.references import References

Record = dict[str, Any]

WINDOW_START = parse_epoch("2024-01-01T00:00:00Z")
WINDOW_END = parse_epoch("2025-12-31T23:59:59Z")

_HOUR = 3600
_DAY = 86400

CUSTOM_FIELDS: dict[str, tuple[tuple[int, str, str, str, int], ...]] = {
    "company/companies": (
        (1, "Region", "Text", "List", 0),
        (2, "Onboarded", "Checkbox", "EntryField", 0),
        (3, "Contract Seats", "Number", "EntryField", 0),
    ),
    "company/contacts": ((4, "Preferred Contact Method", "Text", "List", 0), (5, "VIP", "Checkbox", "EntryField", 0)),
    "service/tickets": ((6, "Root Cause", "Text", "List", 0), (7, "After Hours", "Checkbox", "EntryField", 0)),
    "time/entries": ((8, "Mileage", "Number", "EntryField", 1),),
    "finance/agreements": ((9, "Renewal Reminder Sent", "Date", "EntryField", 0),),
    "project/projects": ((10, "Project Code", "Text", "EntryField", 0),),
    "system/members": ((11, "Certifications", "TextArea", "EntryField", 0),),
    "procurement/products": ((12, "Asset Tag", "Text", "EntryField", 0),),
    "company/configurations": (
        (13, "RMM Agent Installed", "Checkbox", "EntryField", 0),
        (14, "Lifecycle Stage", "Text", "List", 0),
    ),
    "sales/opportunities": ((15, "Estimated MRR", "Currency", "EntryField", 2), (16, "Competitor", "Text", "List", 0)),
    "project/tickets": ((17, "Billable Milestone", "Checkbox", "EntryField", 0),),
}
"""Per table: (id, caption, type, entryMethod, numberOfDecimals) of its custom fields."""


def _guid(rng: random.Random) -> str:
    """A random (version 4 layout) GUID from ``rng``: deterministic, and cheaper than ``uuid.UUID``."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def rng_for(seed: int | str, instance: str, purpose: str) -> random.Random:
    """A random generator determined by (seed, instance, purpose) alone (string seeds hash stably)."""
    return random.Random(f"{seed}/{instance}/{purpose}")


@dataclass
class Pool:
    """Existing records new records may reference (filled during generation, or from live tables)."""

    members: list[Record] = field(default_factory=list)
    companies: list[Record] = field(default_factory=list)
    contacts_by_company: dict[int, list[Record]] = field(default_factory=lambda: defaultdict(list))
    agreements_by_company: dict[int, list[Record]] = field(default_factory=lambda: defaultdict(list))
    tickets: list[Record] = field(default_factory=list)
    projects: list[Record] = field(default_factory=list)
    used_identifiers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _company_entered: list[int] = field(default_factory=list)

    def set_companies(self, companies: list[Record]) -> None:
        """Companies ordered by when they were entered (so new records can pick one that existed)."""
        self.companies = sorted(companies, key=lambda c: (c["_info"].get("dateEntered", ""), c["id"]))
        self._company_entered = [parse_epoch(c["_info"]["dateEntered"]) for c in self.companies]

    def company_at(self, rng: random.Random, when: int) -> Record:
        """A random company that already existed at ``when`` (the oldest one if none did)."""
        existing = bisect.bisect_right(self._company_entered, when) if self._company_entered else 0
        return self.companies[rng.randrange(max(existing, 1))]

    @classmethod
    def from_tables(cls, tables: dict[str, dict[int, Record]]) -> Pool:
        """A pool over live tables (endpoint -> id -> record)."""
        pool = cls()
        pool.members = list(tables.get("system/members", {}).values())
        pool.set_companies(list(tables.get("company/companies", {}).values()))
        for contact in tables.get("company/contacts", {}).values():
            company = contact.get("company")
            if company:
                pool.contacts_by_company[company["id"]].append(contact)
        for agreement in tables.get("finance/agreements", {}).values():
            pool.agreements_by_company[agreement["company"]["id"]].append(agreement)
        pool.tickets = list(tables.get("service/tickets", {}).values())
        pool.projects = list(tables.get("project/projects", {}).values())
        pool.used_identifiers["system/members"] = {m["identifier"].lower() for m in pool.members}
        pool.used_identifiers["company/companies"] = {c["identifier"].lower() for c in pool.companies}
        return pool


class RecordFactory:
    """Builds single records of each table for one instance (generation and run-time inserts)."""

    def __init__(self, refs: References) -> None:
        self.refs = refs
        self._custom_field_lists: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._member_refs: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.builders: dict[str, Callable[[random.Random, int, int, int, Pool], Record]] = {
            "system/members": self.member,
            "company/companies": self.company,
            "company/contacts": self.contact,
            "finance/agreements": self.agreement,
            "project/projects": self.project,
            "service/tickets": self.ticket,
            "time/entries": self.time_entry,
            "procurement/products": self.product,
        }
        from avesa_sandbox.connectwise import extra_tables  # boards, configurations, ... (imports this module)

        self.builders.update(extra_tables.builders(self))

    def build(self, table: str, rng: random.Random, record_id: int, entered: int, updated: int, pool: Pool) -> Record:
        """A new record of ``table`` entered at ``entered`` and last updated at ``updated``."""
        return self.builders[table](rng, record_id, entered, updated, pool)

    # -- shared pieces ------------------------------------------------------------------------------

    def _by(self, rng: random.Random, pool: Pool) -> str:
        if pool.members and rng.random() < 0.85:
            return rng.choice(pool.members)["identifier"]
        return v.API_MEMBER

    def _info(
        self, base: str, links: tuple[str, ...], entered: int | None, updated: int, by: str, entered_by: str | None
    ) -> dict[str, str]:
        info = {"lastUpdated": format_epoch(updated), "updatedBy": by}
        if entered is not None:
            info["dateEntered"] = format_epoch(entered)
            info["enteredBy"] = entered_by or by
        info.update(self.refs.links(base, links))
        return info

    def _custom_fields(self, table: str, rng: random.Random, values: dict[int, Any]) -> list[dict[str, Any]]:
        """The table's custom fields with these values; identical lists are shared (records are immutable)."""
        key = ("customFields", table, tuple(sorted((k, type(v).__name__, v) for k, v in values.items())))
        cached = self._custom_field_lists.get(key)
        if cached is None:
            cached = [
                {
                    "id": fid,
                    "caption": caption,
                    "type": ftype,
                    "entryMethod": method,
                    "numberOfDecimals": decimals,
                    **({"value": values[fid]} if values.get(fid) is not None else {}),
                }
                for fid, caption, ftype, method, decimals in CUSTOM_FIELDS[table]
            ]
            if len(self._custom_field_lists) < 100_000:
                self._custom_field_lists[key] = cached
        return cached

    def _phone(self, rng: random.Random) -> str:
        return f"{rng.choice(v.AREA_CODES)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"

    def _person(self, rng: random.Random) -> tuple[str, str]:
        return rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)

    def _ref(self, kind: str, item: tuple[Any, ...], **link: int) -> dict[str, Any]:
        return self.refs.ref(kind, item[0], name=item[1], link=link or None)

    def company_ref(self, company: Record) -> dict[str, Any]:
        return self.refs.ref("company", company["id"], identifier=company["identifier"], name=company["name"])

    def contact_ref(self, contact: Record) -> dict[str, Any]:
        return self.refs.ref("contact", contact["id"], name=f"{contact['firstName']} {contact['lastName']}")

    def member_ref(self, member: Record) -> dict[str, Any]:
        key = (member["id"], member["identifier"], member["firstName"], member["lastName"])
        cached = self._member_refs.get(key)
        if cached is None:
            name = f"{member['firstName']} {member['lastName']}"
            cached = self._member_refs[key] = self.refs.ref(
                "member", member["id"], identifier=member["identifier"], name=name
            )
        return cached

    def agreement_ref(self, agreement: Record) -> dict[str, Any]:
        return self.refs.ref("agreement", agreement["id"], name=agreement["name"], type=agreement["type"]["name"])

    def ticket_ref(self, ticket: Record) -> dict[str, Any]:
        return self.refs.ref("ticket", ticket["id"], summary=ticket["summary"])

    def _unique(self, pool: Pool, table: str, candidate: str, limit: int) -> str:
        used = pool.used_identifiers[table]
        base = candidate[:limit]
        value, suffix = base, 1
        while value.lower() in used:
            suffix += 1
            value = f"{base[: limit - len(str(suffix))]}{suffix}"
        used.add(value.lower())
        return value

    def _address(self, rng: random.Random) -> tuple[str, str, str, str, str]:
        city, state, zip_prefix = rng.choice(v.CITIES)
        line1 = names.street_line(rng, v.STREET_NAMES)
        return line1, rng.choice(v.SUITES), city, state, names.zip_code(rng, zip_prefix)

    # -- tables -------------------------------------------------------------------------------------

    def member(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        first, last = self._person(rng)
        identifier = self._unique(pool, "system/members", f"{first[0]}{last}".lower().replace("'", ""), 15)
        inactive = rng.random() < 0.08
        work_role = rng.choice(v.WORK_ROLES)
        record: Record = {
            "id": rid,
            "identifier": identifier,
            "disableOnlineFlag": False,
            "licenseClass": "F" if rng.random() < 0.9 else "A",
            "inactiveFlag": inactive,
            "firstName": first,
            "lastName": last,
            "hireDate": format_epoch(entered - rng.randint(30, 2000) * _DAY),
            "country": self._ref("country", v.COUNTRIES[0]),
            "officeEmail": f"{identifier}@msp.example.com",
            "defaultEmail": "Office",
            "primaryEmail": f"{identifier}@msp.example.com",
            "officePhone": self._phone(rng),
            "defaultPhone": "Office",
            "securityRole": self._ref("security_role", rng.choice(v.SECURITY_ROLES)),
            "title": rng.choice(v.MEMBER_TITLES),
            "type": self._ref("member_type", rng.choice(v.MEMBER_TYPES)),
            "timeZone": self._ref("time_zone", rng.choice(v.TIME_ZONES)),
            "adminFlag": rng.random() < 0.1,
            "defaultLocation": self._ref("location", v.LOCATIONS[0]),
            "defaultDepartment": self.refs.ref("system_department", 10, identifier="SVC", name="Services"),
            "workRole": self._ref("work_role", work_role),
            "workType": self.refs.ref("work_type", 1, name="Regular", utilizationFlag=True),
            "dailyCapacity": 8.0,
            "hourlyCost": float(rng.choice((35, 42, 50, 58, 65))),
            "hourlyRate": float(rng.choice((125, 150, 175, 195))),
            "includeInUtilizationReportingFlag": True,
            "requireTimeSheetEntryFlag": True,
            "serviceDefaultBoard": self._ref("board", rng.choice(v.SERVICE_BOARDS)),
            "_info": self._info(f"system/members/{rid}", ("image",), entered, updated, self._by(rng, pool), None),
            "customFields": self._custom_fields(
                "system/members", rng, {11: rng.choice((None, "CompTIA A+", "CCNA", "MS-900, AZ-104"))}
            ),
        }
        if inactive:
            record["inactiveDate"] = format_epoch(updated)
        if rng.random() < 0.5:
            record["mobilePhone"] = self._phone(rng)
        if pool.members and rng.random() < 0.7:
            record["reportsTo"] = self.member_ref(rng.choice(pool.members))
        return record

    def company(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        word, kind = rng.choice(v.COMPANY_WORDS), rng.choice(v.COMPANY_KINDS)
        suffix = rng.choice(v.COMPANY_SUFFIXES)
        name = f"{word} {kind} {suffix}".strip()[:50]
        identifier = self._unique(pool, "company/companies", f"{word}{kind.split()[0]}".replace("&", ""), 30)
        domain = names.domain_stem(word, kind) + rng.choice(v.DOMAINS_TLD)
        line1, line2, city, state, zip_code = self._address(rng)
        status = rng.choice(v.COMPANY_STATUSES)
        company_type = rng.choice(v.COMPANY_TYPES)
        record: Record = {
            "id": rid,
            "identifier": identifier,
            "name": name,
            "status": self._ref("company_status", status),
            "addressLine1": line1,
            "city": city,
            "state": state,
            "zip": zip_code,
            "country": self._ref("country", v.COUNTRIES[0]),
            "phoneNumber": self._phone(rng),
            "website": f"www.{domain}",
            "territory": self._ref("location", rng.choice(v.TERRITORIES)),
            "market": self._ref("market", rng.choice(v.MARKETS)),
            "accountNumber": f"{rid:06d}",
            "dateAcquired": format_epoch(entered - entered % _DAY),
            "annualRevenue": float(rng.choice((0, 250000, 750000, 1500000, 4000000, 12000000))),
            "numberOfEmployees": rng.choice((3, 8, 12, 25, 40, 75, 150, 400)),
            "ownershipType": self._ref("ownership_type", rng.choice(v.OWNERSHIP_TYPES)),
            "timeZoneSetup": self._ref("time_zone", rng.choice(v.TIME_ZONES)),
            "leadSource": rng.choice(v.LEAD_SOURCES),
            "leadFlag": company_type[1] == "Prospect",
            "unsubscribeFlag": False,
            "taxCode": self._ref("tax_code", rng.choice(v.TAX_CODES)),
            "billingTerms": self._ref("billing_terms", rng.choice(v.BILLING_TERMS)),
            "invoiceDeliveryMethod": self._ref("delivery_method", rng.choice(v.DELIVERY_METHODS)),
            "invoiceToEmailAddress": f"ap@{domain}",
            "deletedFlag": False,
            "mobileGuid": _guid(rng),
            "currency": self._currency(),
            "isVendorFlag": company_type[1] == "Vendor",
            "types": [self._ref("company_type", company_type)],
            "site": self.refs.ref("site", rid * 10 + 1, name="Main", link={"company": rid}),
            "_info": self._info(
                f"company/companies/{rid}",
                ("contacts", "agreements", "tickets", "sites", "notes", "documents"),
                entered,
                updated,
                self._by(rng, pool),
                None,
            ),
            "customFields": self._custom_fields(
                "company/companies",
                rng,
                {
                    1: rng.choice(("East", "West", "Central", None)),
                    2: rng.random() < 0.8,
                    3: rng.choice((None, 5, 10, 25, 50)),
                },
            ),
        }
        if line2:
            record["addressLine2"] = line2
        if rng.random() < 0.3:
            record["faxNumber"] = self._phone(rng)
        if pool.members and rng.random() < 0.6:
            record["territoryManager"] = self.member_ref(rng.choice(pool.members))
        return record

    def _currency(self) -> dict[str, Any]:
        key = ("currency", 7, (), ())
        cached = self.refs._interned.get(key)
        if cached is None:
            cached = {**v.CURRENCY_USD, "_info": {"currency_href": self.refs.url("finance/currencies/7")}}
            self.refs._interned[key] = cached
        return cached

    def contact(
        self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool, company: Record | None = None
    ) -> Record:
        company = company or rng.choice(pool.companies)
        first, last = self._person(rng)
        domain = company.get("website", "www.example.com").removeprefix("www.")
        email = f"{first}.{last}".lower().replace("'", "") + f"@{domain}"
        phone = self._phone(rng)
        items: list[dict[str, Any]] = [
            {
                "id": rid * 3,
                "type": self.refs.ref("communication_type", 1, name="Email"),
                "value": email,
                "defaultFlag": True,
                "domain": f"@{domain}",
                "communicationType": "Email",
            },
        ]
        if rng.random() < 0.7:
            items.append(
                {
                    "id": rid * 3 + 1,
                    "type": self.refs.ref("communication_type", 2, name="Direct"),
                    "value": phone,
                    "defaultFlag": True,
                    "communicationType": "Phone",
                }
            )
        if rng.random() < 0.4:
            items.append(
                {
                    "id": rid * 3 + 2,
                    "type": self.refs.ref("communication_type", 4, name="Mobile"),
                    "value": self._phone(rng),
                    "defaultFlag": False,
                    "communicationType": "Phone",
                }
            )
        record: Record = {
            "id": rid,
            "firstName": first,
            "lastName": last,
            "company": self.company_ref(company),
            "site": company.get("site"),
            "addressLine1": company.get("addressLine1"),
            "city": company.get("city"),
            "state": company.get("state"),
            "zip": company.get("zip"),
            "country": company.get("country"),
            "relationship": self._ref("relationship", rng.choice(v.RELATIONSHIPS)),
            "department": self._ref("contact_department", rng.choice(v.DEPARTMENTS)),
            "inactiveFlag": rng.random() < 0.07,
            "title": rng.choice(v.TITLES),
            "marriedFlag": False,
            "childrenFlag": False,
            "disablePortalLoginFlag": rng.random() < 0.5,
            "unsubscribeFlag": rng.random() < 0.05,
            "gender": rng.choice(("Female", "Male", None)),
            "presence": "NoAgent",
            "mobileGuid": _guid(rng),
            "defaultPhoneType": "Direct" if len(items) > 1 else None,
            "defaultPhoneNbr": phone if len(items) > 1 else None,
            "defaultBillingFlag": False,
            "defaultFlag": False,
            "companyLocation": self._ref("location", v.LOCATIONS[0]),
            "communicationItems": items,
            "types": [self._ref("contact_type", rng.choice(v.CONTACT_TYPES))],
            "ignoreDuplicates": False,
            "_info": self._info(
                f"company/contacts/{rid}",
                ("communications", "notes", "image", "portalSecurity"),
                entered,
                updated,
                self._by(rng, pool),
                None,
            ),
            "customFields": self._custom_fields(
                "company/contacts",
                rng,
                {
                    4: rng.choice(("Email", "Phone", "Text", None)),
                    5: rng.random() < 0.1,
                },
            ),
        }
        if rng.random() < 0.3:
            record["portalPassword"] = "".join(rng.choices(string.ascii_letters + string.digits, k=12))
            record["portalSecurityLevel"] = rng.choice((1, 3, 5, 6))
        return {k: value for k, value in record.items() if value is not None and value != ""}

    def agreement(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        company = pool.company_at(rng, entered)
        if not pool.contacts_by_company.get(company["id"]):
            # a company created at run time has no contacts yet, and an agreement needs one: take the
            # newest company that has (no random draw, so generated data, where every company has a
            # contact, is unchanged)
            company = next((c for c in reversed(pool.companies) if pool.contacts_by_company.get(c["id"])), company)
        found = pool.contacts_by_company.get(company["id"])
        contacts: list[Record | None] = [*found] if found else [None]  # [None]: still one draw, as before
        contact = rng.choice(contacts)
        agreement_type = rng.choice(v.AGREEMENT_TYPES)
        status = rng.choice(v.AGREEMENT_STATUSES)
        start = entered - entered % _DAY
        no_end = rng.random() < 0.5
        record: Record = {
            "id": rid,
            "name": f"{company['name'][:30]} - {agreement_type[1]}",
            "type": self._ref("agreement_type", agreement_type),
            "company": self.company_ref(company),
            "contact": self.contact_ref(contact) if contact else None,
            "site": company.get("site"),
            "location": self._ref("location", v.LOCATIONS[0]),
            "department": self.refs.ref("system_department", 10, identifier="SVC", name="Services"),
            "restrictLocationFlag": False,
            "restrictDepartmentFlag": False,
            "startDate": format_epoch(start),
            "endDate": None if no_end else format_epoch(start + 365 * _DAY),
            "noEndingDateFlag": no_end,
            "cancelledFlag": status == "Cancelled",
            "dateCancelled": format_epoch(updated - updated % _DAY) if status == "Cancelled" else None,
            "reasonCancelled": "Customer moved to another provider" if status == "Cancelled" else None,
            "applicationUnits": rng.choice(v.APPLICATION_UNITS),
            "applicationLimit": float(rng.choice((0, 10, 20, 40))),
            "applicationCycle": "CalendarMonth",
            "applicationUnlimitedFlag": rng.random() < 0.5,
            "oneTimeFlag": False,
            "coverAgreementTime": True,
            "coverAgreementProduct": False,
            "coverAgreementExpense": False,
            "coverSalesTax": False,
            "carryOverUnused": False,
            "allowOverruns": True,
            "chargeToFirm": False,
            "employeeCompRate": "Actual",
            "employeeCompNotExceed": "Billing",
            "billingCycle": self._ref("billing_cycle", rng.choice(v.BILLING_CYCLES)),
            "billOneTimeFlag": False,
            "billingTerms": self._ref("billing_terms", rng.choice(v.BILLING_TERMS)),
            "invoicingCycle": "ContractYear",
            "billToCompany": self.company_ref(company),
            "billAmount": float(rng.choice((250, 499, 1200, 2400, 3750, 6800))),
            "taxable": rng.random() < 0.3,
            "prorateFlag": True,
            "invoiceDescription": f"{agreement_type[1]} for {company['name'][:30]}",
            "billTime": "Billable",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "currency": self._currency(),
            "periodType": "Current",
            "autoInvoiceFlag": False,
            "agreementStatus": status,
            "_info": self._info(
                f"finance/agreements/{rid}",
                ("additions", "adjustments", "sites"),
                entered,
                updated,
                self._by(rng, pool),
                None,
            ),
            "customFields": self._custom_fields(
                "finance/agreements",
                rng,
                {
                    9: format_epoch(start + 330 * _DAY) if rng.random() < 0.3 else None,
                },
            ),
        }
        return {k: value for k, value in record.items() if value is not None}

    def project(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        company = pool.company_at(rng, entered)
        contact = rng.choice(pool.contacts_by_company.get(company["id"]) or [None])
        manager = rng.choice(pool.members) if pool.members else None
        status = rng.choice(v.PROJECT_STATUSES)
        start = entered - entered % _DAY
        end = start + rng.randint(14, 120) * _DAY
        budget = float(rng.choice((20, 40, 80, 120, 240)))
        done = status[2]
        percent = 1.0 if done else round(rng.random(), 2)
        record: Record = {
            "id": rid,
            "actualHours": round(budget * percent * rng.uniform(0.7, 1.3), 2),
            "actualStart": format_epoch(start) if percent > 0 else None,
            "actualEnd": format_epoch(max(start, min(end, updated))) if done else None,
            "billExpenses": "Billable",
            "billingAmount": budget * 150.0,
            "billingMethod": rng.choice(v.BILLING_METHODS),
            "billingRateType": "WorkRole",
            "billProducts": "Billable",
            "billTime": "Billable",
            "billToCompany": self.company_ref(company),
            "board": self._ref("project_board", rng.choice(v.PROJECT_BOARDS)),
            "budgetAnalysis": "ActualHours",
            "budgetFlag": True,
            "budgetHours": budget,
            "company": self.company_ref(company),
            "contact": self.contact_ref(contact) if contact else None,
            "description": f"{rng.choice(v.PROJECT_NAMES)} for {company['name']}",
            "currency": self._currency(),
            "estimatedEnd": format_epoch(end),
            "percentComplete": percent,
            "estimatedHours": budget,
            "estimatedStart": format_epoch(start),
            "location": self._ref("location", v.LOCATIONS[0]),
            "department": self.refs.ref("system_department", 11, identifier="PRJ", name="Projects"),
            "manager": self.member_ref(manager) if manager else None,
            "name": f"{rng.choice(v.PROJECT_NAMES)} - {company['identifier']}"[:50],
            "scheduledHours": budget,
            "status": self._ref("project_status", status),
            "closedFlag": done,
            "type": self._ref("project_type", rng.choice(v.PROJECT_TYPES)),
            "_info": self._info(
                f"project/projects/{rid}",
                ("phases", "notes", "teamMembers"),
                entered,
                updated,
                self._by(rng, pool),
                None,
            ),
            "customFields": self._custom_fields("project/projects", rng, {10: f"PRJ-{rid:05d}"}),
        }
        return {k: value for k, value in record.items() if value is not None}

    def ticket(
        self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool, closed: int | None = None
    ) -> Record:
        company = pool.company_at(rng, entered)
        contacts = pool.contacts_by_company.get(company["id"]) or []
        contact = rng.choice(contacts) if contacts else None
        board = rng.choice(v.SERVICE_BOARDS)
        status = next(s for s in v.TICKET_STATUSES if s[1] == "Closed") if closed else self._open_status(rng)
        ticket_type = rng.choice(v.TICKET_TYPES)
        subtype = rng.randrange(len(ticket_type[2]))
        owner = rng.choice(pool.members) if pool.members and rng.random() < 0.85 else None
        summary = rng.choice(v.TICKET_SUMMARIES).format(
            dept=rng.choice(v.DEPARTMENTS)[1],
            app=rng.choice(v.APPS),
            person=" ".join(self._person(rng)),
            device=rng.choice(v.DEVICES),
            host=f"{rng.choice(v.HOST_PREFIXES)}{rng.randint(1, 12):02d}",
        )[:100]
        priority = rng.choices(v.PRIORITIES, weights=(1, 3, 10, 4))[0]
        agreements = pool.agreements_by_company.get(company["id"]) or []
        agreement = rng.choice(agreements) if agreements and rng.random() < 0.6 else None
        by = self._by(rng, pool)
        record: Record = {
            "id": rid,
            "summary": summary,
            "recordType": "ServiceTicket",
            "board": self._ref("board", board),
            "status": self.refs.ref(
                "ticket_status", board[0] * 100 + status[0], name=status[1], sort=status[2], link={"board": board[0]}
            ),
            "company": self.company_ref(company),
            "site": company.get("site"),
            "siteName": "Main",
            "addressLine1": company.get("addressLine1"),
            "city": company.get("city"),
            "stateIdentifier": company.get("state"),
            "zip": company.get("zip"),
            "country": company.get("country"),
            "contact": self.contact_ref(contact) if contact else None,
            "contactName": f"{contact['firstName']} {contact['lastName']}" if contact else None,
            "contactPhoneNumber": contact.get("defaultPhoneNbr") if contact else None,
            "contactEmailAddress": contact["communicationItems"][0]["value"] if contact else None,
            "type": self.refs.ref(
                "ticket_type", board[0] * 100 + ticket_type[0], name=ticket_type[1], link={"board": board[0]}
            ),
            "subType": self.refs.ref(
                "ticket_subtype",
                board[0] * 1000 + ticket_type[0] * 10 + subtype,
                name=ticket_type[2][subtype],
                link={"board": board[0]},
            ),
            "item": self._ref("ticket_item", rng.choice(v.TICKET_ITEMS), board=board[0]),
            "team": self._ref("team", rng.choice(v.TEAMS), board=board[0]),
            "owner": self.member_ref(owner) if owner else None,
            "priority": self.refs.ref("priority", priority[0], name=priority[1], sort=priority[2], level=priority[3]),
            "serviceLocation": self._ref("service_location", rng.choice(v.SERVICE_LOCATIONS)),
            "source": self._ref("source", rng.choice(v.SOURCES)),
            "requiredDate": format_epoch(entered + rng.choice((1, 2, 3, 5, 10)) * _DAY),
            "budgetHours": float(rng.choice((0.5, 1, 2, 4, 8))),
            "agreement": self.agreement_ref(agreement) if agreement else None,
            "agreementType": agreement["type"]["name"] if agreement else None,
            "severity": rng.choice(v.SEVERITY),
            "impact": rng.choice(v.SEVERITY),
            "allowAllClientsPortalView": False,
            "customerUpdatedFlag": rng.random() < 0.1,
            "automaticEmailContactFlag": True,
            "automaticEmailResourceFlag": True,
            "automaticEmailCcFlag": False,
            "initialDescription": rng.choice(v.TICKET_DESCRIPTIONS),
            "closedDate": format_epoch(closed) if closed else None,
            "closedBy": by if closed else None,
            "closedFlag": bool(closed),
            "actualHours": 0.0,
            "approved": True,
            "estimatedExpenseCost": 0.0,
            "estimatedProductCost": 0.0,
            "estimatedTimeCost": 0.0,
            "billTime": "Billable" if not agreement else "NoDefault",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "location": self._ref("location", v.LOCATIONS[0]),
            "department": self.refs.ref("system_department", 10, identifier="SVC", name="Services"),
            "mobileGuid": _guid(rng),
            "currency": self._currency(),
            "isInSla": rng.random() < 0.9,
            "hasChildTicket": False,
            "hasMergedChildTicketFlag": False,
            "_info": self._info(
                f"service/tickets/{rid}",
                ("activities", "timeentries", "notes", "documents", "configurations"),
                entered,
                updated,
                by,
                self._by(rng, pool),
            ),
            "customFields": self._custom_fields(
                "service/tickets",
                rng,
                {
                    6: rng.choice(("User Error", "Hardware Failure", "Configuration", "Third Party", None, None))
                    if closed
                    else None,
                    7: rng.random() < 0.1,
                },
            ),
        }
        if closed:
            record["dateResolved"] = format_epoch(closed)
            record["resolvedBy"] = by
        return {k: value for k, value in record.items() if value is not None}

    def _open_status(self, rng: random.Random) -> tuple[int, str, int]:
        return rng.choices(v.TICKET_STATUSES[:5], weights=(3, 2, 4, 2, 1))[0]

    def time_entry(
        self,
        rng: random.Random,
        rid: int,
        entered: int,
        updated: int,
        pool: Pool,
        ticket: Record | None = None,
        start: int | None = None,
        hours: float | None = None,
    ) -> Record:
        member = rng.choice(pool.members) if pool.members else None
        ticket = ticket or (rng.choice(pool.tickets) if pool.tickets else None)
        if hours is None:
            hours = rng.choice((0.25, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0, 1.5, 2.0, 3.0, 4.0))
        if start is None:
            start = entered - int(hours * _HOUR) - rng.randint(60, 7200)
        start -= start % 60
        end = start + int(hours * _HOUR)
        work_type = rng.choices(v.WORK_TYPES, weights=(10, 1, 1, 6))[0]
        billable = rng.choice(v.BILLABLE_OPTIONS)
        company_ref = ticket["company"] if ticket else self.company_ref(rng.choice(pool.companies))
        by = member["identifier"] if member else v.API_MEMBER
        record: Record = {
            "id": rid,
            "company": company_ref,
            "companyType": "Client",
            "chargeToId": ticket["id"] if ticket else company_ref["id"],
            "chargeToType": "ServiceTicket" if ticket else "Company",
            "member": self.member_ref(member) if member else None,
            "locationId": 1,
            "businessUnitId": 10,
            "workType": self.refs.ref("work_type", work_type[0], name=work_type[1], utilizationFlag=work_type[2]),
            "workRole": self._ref("work_role", rng.choice(v.WORK_ROLES)),
            "agreement": ticket.get("agreement") if ticket else None,
            "agreementType": ticket.get("agreementType") if ticket else None,
            "timeStart": format_epoch(start),
            "timeEnd": format_epoch(end),
            "hoursDeduct": 0.0,
            "actualHours": hours,
            "billableOption": billable,
            "notes": rng.choice(v.TIME_NOTES),
            "addToDetailDescriptionFlag": True,
            "addToInternalAnalysisFlag": False,
            "addToResolutionFlag": False,
            "emailResourceFlag": False,
            "emailContactFlag": False,
            "emailCcFlag": False,
            "hoursBilled": hours if billable == "Billable" else 0.0,
            "invoiceHours": hours if billable == "Billable" else 0.0,
            "enteredBy": by,
            "dateEntered": format_epoch(entered),
            "mobileGuid": _guid(rng),
            "hourlyRate": 150.0 if billable == "Billable" else 0.0,
            "status": rng.choice(v.TIME_STATUSES),
            "ticket": self.ticket_ref(ticket) if ticket else None,
            "ticketBoard": ticket["board"]["name"] if ticket else None,
            "ticketStatus": ticket["status"]["name"] if ticket else None,
            "ticketType": ticket["type"]["name"] if ticket else None,
            "invoiceFlag": False,
            "_info": {"lastUpdated": format_epoch(updated), "updatedBy": by},
            "customFields": self._custom_fields(
                "time/entries",
                rng,
                {
                    8: round(rng.uniform(3, 60), 1) if work_type[1] == "Travel" else None,
                },
            ),
        }
        if rng.random() < 0.2:
            record["internalNotes"] = "Customer was satisfied with the outcome."
        return {k: value for k, value in record.items() if value is not None}

    def product(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        item = rng.choice(v.CATALOG_ITEMS)
        company = pool.company_at(rng, entered)
        quantity = float(rng.choice((1, 1, 1, 2, 3, 5, 10, 25)))
        price, cost = item[3], item[4]
        is_service = item[5] == "Service"
        agreements = pool.agreements_by_company.get(company["id"]) or []
        agreement = rng.choice(agreements) if is_service and agreements else None
        ticket = rng.choice(pool.tickets) if pool.tickets and not is_service and rng.random() < 0.4 else None
        uom = v.UNITS_OF_MEASURE[1] if is_service else v.UNITS_OF_MEASURE[2] if item[0] == 10 else v.UNITS_OF_MEASURE[0]
        record: Record = {
            "id": rid,
            "catalogItem": self.refs.ref("catalog_item", item[0], identifier=item[1], name=item[2]),
            "description": item[2],
            "sequenceNumber": 1.0,
            "quantity": quantity,
            "unitOfMeasure": self._ref("unit_of_measure", uom),
            "price": price,
            "cost": cost,
            "extPrice": round(price * quantity, 2),
            "extCost": round(cost * quantity, 2),
            "discount": 0.0,
            "margin": round((price - cost) * quantity, 2),
            "agreementAmount": round(price * quantity, 2) if agreement else 0.0,
            "priceMethod": "PricePerUnit",
            "billableOption": rng.choice(("Billable", "Billable", "Billable", "NoCharge", "DoNotBill")),
            "agreement": self.agreement_ref(agreement) if agreement else None,
            "locationId": 1,
            "businessUnitId": 10,
            "taxableFlag": not is_service,
            "dropshipFlag": rng.random() < 0.2,
            "specialOrderFlag": False,
            "phaseProductFlag": False,
            "cancelledFlag": False,
            "customerDescription": item[2],
            "productSuppliedFlag": rng.random() < 0.7,
            "ticket": self.ticket_ref(ticket) if ticket else None,
            "company": self.company_ref(company),
            "productClass": item[5],
            "calculatedPriceFlag": False,
            "calculatedCostFlag": False,
            "purchaseDate": format_epoch(entered - entered % _DAY),
            "listPrice": price,
            "uom": uom[1],
            "_info": self._info(
                f"procurement/products/{rid}", ("components",), entered, updated, self._by(rng, pool), None
            ),
            "customFields": self._custom_fields(
                "procurement/products",
                rng,
                {
                    12: f"AT-{rng.randint(10000, 99999)}" if not is_service and rng.random() < 0.5 else None,
                },
            ),
        }
        return {k: value for k, value in record.items() if value is not None}
