"""Builders of single ServiceNow records, for generation and run-time inserts.

Each builder starts from the table's blank record (every column at its default) and fills what a
real MSP instance has: companies with addresses, agents (``itil``) of the MSP company and end users
of customer companies, groups, configuration items of every class, incidents that move through
their states with resolution codes and durations, changes, problems, weekly time cards and time
worked against tasks. References point at records that exist (from the pool); references into
tables the sandbox does not serve (departments, locations) use fixed sys_ids with known names.
"""

from __future__ import annotations

import random
from typing import Any

from avesa_sandbox import names
from avesa_sandbox.servicenow import vocab as v
from avesa_sandbox.servicenow.ids import sys_id
from avesa_sandbox.servicenow.pool import Pool, pick, ref_value
from avesa_sandbox.servicenow.records import Shaper
from avesa_sandbox.servicenow.timefmt import format_date, format_datetime, format_duration

Record = dict[str, Any]

HOUR = 3600
DAY = 86400

SYSTEM_USERS = ("system", "admin")
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


def _static_key(index: int) -> int:
    """Key of the ``index``-th record of a table the sandbox only references (spread like real sys_ids)."""
    return 0x2B000000 + index * 0x01F3A1C7


STATIC_NAMES: dict[tuple[str, str], str] = {
    **{("cmn_department", sys_id("cmn_department", _static_key(i))): name for i, name in enumerate(v.DEPARTMENTS)},
    **{("cmn_location", sys_id("cmn_location", _static_key(i))): name for i, name in enumerate(v.LOCATIONS)},
    ("sys_user_group", "global"): "global",
}
"""Display values of the records in tables the sandbox does not serve but references point into."""

_CLASS_PATHS = {
    "cmdb_ci_computer": "/!!/!2/!(",
    "cmdb_ci_win_server": "/!!/!2/!(/!!/!#",
    "cmdb_ci_linux_server": "/!!/!2/!(/!!/!$",
    "cmdb_ci_netgear": "/!!/!2/!)",
    "cmdb_ci_ip_firewall": "/!!/!2/!)/!!",
    "cmdb_ci_printer": "/!!/!2/!*",
    "cmdb_ci_appl": "/!!/!#",
}

_PRIORITY = {(1, 1): 1, (1, 2): 2, (2, 1): 2, (1, 3): 3, (2, 2): 3, (3, 1): 3, (2, 3): 4, (3, 2): 4, (3, 3): 5}
"""ServiceNow's default priority lookup: (impact, urgency) -> priority."""


def priority_of(impact: int, urgency: int) -> int:
    return _PRIORITY[(impact, urgency)]


def _existing(rng: random.Random, records: list[Record], when: int) -> Record | None:
    """A record created before ``when``, or None (an incident cannot point at a later problem)."""
    chosen = pick(rng, records, when)
    return chosen if chosen is not None and chosen["sys_created_on"] <= format_datetime(when) else None


def _phone(rng: random.Random) -> str:
    return names.phone_number(rng, v.AREA_CODES)


def _fill(rng: random.Random, template: str) -> str:
    person = f"{rng.choice(v.FIRST_NAMES)} {rng.choice(v.LAST_NAMES)}"
    host = f"{rng.choice(v.HOST_PREFIXES)}{rng.randint(1, 12):02d}"
    return template.format(person=person, host=host, app=rng.choice(v.APPS))


class Factory:
    """Builds records of every table for one instance (its links carry the instance's address)."""

    def __init__(self, shaper: Shaper, integration_user: str) -> None:
        self.s = shaper
        self.integration_user = integration_user

    # -- shared pieces -----------------------------------------------------------------------------

    def ref(self, table: str, record: Record | None) -> Any:
        return self.s.ref(table, record["sys_id"]) if record else ""

    def static_ref(self, table: str, index: int) -> Any:
        return self.s.ref(table, sys_id(table, _static_key(index)))

    def stamp_new(
        self,
        record: Record,
        table: str,
        key: int,
        entered: int,
        updated: int,
        created_by: str,
        updated_by: str,
        rng: random.Random,
    ) -> Record:
        """Set the ``sys_*`` columns of a generated record (mod count consistent with having been edited)."""
        record["sys_id"] = sys_id(table, key)
        record["sys_created_on"] = format_datetime(entered)
        record["sys_created_by"] = created_by
        record["sys_updated_on"] = format_datetime(updated)
        record["sys_updated_by"] = updated_by if updated > entered else created_by
        record["sys_mod_count"] = str(rng.randint(1, 12) if updated > entered else 0)
        if "sys_class_name" in record and not record["sys_class_name"]:
            record["sys_class_name"] = table
        return record

    def actor(self, rng: random.Random, pool: Pool) -> str:
        """Who made a change: mostly an agent, sometimes the system or the integration."""
        roll = rng.random()
        if pool.agents and roll < 0.8:
            return rng.choice(pool.agents)["user_name"]
        return rng.choice(SYSTEM_USERS) if roll < 0.95 else self.integration_user

    def _address(self, rng: random.Random) -> tuple[str, str, str, str]:
        city, state, zip_prefix = rng.choice(v.CITIES)
        return names.street_line(rng, v.STREETS), city, state, names.zip_code(rng, zip_prefix)

    # -- companies and people ----------------------------------------------------------------------

    def company(
        self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool, kind: str = "customer"
    ) -> Record:
        """A core_company: the MSP itself (``primary``), a customer, or a vendor/manufacturer."""
        return self._company_fields(
            self.s.blank("core_company"), "core_company", rng, key, entered, updated, pool, kind
        )

    def _company_fields(
        self, r: Record, table: str, rng: random.Random, key: int, entered: int, updated: int, pool: Pool, kind: str
    ) -> Record:
        street, city, state, zip_code = self._address(rng)
        if kind == "msp":
            name, symbol, city, state, zip_prefix, domain = v.MSP_COMPANY
            zip_code = names.zip_code(rng, zip_prefix)
        elif kind == "vendor":
            name, symbol, hardware = rng.choice(v.VENDORS)
            domain = name.split()[0].lower() + ".example.com"
            r.update(vendor="true", manufacturer="true" if hardware else "false")
        else:
            word, trade = rng.choice(v.COMPANY_WORDS), rng.choice(v.COMPANY_KINDS)
            name = f"{word} {trade} {rng.choice(v.COMPANY_SUFFIXES)}".strip()[:80]
            symbol = f"{word[:4]}{trade[:3]}".upper().replace(" ", "")
            domain = names.domain_stem(word, trade) + rng.choice(v.TLDS)
            r.update(customer="true")
            if pool.customers and rng.random() < 0.08:
                r["parent"] = self.ref("core_company", pool.customer(rng, entered))
        r.update(
            name=name,
            street=street,
            city=city,
            state=state,
            zip=zip_code,
            phone=_phone(rng),
            website=f"https://www.{domain}",
            stock_symbol=symbol if kind != "customer" or rng.random() < 0.7 else "",
            num_employees=str(rng.choice((4, 9, 15, 28, 45, 80, 160, 420))),
            latitude=f"{rng.uniform(25, 48):.6f}",
            longitude=f"{rng.uniform(-123, -71):.6f}",
            notes=rng.choice(("", "", "After-hours support included", "Prefers phone contact", "Net 30")),
            u_psa_company_id=str(1000 + key % 9000) if kind == "customer" and "u_psa_company_id" in r else "",
        )
        if "u_support_tier" in r:
            r["u_support_tier"] = rng.choice(("Gold", "Silver", "Bronze", "")) if kind == "customer" else ""
        if kind == "msp":
            r["primary"] = "true"
        if rng.random() < 0.3:
            r["fax_phone"] = _phone(rng)
        if kind == "customer" and rng.random() < 0.5:
            r["revenue_per_year"] = f"{rng.choice((250, 800, 1500, 4000, 12000)) * 1000}.00"
        r["sys_class_name"] = table
        return self.stamp_new(r, table, key, entered, updated, self.actor(rng, pool), self.actor(rng, pool), rng)

    def user(
        self,
        rng: random.Random,
        key: int,
        entered: int,
        updated: int,
        pool: Pool,
        company: Record | None = None,
        agent: bool = False,
        table: str = "sys_user",
    ) -> Record:
        """A sys_user (agent of the MSP, or end user of ``company``), or a customer_contact's user part."""
        r = self.s.blank(table)
        first, last = rng.choice(v.FIRST_NAMES), rng.choice(v.LAST_NAMES)
        user_name = pool.unique_user_name(first, last)
        domain = (company or {}).get("website", "https://www.example.com").removeprefix("https://www.")
        street, city, state, zip_code = self._address(rng)
        active = rng.random() > 0.06
        r.update(
            user_name=user_name,
            first_name=first,
            last_name=last,
            name=f"{first} {last}",
            email=f"{user_name}@{domain}",
            title=rng.choice(v.AGENT_TITLES if agent else v.USER_TITLES),
            phone=_phone(rng),
            company=self.ref("core_company", company) if table == "sys_user" else "",
            department=self.static_ref("cmn_department", 2 if agent else rng.randrange(len(v.DEPARTMENTS))),
            location=self.static_ref("cmn_location", rng.randrange(len(v.LOCATIONS))),
            active="true" if active else "false",
            vip="true" if not agent and rng.random() < 0.05 else "false",
            time_zone=rng.choice(v.TIME_ZONES),
            street=street,
            city=city,
            state=state,
            zip=zip_code,
            country="US",
            employee_number=f"E{key % 100000:05d}" if rng.random() < 0.6 else "",
            gender=rng.choice(("Female", "Male", "", "")),
            preferred_language="en",
            identity_type="human",
            last_login_time=format_datetime(updated - rng.randint(0, 20) * DAY) if active else "",
            failed_attempts="0",
            password_needs_reset="false",
            sys_class_name=table,
        )
        r["last_login"] = r["last_login_time"][:10]
        if rng.random() < 0.5:
            r["mobile_phone"] = _phone(rng)
        if agent:
            r.update(roles="itil", accumulated_roles=",itil,", u_psa_member_id=user_name[:15])
            r["u_billing_rate"] = f"{rng.choice((95, 125, 150, 175))}.00"
            if pool.agents and rng.random() < 0.8:
                r["manager"] = self.ref("sys_user", pick(rng, pool.agents[: max(1, len(pool.agents) // 5)], entered))
        elif company is not None:
            colleagues = pool.users_by_company.get(company["sys_id"], [])
            if colleagues and rng.random() < 0.5:
                r["manager"] = self.ref("sys_user", colleagues[0])
        if table == "customer_contact":
            r["u_preferred_channel"] = rng.choice(("email", "phone", "portal", ""))
        created_by = self.actor(rng, pool) if rng.random() < 0.7 else "system"
        return self.stamp_new(r, table, key, entered, updated, created_by, self.actor(rng, pool), rng)

    def integration(self, key: int, entered: int, pool: Pool) -> Record:
        """The integration user the sandbox's credentials log in as (web-service access only)."""
        r = self.s.blank("sys_user")
        pool.user_names.add(self.integration_user)
        r.update(
            user_name=self.integration_user,
            first_name="AVESA",
            last_name="Integration",
            name="AVESA Integration",
            email=f"{self.integration_user}@{v.MSP_COMPANY[5]}",
            title="Integration account",
            company=self.ref("core_company", pool.msp),
            roles="snc_read_only,rest_service",
            accumulated_roles=",snc_read_only,rest_service,",
            web_service_access_only="true",
            internal_integration_user="true",
            identity_type="machine",
            sys_class_name="sys_user",
        )
        rng = random.Random(key)
        return self.stamp_new(r, "sys_user", key, entered, entered, "admin", "admin", rng)

    def group(self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool, index: int = -1) -> Record:
        """A sys_user_group of the MSP (Service Desk, Network Operations...)."""
        r = self.s.blank("sys_user_group")
        taken = {g["name"] for g in pool.groups}
        spec = v.GROUPS[index] if 0 <= index < len(v.GROUPS) else None
        if spec is None or spec[0] in taken:
            free = [g for g in v.GROUPS if g[0] not in taken]
            spec = rng.choice(free) if free else (f"Team {key % 1000}", "Additional support team", "itil")
        name, description, roles = spec
        manager = pool.agent(rng, entered)
        r.update(
            name=name,
            description=description,
            email=f"{name.lower().replace(' & ', '-').replace(' ', '-')}@{v.MSP_COMPANY[5]}",
            manager=self.ref("sys_user", manager),
            roles=roles,
            hourly_rate=f"{rng.choice((85, 95, 110, 135))}.00",
            u_psa_board=name,
        )
        if pool.groups and name != "Service Desk" and rng.random() < 0.3:
            r["parent"] = self.ref("sys_user_group", pool.groups[0])
        if rng.random() < 0.3:
            r["default_assignee"] = self.ref("sys_user", pool.agent(rng, entered))
        return self.stamp_new(r, "sys_user_group", key, entered, updated, "admin", self.actor(rng, pool), rng)

    def account(self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool) -> Record:
        """A customer_account (CSM): a customer company with an account number and a primary contact."""
        r = self.s.blank("customer_account")
        r = self._company_fields(r, "customer_account", rng, key, entered, updated, pool, "customer")
        r["parent"] = ""
        r.update(
            number=pool.number("customer_account"),
            account_code=r["stock_symbol"] or f"A{key % 100000:05d}",
            registration_code=f"{rng.getrandbits(32):08X}",
            partner="true" if rng.random() < 0.05 else "false",
            u_contract_seats=str(rng.choice((5, 10, 25, 50, 100))),
        )
        parent = pick(rng, pool.accounts, entered) if pool.accounts and rng.random() < 0.1 else None
        if parent is not None:
            r["account_parent"] = self.ref("customer_account", parent)
            r["account_path"] = f"{parent.get('account_path') or '!!!'}/!!#"
        else:
            r["account_path"] = "!!!"
        return r

    def contact(
        self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool, account: Record | None = None
    ) -> Record:
        """A customer_contact: a user of a customer account (its sys_user columns plus ``account``)."""
        account = account or pick(rng, pool.accounts, entered)
        r = self.user(rng, key, entered, updated, pool, company=account, table="customer_contact")
        r["account"] = self.ref("customer_account", account)
        return r

    # -- configuration items -----------------------------------------------------------------------

    def ci(self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool) -> Record:
        """A configuration item of a customer (laptops, servers, switches, printers, applications)."""
        r = self.s.blank("cmdb_ci")
        company = pool.customer(rng, entered)
        cls, _label, category, subcategory, kind = rng.choice(v.CI_CLASSES)
        company_name = (company or {}).get("name") or "Client"
        code = (company or {}).get("stock_symbol") or "".join(w[0] for w in company_name.split()[:3]).upper()
        prefix = v.CI_PREFIX.get(kind, "APP")
        model = rng.choice(v.CI_MODELS.get(kind, ("",)))
        makers = [c for c in pool.vendors if c.get("manufacturer") == "true"]
        software = [c for c in pool.vendors if c.get("manufacturer") != "true"]
        maker = rng.choice(software if category == "Software" and software else makers) if pool.vendors else None
        retired = rng.random() < 0.07
        purchased = entered - rng.randint(0, 700) * DAY
        name = rng.choice(v.APPS) if category == "Software" else f"{code[:6]}-{prefix}{key % 1000:03d}"
        r.update(
            name=name,
            sys_class_name=cls,
            sys_class_path=_CLASS_PATHS[cls],
            category=category,
            subcategory=subcategory,
            company=self.ref("core_company", company),
            manufacturer=self.ref("core_company", maker),
            model_number=model,
            short_description=f"{kind} for {(company or {}).get('name', 'customer')}"[:255],
            install_status="7" if retired else rng.choice(("1", "1", "1", "1", "6", "3")),
            operational_status="6" if retired else rng.choice(("1", "1", "1", "1", "2", "5")),
            support_group=self.ref("sys_user_group", pool.group(rng, entered)),
            managed_by=self.ref("sys_user", pool.agent(rng, entered)),
            discovery_source=rng.choice(v.DISCOVERY_SOURCES),
            first_discovered=format_datetime(entered),
            last_discovered=format_datetime(updated),
            install_date=format_datetime(purchased + rng.randint(1, 20) * DAY),
            purchase_date=format_date(purchased),
            cost=f"{rng.choice((450, 900, 1400, 2200, 6500, 12000))}.00" if category == "Hardware" else "",
            cost_cc="USD",
            location=self.static_ref("cmn_location", rng.randrange(len(v.LOCATIONS))),
            u_rmm_device_id=f"{rng.getrandbits(64):016x}" if category == "Hardware" else "",
        )
        if category == "Hardware":
            r.update(
                serial_number=f"{rng.choice(('SN', 'CN', 'PF', 'C0'))}{rng.getrandbits(40):010X}",
                asset_tag=f"P{rng.randint(10000, 99999)}",
                warranty_expiration=format_date(purchased + rng.choice((1, 3, 5)) * 365 * DAY),
                mac_address=":".join(f"{rng.randint(0, 255):02x}" for _ in range(6)),
                ip_address=f"10.{rng.randint(0, 40)}.{rng.randint(0, 254)}.{rng.randint(2, 254)}",
            )
        if kind == "Server":
            r.update(fqdn=f"{name.lower()}.corp.local", dns_domain="corp.local", environment="Production")
        if kind in ("Laptop", "Desktop") and company is not None:
            r["assigned_to"] = self.ref("sys_user", pool.end_user(rng, company, entered))
            r["assigned"] = format_datetime(entered)
        created_by = "system" if r["discovery_source"] != "Manual Entry" else self.actor(rng, pool)
        return self.stamp_new(r, "cmdb_ci", key, entered, updated, created_by, self.actor(rng, pool), rng)

    # -- tasks -------------------------------------------------------------------------------------

    def _task_common(self, r: Record, rng: random.Random, pool: Pool, table: str, entered: int, opener: Any) -> None:
        number = pool.number(table)
        r.update(
            number=number,
            task_effective_number=number,
            opened_at=format_datetime(entered),
            opened_by=self.ref("sys_user", opener),
            sys_class_name=table,
        )

    def _assign(self, r: Record, rng: random.Random, pool: Pool, when: int, assigned: bool = True) -> Record | None:
        group = pool.group(rng, when)
        agent = pool.agent(rng, when) if assigned else None
        r["assignment_group"] = self.ref("sys_user_group", group)
        r["assigned_to"] = self.ref("sys_user", agent)
        return agent

    def incident(
        self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool, window_end: int | None = None
    ) -> Record:
        """An incident raised by an end user, worked, resolved and closed (or still open near ``window_end``)."""
        r = self.s.blank("incident")
        company = pool.customer(rng, entered)
        caller = pool.end_user(rng, company, entered)
        if caller is not None and ref_value(caller.get("company")):
            company = next((c for c in pool.customers if c["sys_id"] == ref_value(caller["company"])), company)
        contact_type = rng.choices(("email", "phone", "self-service", "walk-in", "virtual_agent"), (5, 4, 3, 1, 1))[0]
        opener = caller if contact_type in ("self-service", "virtual_agent") else (pool.agent(rng, entered) or caller)
        self._task_common(r, rng, pool, "incident", entered, opener)
        category = rng.choice(list(v.INCIDENT_CATEGORIES))
        impact, urgency = rng.choices((1, 2, 3), (1, 3, 6))[0], rng.choices((1, 2, 3), (1, 3, 6))[0]
        r.update(
            caller_id=self.ref("sys_user", caller),
            company=self.ref("core_company", company),
            location=caller.get("location", "") if caller else "",
            contact_type=contact_type,
            category=category,
            subcategory=rng.choice(v.INCIDENT_CATEGORIES[category]),
            short_description=_fill(rng, rng.choice(v.INCIDENT_SUMMARIES))[:160],
            description=rng.choice(v.INCIDENT_DESCRIPTIONS),
            impact=str(impact),
            urgency=str(urgency),
            priority=str(priority_of(impact, urgency)),
            severity=str(rng.choices((1, 2, 3), (1, 2, 7))[0]),
            made_sla="true" if rng.random() < 0.9 else "false",
            reassignment_count=str(rng.choices((0, 1, 2, 3), (6, 3, 1, 1))[0]),
            u_billable="true" if rng.random() < 0.7 else "false",
            u_psa_ticket_id=f"CW-{rng.randint(100000, 999999)}" if rng.random() < 0.3 else "",
        )
        cis = pool.cis_by_company.get(company["sys_id"], []) if company else []
        if cis and rng.random() < 0.5:
            r["cmdb_ci"] = self.ref("cmdb_ci", _existing(rng, cis, entered))
        if pool.problems and rng.random() < 0.06:
            r["problem_id"] = self.ref("problem", _existing(rng, pool.problems, entered))
        if pool.changes and rng.random() < 0.03:
            r["caused_by"] = self.ref("change_request", _existing(rng, pool.changes, entered))
        end = window_end if window_end is not None else entered
        self._incident_lifecycle(r, rng, pool, entered, end)
        created_by = opener["user_name"] if opener else "system"
        return self.stamp_new(r, "incident", key, entered, updated, created_by, self.actor(rng, pool), rng)

    def _incident_lifecycle(self, r: Record, rng: random.Random, pool: Pool, entered: int, end: int) -> None:
        """State, assignment and resolution fields consistent with an incident opened at ``entered``."""
        age = end - entered
        roll = rng.random()
        if age > 2 * DAY and roll < 0.05:
            state = "8"
        elif age > 2 * DAY and roll < 0.85:
            state = "6"
        else:
            state = rng.choices(("1", "2", "3"), (3, 5, 2))[0]
        agent = self._assign(r, rng, pool, entered, assigned=state != "1" or rng.random() < 0.3)
        if state == "3":
            r["hold_reason"] = rng.choice(("1", "3", "4", "5"))
        if state == "6":
            resolved = entered + rng.randint(HOUR // 2, min(10 * DAY, max(HOUR, age - HOUR)))
            resolved = min(resolved, end - 60)
            stc = max(60, resolved - entered)
            r.update(
                resolved_at=format_datetime(resolved),
                resolved_by=self.ref("sys_user", agent),
                close_code=rng.choice(v.CLOSE_CODES),
                close_notes=rng.choice(v.CLOSE_NOTES),
                calendar_stc=str(stc),
                business_stc=str(int(stc * 0.4)),
                calendar_duration=format_duration(stc),
                business_duration=format_duration(int(stc * 0.4)),
            )
            closed = resolved + 3 * DAY
            if closed < end:
                state = "7"
                r.update(closed_at=format_datetime(closed), closed_by=self.ref("sys_user", agent))
        if state == "8":
            closed = entered + rng.randint(600, DAY)
            r.update(closed_at=format_datetime(closed), closed_by=self.ref("sys_user", agent))
        r["state"] = r["incident_state"] = state
        r["active"] = "false" if state in ("7", "8") else "true"

    def change(self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool) -> Record:
        """A change request of a customer's CI, planned, approved, implemented and reviewed."""
        r = self.s.blank("change_request")
        requester = pool.agent(rng, entered)
        self._task_common(r, rng, pool, "change_request", entered, requester)
        company = pool.customer(rng, entered)
        change_type = rng.choices(("normal", "standard", "emergency"), (6, 3, 1))[0]
        impact = rng.choice((1, 2, 3))
        start = entered + rng.randint(1, 14) * DAY
        agent = self._assign(r, rng, pool, entered)
        r.update(
            type=change_type,
            requested_by=self.ref("sys_user", requester),
            company=self.ref("core_company", company),
            short_description=_fill(rng, rng.choice(v.CHANGE_SUMMARIES))[:160],
            description="See implementation plan.",
            justification="Required to keep the client's environment supported and secure.",
            implementation_plan="1. Notify users\n2. Apply change\n3. Verify services",
            backout_plan="Restore from the snapshot taken before the change.",
            test_plan="Verify logons, file shares and line-of-business applications.",
            impact=str(impact),
            urgency="3",
            priority=str(priority_of(impact, 3)),
            risk=rng.choice(("2", "3", "4", "4")),
            category=rng.choice(("Hardware", "Software", "Network", "Service", "Other")),
            start_date=format_datetime(start),
            end_date=format_datetime(start + rng.choice((1, 2, 4, 8)) * HOUR),
            cab_required="true" if change_type == "normal" else "false",
            conflict_status=rng.choice(("Not Run", "No Conflict")),
            production_system="true" if rng.random() < 0.6 else "false",
            unauthorized="false",
            on_hold="false",
            outside_maintenance_schedule="false",
            u_customer_approval_ref=f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.3 else "",
        )
        cis = pool.cis_by_company.get(company["sys_id"], []) if company else []
        if cis:
            r["cmdb_ci"] = self.ref("cmdb_ci", _existing(rng, cis, entered))
        if start + DAY < updated or rng.random() < 0.7:
            state, phase = rng.choices((("3", "closed"), ("4", "closed"), ("0", "implementation")), (8, 1, 1))[0]
        else:
            state, phase = rng.choice(
                (("-5", "requested"), ("-4", "requested"), ("-3", "requested"), ("-2", "implementation"))
            )
        r.update(state=state, phase=phase, phase_state="complete" if state in ("3", "4") else "open")
        if state in ("-2", "0", "3"):
            r["approval"] = "approved"
        elif state == "-3":
            r["approval"] = "requested"
        if state in ("0", "3"):
            r.update(work_start=r["start_date"], work_end=r["end_date"])
        if state in ("3", "4"):
            closed = start + 2 * DAY
            r.update(
                active="false",
                closed_at=format_datetime(closed),
                closed_by=self.ref("sys_user", agent),
                close_code="successful" if state == "3" and rng.random() < 0.9 else "unsuccessful",
                close_notes="Change implemented as planned." if state == "3" else "Cancelled by the customer.",
            )
        created_by = requester["user_name"] if requester else "admin"
        return self.stamp_new(r, "change_request", key, entered, updated, created_by, self.actor(rng, pool), rng)

    def problem(self, rng: random.Random, key: int, entered: int, updated: int, pool: Pool) -> Record:
        """A problem under root-cause analysis, fixed, or closed as a known error."""
        r = self.s.blank("problem")
        opener = pool.agent(rng, entered)
        self._task_common(r, rng, pool, "problem", entered, opener)
        company = pool.customer(rng, entered)
        state = rng.choices(("101", "102", "103", "104", "106", "107"), (1, 1, 2, 1, 1, 4))[0]
        agent = self._assign(r, rng, pool, entered, assigned=state != "101")
        impact = rng.choice((1, 2, 2, 3))
        r.update(
            company=self.ref("core_company", company),
            short_description=_fill(rng, rng.choice(v.PROBLEM_SUMMARIES))[:160],
            description="Raised from repeated incidents with the same symptoms.",
            category=rng.choice(("software", "hardware", "network", "database")),
            impact=str(impact),
            urgency="2",
            priority=str(priority_of(impact, 2)),
            state=state,
            problem_state={"101": "1", "102": "1", "103": "1", "104": "3", "106": "2", "107": "4"}[state],
            known_error="true" if state in ("106", "107") and rng.random() < 0.5 else "false",
            major_problem="true" if rng.random() < 0.05 else "false",
            u_vendor_case=f"VC-{rng.randint(100000, 999999)}" if rng.random() < 0.2 else "",
        )
        if state in ("103", "104", "106", "107"):
            r.update(
                cause_notes="<p>Root cause identified in the vendor's update.</p>",
                workaround="<p>Restart the affected service.</p>",
                confirmed_at=format_datetime(entered + DAY),
                confirmed_by=self.ref("sys_user", agent),
            )
        if state in ("106", "107"):
            resolved = min(updated, entered + rng.randint(3, 30) * DAY)
            r.update(
                resolution_code=rng.choice(("fix_applied", "fix_applied", "risk_accepted", "duplicate")),
                fix_notes="<p>Vendor patch applied to all affected systems.</p>",
                resolved_at=format_datetime(resolved),
                resolved_by=self.ref("sys_user", agent),
                fix_at=format_datetime(resolved),
                fix_by=self.ref("sys_user", agent),
            )
        if state == "107":
            r.update(active="false", closed_at=r["resolved_at"], closed_by=r["resolved_by"])
        created_by = opener["user_name"] if opener else "admin"
        return self.stamp_new(r, "problem", key, entered, updated, created_by, self.actor(rng, pool), rng)

    # -- time --------------------------------------------------------------------------------------

    def time_card(
        self,
        rng: random.Random,
        key: int,
        entered: int,
        updated: int,
        pool: Pool,
        task: Record | None = None,
        user: Record | None = None,
        now: int | None = None,
    ) -> Record:
        """A weekly time card of an agent against a task: hours per day, total, approval state."""
        r = self.s.blank("time_card")
        task = task or pick(rng, pool.incidents, entered)
        user = user or pool.agent(rng, entered)
        week_start = entered - (entered // DAY + 4) % 7 * DAY  # epoch day 0 was a Thursday
        days = ["0"] * 7
        total = 0.0
        for day in rng.sample(range(1, 6), rng.choice((1, 1, 2, 3))):
            hours = rng.choice((0.25, 0.5, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0))
            days[day] = f"{hours:g}"
            total += hours
        age = (now if now is not None else updated) - entered
        if age > 21 * DAY:
            state = rng.choices(("Processed", "Approved", "Rejected"), (6, 3, 1))[0]
        elif age > 3 * DAY:
            state = rng.choice(("Submitted", "Approved"))
        else:
            state = "Pending"
        category = rng.choice(v.TIME_CARD_CATEGORIES)
        r.update(
            user=self.ref("sys_user", user),
            task=self.s.ref("task", task["sys_id"]) if task else "",
            week_starts_on=format_date(week_start),
            state=state,
            category=category,
            total=f"{total:g}",
            comments=rng.choice(v.WORK_COMMENTS) if rng.random() < 0.7 else "",
            u_billable="true" if category == "task_work" and rng.random() < 0.8 else "false",
            u_invoice_number=f"INV-{rng.randint(10000, 99999)}" if state == "Processed" else "",
        )
        for name, day_hours in zip(WEEKDAYS, days, strict=True):
            r[name] = day_hours
        by = user["user_name"] if user else "admin"
        return self.stamp_new(r, "time_card", key, entered, updated, by, by, rng)

    def time_worked(
        self,
        rng: random.Random,
        key: int,
        entered: int,
        updated: int,
        pool: Pool,
        task: tuple[str, Record] | None = None,
        user: Record | None = None,
        time_card: Record | None = None,
    ) -> Record:
        """Time an agent logged on a task (incident, problem or change)."""
        r = self.s.blank("task_time_worked")
        if task is None:
            choices = [("incident", pool.incidents), ("problem", pool.problems), ("change_request", pool.changes)]
            table, records = rng.choices(choices, (8, 1, 1))[0]
            if not records:
                table, records = "incident", pool.incidents
            chosen = pick(rng, records, entered)
            task = (table, chosen) if chosen else None
        user = user or pool.agent(rng, entered)
        seconds = rng.choice((300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200))
        r.update(
            task=self.s.ref("task", task[1]["sys_id"]) if task else "",
            user=self.ref("sys_user", user),
            time_worked=format_duration(seconds),
            time_in_seconds=str(seconds),
            comments=rng.choice(v.WORK_COMMENTS),
            time_card=self.ref("time_card", time_card),
            u_billable="true" if rng.random() < 0.75 else "false",
        )
        by = user["user_name"] if user else "admin"
        return self.stamp_new(r, "task_time_worked", key, entered, updated, by, by, rng)
