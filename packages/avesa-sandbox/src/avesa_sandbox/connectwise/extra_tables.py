"""The five ConnectWise tables added after the first eight: service boards, configurations, sales
opportunities, project tickets and schedule entries.

They are generated after every other table, each from its own random stream, so adding them left
the first eight tables' data unchanged for a given seed. References point at records that exist:

- ``service/boards``: ids 1-4 are the service boards tickets already point at (``Help Desk`` ...),
  5-7 the project boards (``projectFlag``) project tickets are on, further ones extra service boards;
- ``company/configurations``: a client's devices (workstations, laptops, servers, firewalls...),
  more for bigger companies, with the company, often a contact (the device's user) and the member
  who installed it;
- ``sales/opportunities``: deals with a company, one of its contacts and sales reps (members);
  older ones are mostly won or lost;
- ``project/tickets``: ``Ticket`` records with ``recordType = "ProjectTicket"`` (ConnectWise serves
  project tickets in the ticket shape) on the board of a project, for that project's company and
  contact; the ``Ticket`` schema has no project field, so the link to the project is not visible;
- ``schedule/entries``: a member's calendar for a ticket or project ticket (type ``S``, ``objectId``
  = the ticket id) or an opportunity (type ``O``).

``ScheduleEntry`` and ``Board`` have no ``customFields`` in the schema, so those two have none.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from avesa_sandbox.clock import format_epoch, parse_epoch
from avesa_sandbox.connectwise import vocab as v
from avesa_sandbox.connectwise.builders import _DAY, _HOUR, Pool, RecordFactory, _guid, rng_for
from avesa_sandbox.connectwise.generate import _ids, _plain, _timeline
from avesa_sandbox.connectwise.tables import TABLES

Record = dict[str, Any]
Changes = dict[str, Any]

# -- vocabulary ------------------------------------------------------------------------------------

PROJECT_BOARD_OFFSET = len(v.SERVICE_BOARDS)
"""A project board (``v.PROJECT_BOARDS`` id n) is service board ``n + PROJECT_BOARD_OFFSET``."""

EXTRA_BOARD_NAMES = (
    "Alerts", "Procurement", "Recurring Maintenance", "Security Operations", "Dispatch", "Internal IT",
    "Client Onboarding", "Billing Questions", "Change Management", "Vendor Management", "After Hours",
    "Sales Support",
)  # fmt: skip

PROJECT_TICKET_STATUSES = (
    (1, "New", 0), (2, "Scheduled", 1), (3, "In Progress", 2), (4, "Waiting on Client", 3), (5, "Completed", 4),
)  # fmt: skip
PROJECT_TICKET_TYPES = ((1, "Task"), (2, "Milestone"), (3, "Deliverable"))
PROJECT_TASKS = (
    "Kickoff meeting", "Site survey", "Inventory existing equipment", "Order hardware", "Receive and stage hardware",
    "Configure firewall rules", "Build new server", "Migrate file shares", "Migrate mailboxes",
    "Configure backup jobs", "Deploy workstations", "Update documentation", "User training session",
    "Cutover weekend", "Post-cutover support", "Decommission old equipment", "Customer sign-off",
    "Configure Wi-Fi SSIDs and VLANs", "Enroll devices in Intune", "Test restore from backup",
)  # fmt: skip

SIGNOFF_TEMPLATES = ((1, "Standard Sign-off"), (2, "Project Sign-off"))
# (id, identifier, name, type)
EMAIL_TEMPLATES = (
    (1, "CONTACT-DEFAULT", "Contact Notification", "Contact"),
    (2, "RESOURCE-DEFAULT", "Resource Notification", "Resource"),
)

CONFIGURATION_STATUSES = ((1, "Active"), (2, "Inactive"), (3, "Retired"))
MANUFACTURERS = {
    1: "Dell", 2: "HP", 3: "Lenovo", 4: "SonicWall", 5: "Ubiquiti", 6: "Cisco Meraki", 7: "Synology", 8: "Brother",
    9: "Microsoft", 10: "Apple", 11: "Fortinet",
}  # fmt: skip
# (type id, name, name prefix, weight, ((manufacturer id, model, part number), ...))
CONFIGURATION_TYPES = (
    (1, "Workstation", "WS", 40, ((1, "OptiPlex 7010", "OPTI-7010"), (2, "EliteDesk 800 G9", "5V8K3UT"),
                                  (3, "ThinkCentre M70q Gen 4", "12E3002HUS"))),
    (2, "Laptop", "LT", 30, ((1, "Latitude 5440", "LAT-5440"), (3, "ThinkPad T14 Gen 4", "21HD003NUS"),
                             (10, "MacBook Air 13 M2", "MLY33LL/A"))),
    (3, "Server", "SRV", 6, ((1, "PowerEdge R650xs", "PER650XS"), (2, "ProLiant DL360 Gen10", "P19766-B21"))),
    (4, "Firewall", "FW", 3, ((4, "TZ370", "02-SSC-2825"), (11, "FortiGate 60F", "FG-60F"))),
    (5, "Network Switch", "SW", 4, ((5, "USW-Pro-24-PoE", "USW-PRO-24-POE"), (6, "MS120-24P", "MS120-24P-HW"))),
    (6, "Wireless Access Point", "AP", 6, ((5, "U6-Pro", "U6-PRO-US"), (6, "MR36", "MR36-HW"))),
    (7, "Printer", "PRN", 6, ((2, "LaserJet Pro M404dn", "W1A53A"), (8, "HL-L8360CDW", "HLL8360CDW"))),
    (8, "Backup Appliance", "NAS", 2, ((7, "DiskStation DS1522+", "DS1522+"),)),
    (9, "Microsoft 365 Tenant", "M365", 2, ((9, "Microsoft 365 Business Premium", "CFQ7TTC0LCHC"),)),
)  # fmt: skip
_CONFIG_WEIGHTS = tuple(t[3] for t in CONFIGURATION_TYPES)
DESKTOP_OS = (("Windows 11 Pro", "22631"), ("Windows 11 Pro", "26100"), ("Windows 10 Pro", "19045"))
MAC_OS = (("macOS Sonoma", "14.6"), ("macOS Sequoia", "15.1"))
SERVER_OS = (("Windows Server 2022 Standard", "20348"), ("Windows Server 2019 Standard", "17763"))
CPUS = ("Intel Core i5-13500 @ 2.50GHz", "Intel Core i7-1365U @ 1.80GHz", "AMD Ryzen 5 PRO 7530U @ 2.00GHz")
SERVER_CPUS = ("Intel Xeon Silver 4310 @ 2.10GHz", "Intel Xeon E-2378 @ 2.60GHz")
SERVER_ROLES = ("Domain Controller", "File Server", "Domain Controller, File Server", "SQL Server", "Hyper-V Host")
FIRMWARE = ("7.0.1-5145", "7.1.1-7058", "v7.2.8 build1639", "v7.4.4 build2662")

OPPORTUNITY_TYPES = ((1, "New Business"), (2, "Upsell"), (3, "Renewal"), (4, "Project"))
OPPORTUNITY_STAGES = ((1, "Prospect"), (2, "Qualified"), (3, "Proposal Sent"), (4, "Negotiation"), (5, "Closed"))
OPPORTUNITY_STATUSES = ((1, "Open"), (2, "Won"), (3, "Lost"), (4, "No Decision"))
OPPORTUNITY_PRIORITIES = ((1, "Hot"), (2, "Warm"), (3, "Cold"))
OPPORTUNITY_PROBABILITIES = ((1, "0"), (2, "10"), (3, "25"), (4, "50"), (5, "75"), (6, "90"), (7, "100"))
OPPORTUNITY_RATINGS = ((1, "Excellent"), (2, "Good"), (3, "Fair"), (4, "Poor"))
CAMPAIGNS = ((1, "Windows 10 End of Life"), (2, "Security Webinar Series"), (3, "Backup Awareness Month"))
OPPORTUNITY_NAMES = (
    "Managed Services Agreement", "Server Refresh", "Firewall Replacement", "Microsoft 365 Migration",
    "Laptop Refresh", "Security Bundle Upgrade", "Backup as a Service", "Wi-Fi Upgrade", "Office Move",
    "Co-managed IT", "Phone System Replacement", "Network Assessment",
)  # fmt: skip
OPPORTUNITY_NOTES = (
    "Met with the owner; budget approved for next quarter.",
    "Waiting on the signed quote.",
    "Competing with a local MSP on price.",
    "Follow up after their board meeting.",
    "Needs to be done before the lease on the old office ends.",
)
COMPETITORS = ("Local MSP", "Big Box IT", "In-house hire", None)

SCHEDULE_TICKET = (1, "S")
SCHEDULE_OPPORTUNITY = (3, "O")
SCHEDULE_STATUSES = ((1, "Firm"), (2, "Tentative"))
REMINDERS = ((1, "0 minutes"), (2, "15 minutes"), (3, "30 minutes"), (4, "1 hour"))


def _day(epoch: int) -> int:
    return epoch - epoch % _DAY


def _quarter_hour(epoch: int) -> int:
    return epoch - epoch % 900


def _drop_empty(record: Record) -> Record:
    return {k: value for k, value in record.items() if value is not None}


def _board_item(board_id: int) -> tuple[int, str, bool]:
    """(id, name, projectFlag) of board ``board_id``: the fixed service and project boards, then extras."""
    if board_id <= PROJECT_BOARD_OFFSET:
        return board_id, v.SERVICE_BOARDS[board_id - 1][1], False
    project_index = board_id - PROJECT_BOARD_OFFSET - 1
    if project_index < len(v.PROJECT_BOARDS):
        return board_id, v.PROJECT_BOARDS[project_index][1], True
    extra = project_index - len(v.PROJECT_BOARDS)
    name = EXTRA_BOARD_NAMES[extra % len(EXTRA_BOARD_NAMES)]
    rounds = extra // len(EXTRA_BOARD_NAMES)
    return board_id, (f"{name} {rounds + 1}" if rounds else name), False


def _company_of(pool: Pool, company_id: int) -> Record | None:
    return next((c for c in pool.companies if c["id"] == company_id), None)


# -- record builders ---------------------------------------------------------------------------------


class ExtraRecords:
    """Record builders of the five tables, sharing a ``RecordFactory``'s references and caches."""

    def __init__(self, factory: RecordFactory) -> None:
        self.f = factory
        self.refs = factory.refs

    def builders(self) -> dict[str, Callable[[random.Random, int, int, int, Pool], Record]]:
        return {
            "service/boards": self.board,
            "company/configurations": self.configuration,
            "sales/opportunities": self.opportunity,
            "project/tickets": self.project_ticket,
            "schedule/entries": self.schedule_entry,
        }

    # -- shared references ---------------------------------------------------------------------------

    def board_ref(self, board_id: int) -> dict[str, Any]:
        _, name, _ = _board_item(board_id)
        return self.refs.ref("board", board_id, name=name)

    def status_ref(self, board_id: int, status: tuple[int, str, int]) -> dict[str, Any]:
        return self.refs.ref(
            "ticket_status", board_id * 100 + status[0], name=status[1], sort=status[2], link={"board": board_id}
        )

    def _member(self, rng: random.Random, pool: Pool, share: float = 1.0) -> dict[str, Any] | None:
        if pool.members and rng.random() < share:
            return self.f.member_ref(rng.choice(pool.members))
        return None

    # -- service/boards ------------------------------------------------------------------------------

    def board(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        _, name, project = _board_item(rid)
        closed = (
            PROJECT_TICKET_STATUSES[-1] if project else next(s for s in v.TICKET_STATUSES if s[1] == "Closed")
        )
        work_type = v.WORK_TYPES[0]
        reopen = not project and rng.random() < 0.6
        never_by_days = reopen and rng.random() < 0.5
        limit = rng.random() < 0.2
        department = (11, "PRJ", "Projects") if project else (10, "SVC", "Services")
        record: Record = {
            "id": rid,
            "name": name,
            "location": self.f._ref("location", v.LOCATIONS[0]),
            "department": self.refs.ref(
                "system_department", department[0], identifier=department[1], name=department[2]
            ),
            "inactiveFlag": rid > PROJECT_BOARD_OFFSET + len(v.PROJECT_BOARDS) and rng.random() < 0.1,
            "signOffTemplate": self.f._ref("service_signoff", SIGNOFF_TEMPLATES[1 if project else 0]),
            "sendToContactFlag": True,
            "contactTemplate": self._email_template(EMAIL_TEMPLATES[0]),
            "sendToResourceFlag": True,
            "resourceTemplate": self._email_template(EMAIL_TEMPLATES[1]),
            "projectFlag": project,
            "showDependenciesFlag": rng.random() < 0.5 if project else None,
            "showEstimatesFlag": rng.random() < 0.7 if project else None,
            "billTicketsAfterClosedFlag": rng.random() < 0.3,
            "billTicketSeparatelyFlag": False,
            "billUnapprovedTimeExpenseFlag": rng.random() < 0.2,
            "overrideBillingSetupFlag": False,
            "dispatchMember": self._member(rng, pool, 0.6),
            "serviceManagerMember": self._member(rng, pool, 0.8),
            "dutyManagerMember": self._member(rng, pool, 0.5),
            "oncallMember": self._member(rng, pool, 0.4),
            "workRole": self.f._ref("work_role", v.WORK_ROLES[2] if project else v.WORK_ROLES[0]),
            "workType": self.refs.ref("work_type", work_type[0], name=work_type[1], utilizationFlag=work_type[2]),
            "billTime": "Billable",
            "billExpense": "Billable",
            "billProduct": "Billable",
            "autoCloseStatus": self.status_ref(rid, closed),
            "autoAssignNewTicketsFlag": rng.random() < 0.3,
            "autoAssignNewECTicketsFlag": rng.random() < 0.3,
            "autoAssignNewPortalTicketsFlag": rng.random() < 0.3,
            "discussionsLockedFlag": False,
            "timeEntryLockedFlag": False,
            "notifyEmailFrom": "help@msp.example.com",
            "notifyEmailFromName": "MSP Projects" if project else "MSP Service Desk",
            "closedLoopDiscussionsFlag": rng.random() < 0.5,
            "closedLoopResolutionFlag": rng.random() < 0.5,
            "closedLoopInternalAnalysisFlag": False,
            "timeEntryDiscussionFlag": True,
            "timeEntryResolutionFlag": False,
            "timeEntryInternalAnalysisFlag": False,
            "problemSort": "Ascending",
            "resolutionSort": "Ascending",
            "internalAnalysisSort": "Ascending",
            "emailConnectorAllowReopenClosedFlag": reopen,
            "emailConnectorReopenStatus": self.status_ref(rid, v.TICKET_STATUSES[0]) if reopen else None,
            "emailConnectorReopenResourcesFlag": rng.random() < 0.5 if reopen else None,
            "emailConnectorNewTicketNoMatchFlag": rng.random() < 0.5 if reopen else None,
            "emailConnectorNeverReopenByDaysFlag": never_by_days if reopen else None,
            "emailConnectorReopenDaysLimit": rng.choice((7, 14, 30)) if never_by_days else None,
            "useMemberDisplayNameFlag": False,
            "sendToCCFlag": True,
            "autoAssignTicketOwnerFlag": rng.random() < 0.4,
            "autoAssignLimitFlag": limit,
            "autoAssignLimitAmount": rng.choice((5, 10, 15)) if limit else None,
            "closedLoopAllFlag": False,
            "percentageCalculation": rng.choice(("ActualHours", "ClosedTickets")) if project else None,
            "allSort": "Descending",
            "markFirstNoteIssueFlag": True,
            "restrictBoardByDefaultFlag": False,
            "sendToBundledFlag": False,
            "_info": self.f._info(
                f"service/boards/{rid}",
                ("statuses", "types", "subtypes", "items", "teams"),
                entered,
                updated,
                self.f._by(rng, pool),
                None,
            ),
        }
        return _drop_empty(record)

    def _email_template(self, item: tuple[int, str, str, str]) -> dict[str, Any]:
        return self.refs.ref("email_template", item[0], identifier=item[1], name=item[2], type=item[3])

    # -- company/configurations ----------------------------------------------------------------------

    def configuration(
        self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool, company: Record | None = None
    ) -> Record:
        company = company or pool.company_at(rng, entered)
        contacts = pool.contacts_by_company.get(company["id"]) or []
        config_type = rng.choices(CONFIGURATION_TYPES, weights=_CONFIG_WEIGHTS)[0]
        type_id, type_name, prefix = config_type[0], config_type[1], config_type[2]
        maker_id, model, part = rng.choice(config_type[4])
        status = rng.choices(CONFIGURATION_STATUSES, weights=(85, 9, 6))[0]
        computer = type_id in (1, 2, 3)
        networked = type_id != 9
        user = rng.choice(contacts) if contacts and type_id in (1, 2) and rng.random() < 0.8 else None
        installed = _day(entered)
        purchased = installed - rng.randint(1, 30) * _DAY
        warranty = purchased + rng.choice((1, 3, 3, 5)) * 365 * _DAY
        ident = company["identifier"].upper()[:10]
        domain = company.get("website", "www.example.com").removeprefix("www.")
        subnet = f"10.{rid % 200 + 10}.{rng.randint(0, 3)}"
        device_id = str(rng.randint(1000, 99999)) if computer and rng.random() < 0.85 else None
        record: Record = {
            "id": rid,
            "name": f"{domain.split('.')[0]}.onmicrosoft.com" if type_id == 9 else f"{ident}-{prefix}{rid % 1000:03d}",
            "type": self.refs.ref("configuration_type", type_id, name=type_name),
            "status": self.f._ref("configuration_status", status),
            "company": self.f.company_ref(company),
            "contact": self.f.contact_ref(user) if user else None,
            "site": company.get("site"),
            "locationId": 1,
            "location": self.f._ref("location", v.LOCATIONS[0]),
            "businessUnitId": 10,
            "department": self.refs.ref("system_department", 10, identifier="SVC", name="Services"),
            "deviceIdentifier": device_id,
            "serialNumber": "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", k=7 if maker_id == 1 else 10))
            if type_id != 9
            else None,
            "modelNumber": model[:50],
            "tagNumber": f"AT-{rng.randint(10000, 99999)}" if computer and rng.random() < 0.4 else None,
            "purchaseDate": format_epoch(purchased) if type_id != 9 else None,
            "installationDate": format_epoch(installed),
            "installedBy": self._member(rng, pool, 0.9),
            "warrantyExpirationDate": format_epoch(warranty) if type_id != 9 else None,
            "notes": f"Assigned to {user['firstName']} {user['lastName']}." if user and rng.random() < 0.3 else None,
            "macAddress": ":".join(f"{rng.randrange(256):02X}" for _ in range(6)) if networked else None,
            "lastLoginName": f"{ident}\\{user['firstName'][0]}{user['lastName']}".lower().replace("'", "")
            if user
            else None,
            "billFlag": False,
            "ipAddress": f"{subnet}.{rng.randint(2, 250) if type_id != 4 else 1}" if networked else None,
            "defaultGateway": f"{subnet}.1" if networked and type_id != 4 else None,
            "parentConfigurationId": None,
            "manufacturer": self.refs.ref("manufacturer", maker_id, name=MANUFACTURERS[maker_id]),
            "activeFlag": status[1] == "Active",
            "managementLink": f"https://{subnet}.1:4433" if type_id == 4 else None,
            "remoteLink": f"https://rmm.msp.example.com/devices/{device_id}" if device_id else None,
            "mobileGuid": _guid(rng),
            "displayVendorFlag": False,
            "showRemoteFlag": device_id is not None,
            "showAutomateFlag": device_id is not None,
            "needsRenewalFlag": type_id != 9 and warranty < updated + 90 * _DAY,
            "manufacturerPartNumber": part,
            "_info": self.f._info(
                f"company/configurations/{rid}", (), entered, updated, self.f._by(rng, pool), None
            ),
            "customFields": self.f._custom_fields(
                "company/configurations",
                rng,
                {
                    13: device_id is not None if computer else None,
                    14: rng.choice(("Production", "Production", "Spare", "Due for Replacement", None)),
                },
            ),
        }
        if computer:
            os_name, build = rng.choice(SERVER_OS if type_id == 3 else MAC_OS if maker_id == 10 else DESKTOP_OS)
            record["osType"] = os_name
            record["osInfo"] = f"{os_name} (build {build}), 64-bit"
            record["cpuSpeed"] = rng.choice(SERVER_CPUS if type_id == 3 else CPUS)
            record["ram"] = f"{rng.choice((32, 64, 128) if type_id == 3 else (8, 16, 16, 32))} GB"
            disk = rng.choice((960, 1920, 3840) if type_id == 3 else (256, 512, 512, 1024))
            record["localHardDrives"] = f"C: {disk} GB ({rng.randint(10, 80) * disk // 100} GB free)"
        questions = self._questions(rng, rid, type_id)
        if questions:
            record["questions"] = questions
        if type_id == 8 or (type_id == 3 and rng.random() < 0.7):
            failed = rng.choice((0, 0, 0, 1, 2))
            record.update(
                lastBackupDate=format_epoch(max(entered, updated - rng.randint(0, 2) * _DAY)),
                backupSuccesses=rng.randint(20, 31) - failed,
                backupIncomplete=rng.choice((0, 0, 1)),
                backupFailed=failed,
                backupRestores=rng.choice((0, 0, 1)),
                backupServerName=f"{ident}-NAS01",
                backupBillableSpaceGb=float(rng.choice((250, 500, 1000, 2000))),
                backupProtectedDeviceList=record["name"],
                backupYear=int(format_epoch(updated)[:4]),
                backupMonth=int(format_epoch(updated)[5:7]),
            )
        return _drop_empty(record)

    def _questions(self, rng: random.Random, rid: int, type_id: int) -> list[dict[str, Any]]:
        """Configuration-type questions with their answers (real answers are scalars)."""
        asked: list[tuple[int, str, str, Any]] = []
        if type_id == 4:
            asked = [(1, "Firmware Version", "Text", rng.choice(FIRMWARE)), (2, "Admin URL", "Hyperlink", None)]
        elif type_id == 3:
            asked = [(3, "Server Role", "Text", rng.choice(SERVER_ROLES)), (4, "RAID Level", "Text", "RAID 10")]
        elif type_id == 9:
            asked = [(5, "Tenant ID", "Text", _guid(rng)), (6, "Licensed Users", "Number", rng.randint(5, 150))]
        return [
            {
                "answerId": rid * 10 + index,
                "questionId": question_id,
                "question": question,
                **({"answer": answer} if answer is not None else {}),
                "sequenceNumber": float(index + 1),
                "numberOfDecimals": 0,
                "fieldType": field_type,
                "requiredFlag": index == 0,
            }
            for index, (question_id, question, field_type, answer) in enumerate(asked)
        ]

    # -- sales/opportunities -------------------------------------------------------------------------

    def opportunity(self, rng: random.Random, rid: int, entered: int, updated: int, pool: Pool) -> Record:
        company = pool.company_at(rng, entered)
        contacts = pool.contacts_by_company.get(company["id"]) or []
        for _ in range(5):
            if contacts:
                break
            company = pool.company_at(rng, entered)
            contacts = pool.contacts_by_company.get(company["id"]) or []
        contact = rng.choice(contacts) if contacts else None
        rep = rng.choice(pool.members) if pool.members else None
        decided = updated - entered > 7 * _DAY and rng.random() < 0.65
        if decided:
            status = rng.choices(OPPORTUNITY_STATUSES[1:], weights=(45, 40, 15))[0]
            stage = OPPORTUNITY_STAGES[-1]
            probability = OPPORTUNITY_PROBABILITIES[-1 if status[1] == "Won" else 0]
        else:
            status = OPPORTUNITY_STATUSES[0]
            index = rng.randrange(len(OPPORTUNITY_STAGES) - 1)
            stage = OPPORTUNITY_STAGES[index]
            probability = OPPORTUNITY_PROBABILITIES[index + 2]
        closed = updated - rng.randint(0, 3) * _HOUR if decided else None
        closed = max(entered, closed) if closed is not None else None
        company_ref = self.f.company_ref(company)
        contact_ref = self.f.contact_ref(contact) if contact else None
        technical = rng.choice(contacts) if len(contacts) > 1 and rng.random() < 0.3 else None
        won = status[1] == "Won"
        record: Record = {
            "id": rid,
            "name": f"{company['name'][:45]} - {rng.choice(OPPORTUNITY_NAMES)}"[:100],
            "expectedCloseDate": format_epoch(_day(closed if closed else entered + rng.randint(20, 120) * _DAY)),
            "type": self.f._ref("opportunity_type", rng.choice(OPPORTUNITY_TYPES)),
            "stage": self.f._ref("opportunity_stage", stage),
            "status": self.f._ref("opportunity_status", status),
            "priority": self.f._ref("opportunity_priority", rng.choice(OPPORTUNITY_PRIORITIES)),
            "notes": rng.choice(OPPORTUNITY_NOTES) if rng.random() < 0.6 else None,
            "probability": self.f._ref("opportunity_probability", probability),
            "source": rng.choice(v.LEAD_SOURCES),
            "rating": self.f._ref("opportunity_rating", rng.choice(OPPORTUNITY_RATINGS)),
            "campaign": self.f._ref("campaign", rng.choice(CAMPAIGNS)) if rng.random() < 0.3 else None,
            "primarySalesRep": self.f.member_ref(rep) if rep else None,
            "secondarySalesRep": self._member(rng, pool, 0.2),
            "locationId": 1,
            "businessUnitId": 10,
            "company": company_ref,
            "contact": contact_ref,
            "site": company.get("site"),
            "customerPO": f"PO-{rng.randint(10000, 99999)}" if won and rng.random() < 0.4 else None,
            "pipelineChangeDate": format_epoch(closed if closed else rng.randint(entered, updated)),
            "dateBecameLead": format_epoch(entered - rng.randint(0, 45) * _DAY),
            "closedDate": format_epoch(closed) if closed else None,
            "closedBy": self.f.member_ref(rep) if closed and rep else None,
            "totalSalesTax": 0.0,
            "shipToCompany": company_ref,
            "shipToContact": contact_ref,
            "shipToSite": company.get("site"),
            "billToCompany": company_ref,
            "billToContact": contact_ref,
            "billToSite": company.get("site"),
            "billingTerms": company.get("billingTerms"),
            "taxCode": company.get("taxCode"),
            "currency": self.f._currency(),
            "technicalContact": self.f.contact_ref(technical) if technical else None,
            "_info": self.f._info(
                f"sales/opportunities/{rid}",
                ("notes", "contacts", "forecast", "team"),
                entered,
                updated,
                self.f._by(rng, pool),
                None,
            ),
            "customFields": self.f._custom_fields(
                "sales/opportunities",
                rng,
                {
                    15: float(rng.choice((250, 500, 1200, 2500))) if rng.random() < 0.5 else None,
                    16: rng.choice(COMPETITORS),
                },
            ),
        }
        return _drop_empty(record)

    # -- project/tickets -----------------------------------------------------------------------------

    def project_ticket(
        self,
        rng: random.Random,
        rid: int,
        entered: int,
        updated: int,
        pool: Pool,
        project: Record | None = None,
        company: Record | None = None,
        closed: int | None = None,
        predecessor: int | None = None,
    ) -> Record:
        project = project or (rng.choice(pool.projects) if pool.projects else None)
        if project is not None:
            company = company or _company_of(pool, project["company"]["id"])
            project_board = project["board"]["id"]
            contact_ref = project.get("contact")
            owner = project.get("manager") if rng.random() < 0.5 else None
        else:
            project_board = rng.choice(v.PROJECT_BOARDS)[0]
            contact_ref = None
            owner = None
        company = company or pool.company_at(rng, entered)
        if contact_ref is None:
            contacts = pool.contacts_by_company.get(company["id"]) or []
            contact_ref = self.f.contact_ref(rng.choice(contacts)) if contacts else None
        owner = owner or self._member(rng, pool, 0.9)
        board_id = project_board + PROJECT_BOARD_OFFSET
        status = PROJECT_TICKET_STATUSES[-1] if closed else rng.choice(PROJECT_TICKET_STATUSES[:-1])
        ticket_type = rng.choices(PROJECT_TICKET_TYPES, weights=(8, 1, 1))[0]
        budget = float(rng.choice((1, 2, 4, 8, 16)))
        done = 1.0 if closed else rng.choice((0.0, 0.25, 0.5, 0.75))
        by = self.f._by(rng, pool)
        priority = v.PRIORITIES[2]
        summary = rng.choice(PROJECT_TASKS)
        record: Record = {
            "id": rid,
            "summary": summary,
            "recordType": "ProjectTicket",
            "board": self.board_ref(board_id),
            "status": self.status_ref(board_id, status),
            "company": self.f.company_ref(company),
            "site": company.get("site"),
            "siteName": "Main",
            "addressLine1": company.get("addressLine1"),
            "city": company.get("city"),
            "stateIdentifier": company.get("state"),
            "zip": company.get("zip"),
            "country": company.get("country"),
            "contact": contact_ref,
            "contactName": contact_ref["name"] if contact_ref else None,
            "type": self.refs.ref(
                "ticket_type", board_id * 100 + ticket_type[0], name=ticket_type[1], link={"board": board_id}
            ),
            "owner": owner,
            "priority": self.refs.ref("priority", priority[0], name=priority[1], sort=priority[2], level=priority[3]),
            "requiredDate": format_epoch(_day(entered) + rng.randint(3, 30) * _DAY),
            "budgetHours": budget,
            "severity": "Medium",
            "impact": "Medium",
            "allowAllClientsPortalView": False,
            "customerUpdatedFlag": False,
            "automaticEmailContactFlag": False,
            "automaticEmailResourceFlag": True,
            "automaticEmailCcFlag": False,
            "initialDescription": f"{summary} as part of the project plan.",
            "closedDate": format_epoch(closed) if closed else None,
            "closedBy": by if closed else None,
            "closedFlag": bool(closed),
            "actualHours": round(budget * done * rng.uniform(0.7, 1.3), 2),
            "approved": True,
            "estimatedExpenseCost": 0.0,
            "estimatedProductCost": 0.0,
            "estimatedTimeCost": round(budget * 60.0, 2),
            "estimatedTimeRevenue": round(budget * 150.0, 2),
            "billingMethod": "ActualRates",
            "hasChildTicket": False,
            "hasMergedChildTicketFlag": False,
            "billTime": "Billable",
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "predecessorType": "Ticket" if predecessor else None,
            "predecessorId": predecessor,
            "predecessorClosedFlag": False if predecessor else None,
            "lagDays": 0 if predecessor else None,
            "lagNonworkingDaysFlag": False if predecessor else None,
            "estimatedStartDate": format_epoch(_day(entered) + rng.randint(0, 7) * _DAY),
            "duration": rng.choice((1, 1, 2, 3, 5)),
            "location": self.f._ref("location", v.LOCATIONS[0]),
            "department": self.refs.ref("system_department", 11, identifier="PRJ", name="Projects"),
            "mobileGuid": _guid(rng),
            "currency": self.f._currency(),
            "_info": self.f._info(
                f"project/tickets/{rid}",
                ("activities", "timeentries", "notes", "documents", "configurations"),
                entered,
                updated,
                by,
                self.f._by(rng, pool),
            ),
            "customFields": self.f._custom_fields(
                "project/tickets", rng, {17: ticket_type[1] == "Milestone"}
            ),
        }
        if closed:
            record["dateResolved"] = format_epoch(closed)
            record["resolvedBy"] = by
        return _drop_empty(record)

    # -- schedule/entries ----------------------------------------------------------------------------

    def schedule_entry(
        self,
        rng: random.Random,
        rid: int,
        entered: int,
        updated: int,
        pool: Pool,
        target: Record | None = None,
        kind: tuple[int, str] = SCHEDULE_TICKET,
        start: int | None = None,
        hours: float | None = None,
    ) -> Record:
        if target is None and pool.tickets:
            target, kind = rng.choice(pool.tickets), SCHEDULE_TICKET
        if hours is None:
            hours = rng.choice((0.5, 1.0, 1.0, 1.5, 2.0, 3.0, 4.0))
        if start is None:
            start = _quarter_hour(entered + rng.randint(1, 72) * _HOUR)
        end = start + int(hours * _HOUR)
        if kind == SCHEDULE_OPPORTUNITY and target is not None:
            member = target.get("primarySalesRep")
            name = target["name"]
            where = self.f._ref("service_location", v.SERVICE_LOCATIONS[1])
        elif target is not None:
            member = target.get("owner")
            name = f"{target['company']['name']} / {target['summary']}"
            where = target.get("serviceLocation") or self.f._ref("service_location", v.SERVICE_LOCATIONS[0])
        else:
            member, name = None, "Internal: team meeting"
            where = self.f._ref("service_location", v.SERVICE_LOCATIONS[2])
        member = member or self._member(rng, pool)
        done = updated >= end
        acknowledged = done or rng.random() < 0.6
        by = member["identifier"] if member and rng.random() < 0.7 else self.f._by(rng, pool)
        record: Record = {
            "id": rid,
            "objectId": target["id"] if target is not None else None,
            "name": name[:250],
            "member": member,
            "where": where,
            "dateStart": format_epoch(start),
            "dateEnd": format_epoch(end),
            "reminder": self.f._ref("reminder", rng.choice(REMINDERS)),
            "status": self.f._ref("schedule_status", SCHEDULE_STATUSES[0 if rng.random() < 0.85 else 1]),
            "type": self.refs.ref("schedule_type", kind[0], identifier=kind[1]),
            "doneFlag": done,
            "acknowledgedFlag": acknowledged,
            "ownerFlag": False,
            "meetingFlag": False,
            "allowScheduleConflictsFlag": False,
            "addMemberToProjectFlag": False,
            "mobileGuid": _guid(rng),
            "acknowledgedDate": format_epoch(min(updated, entered + rng.randint(60, 4 * _HOUR)))
            if acknowledged
            else None,
            "closeDate": format_epoch(updated) if done else None,
            "notifyResource": True,
            "notificationSent": True,
            "hours": hours,
            "startTimeSet": True,
            "endTimeSet": True,
            "_info": self.f._info(f"schedule/entries/{rid}", (), entered, updated, by, None),
        }
        return _drop_empty(record)


def builders(factory: RecordFactory) -> dict[str, Callable[[random.Random, int, int, int, Pool], Record]]:
    """The five tables' record builders over ``factory`` (for ``RecordFactory.builders``)."""
    return ExtraRecords(factory).builders()


# -- whole-instance generation -----------------------------------------------------------------------


def generate_into(
    factory: RecordFactory,
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    pool: Pool,
    start: int,
    end: int,
    out: dict[str, list[Record]],
) -> None:
    """Add the five tables to ``out`` (which already holds the first eight), each from its own stream."""
    extra = ExtraRecords(factory)
    third = (end - start) // 3
    pool.projects = out.get("project/projects", [])
    out["service/boards"] = _boards(extra, seed, instance, counts, pool, start, start + third // 2, end)
    out["company/configurations"] = _configurations(extra, seed, instance, counts, pool, start, end)
    out["sales/opportunities"] = _plain(factory, "sales/opportunities", seed, instance, counts, pool, start, end)
    out["project/tickets"] = _project_tickets(extra, seed, instance, counts, pool, start, end)
    out["schedule/entries"] = _schedule_entries(extra, seed, instance, counts, pool, start, end, out)


def _boards(
    extra: ExtraRecords,
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    pool: Pool,
    start: int,
    entered_end: int,
    end: int,
) -> list[Record]:
    """Boards are set up early and keep being tuned; ids are 1, 2, 3... (the fixed boards first)."""
    count = counts.get("service/boards", 0)
    if not count:
        return []
    rng = rng_for(seed, instance, "service/boards")
    first = TABLES["service/boards"].first_id
    entered = sorted(rng.randint(start, entered_end) for _ in range(count))
    records = []
    for rid, when in zip(range(first, first + count), entered, strict=True):
        updated = when if rng.random() < 0.3 else min(end, when + rng.randint(60, 500 * _DAY))
        records.append(extra.board(rng, rid, when, updated, pool))
    return records


def _configurations(
    extra: ExtraRecords, seed: int | str, instance: str, counts: dict[str, int], pool: Pool, start: int, end: int
) -> list[Record]:
    """Devices of the clients, more for companies with more employees; entered after their company."""
    count = counts.get("company/configurations", 0)
    companies = pool.companies
    if not count or not companies:
        return []
    rng = rng_for(seed, instance, "company/configurations")
    weights = [c.get("numberOfEmployees", 10) for c in companies]
    owners = rng.choices(companies, weights=weights, k=count)
    company_entered = {c["id"]: parse_epoch(c["_info"]["dateEntered"]) for c in companies}
    plans = []
    for (entered, updated), company in zip(_timeline(rng, count, start, end, edit_days=300), owners, strict=True):
        entered = max(entered, company_entered[company["id"]])
        plans.append((entered, max(updated, entered), company))
    plans.sort(key=lambda plan: plan[0])
    ids = _ids(rng, TABLES["company/configurations"].first_id, count)
    return [
        extra.configuration(rng, rid, entered, updated, pool, company=company)
        for rid, (entered, updated, company) in zip(ids, plans, strict=True)
    ]


def _project_tickets(
    extra: ExtraRecords, seed: int | str, instance: str, counts: dict[str, int], pool: Pool, start: int, end: int
) -> list[Record]:
    """Tasks of the projects, entered while their project runs; closed projects have closed tickets."""
    count = counts.get("project/tickets", 0)
    if not count or not pool.companies:
        return []
    rng = rng_for(seed, instance, "project/tickets")
    companies = {c["id"]: c for c in pool.companies}
    plans: list[tuple[int, Record | None]] = []
    for _ in range(count):
        project = rng.choice(pool.projects) if pool.projects else None
        if project is None:
            plans.append((rng.randint(start, end - _HOUR), None))
            continue
        opened = parse_epoch(project["_info"]["dateEntered"])
        finish = max(opened, min(end - _HOUR, parse_epoch(project["estimatedEnd"])))
        plans.append((rng.randint(opened, finish), project))
    plans.sort(key=lambda plan: plan[0])
    ids = _ids(rng, TABLES["project/tickets"].first_id, count)
    last_in_project: dict[int, int] = {}
    records = []
    for rid, (entered, project) in zip(ids, plans, strict=True):
        closed = None
        finished = (project is not None and project.get("closedFlag")) or rng.random() < 0.45
        if finished and end - entered > 3 * _HOUR:
            closed = min(end - 60, entered + rng.randint(2 * _HOUR, 30 * _DAY))
        updated = min(end, (closed or entered) + rng.randint(0, 3 * _DAY))
        previous = last_in_project.get(project["id"]) if project is not None else None
        company = companies.get(project["company"]["id"]) if project is not None else None
        records.append(
            extra.project_ticket(
                rng,
                rid,
                entered,
                updated,
                pool,
                project=project,
                company=company,
                closed=closed,
                predecessor=previous if previous and rng.random() < 0.3 else None,
            )
        )
        if project is not None:
            last_in_project[project["id"]] = rid
    return records


def _schedule_entries(
    extra: ExtraRecords,
    seed: int | str,
    instance: str,
    counts: dict[str, int],
    pool: Pool,
    start: int,
    end: int,
    out: dict[str, list[Record]],
) -> list[Record]:
    """Members' calendars: mostly service tickets, then project tickets, then sales meetings."""
    count = counts.get("schedule/entries", 0)
    targets = [
        (out.get("service/tickets", []), SCHEDULE_TICKET, 70),
        (out.get("project/tickets", []), SCHEDULE_TICKET, 20),
        (out.get("sales/opportunities", []), SCHEDULE_OPPORTUNITY, 10),
    ]
    targets = [t for t in targets if t[0]]
    if not count or not targets:
        return []
    rng = rng_for(seed, instance, "schedule/entries")
    plans = []
    for _ in range(count):
        records, kind, _weight = rng.choices(targets, weights=[t[2] for t in targets])[0]
        target = rng.choice(records)
        opened = parse_epoch(target["_info"].get("dateEntered", target["_info"]["lastUpdated"]))
        entered = min(end, opened + rng.randint(300, 2 * _DAY))
        hours = rng.choice((0.5, 1.0, 1.0, 1.5, 2.0, 3.0, 4.0))
        slot = _quarter_hour(entered + rng.randint(_HOUR, 5 * _DAY))
        if rng.random() < 0.8:
            updated = entered if slot + int(hours * _HOUR) > end else min(end, slot + int(hours * _HOUR) + 900)
        else:
            updated = min(end, entered + rng.randint(60, 2 * _DAY))
        plans.append((entered, max(entered, updated), target, kind, slot, hours))
    plans.sort(key=lambda plan: plan[0])
    ids = _ids(rng, TABLES["schedule/entries"].first_id, count)
    return [
        extra.schedule_entry(rng, rid, entered, updated, pool, target=target, kind=kind, start=slot, hours=hours)
        for rid, (entered, updated, target, kind, slot, hours) in zip(ids, plans, strict=True)
    ]


# -- realistic changes (mutate) ----------------------------------------------------------------------

Changer = Callable[[Record, random.Random, Pool, RecordFactory, int], Changes]


def _named(f: RecordFactory, kind: str, rng: random.Random, items: tuple[tuple[Any, ...], ...]) -> dict[str, Any]:
    item = rng.choice(items)
    return f.refs.ref(kind, item[0], name=item[1])


def _actor(rng: random.Random, pool: Pool) -> str:
    if pool.members and rng.random() < 0.8:
        return rng.choice(pool.members)["identifier"]
    return v.API_MEMBER


def _change_board(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(3)
    if choice == 0 and pool.members:
        field = rng.choice(("dispatchMember", "serviceManagerMember", "dutyManagerMember", "oncallMember"))
        return {field: f.member_ref(rng.choice(pool.members))}
    if choice == 1:
        return {"autoAssignNewTicketsFlag": not record.get("autoAssignNewTicketsFlag", False)}
    return {"billTicketsAfterClosedFlag": not record.get("billTicketsAfterClosedFlag", False)}


def _change_configuration(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(5)
    if choice == 0 and record.get("activeFlag"):
        status = rng.choice(CONFIGURATION_STATUSES[1:])
        return {"status": f.refs.ref("configuration_status", status[0], name=status[1]), "activeFlag": False}
    if choice == 1 and "ipAddress" in record:
        subnet = record["ipAddress"].rsplit(".", 1)[0]
        return {"ipAddress": f"{subnet}.{rng.randint(2, 250)}"}
    if choice == 2 and "osType" in record:
        return {"osInfo": f"{record['osType']} (build {rng.randint(10000, 30000)}), 64-bit"}
    if choice == 3 and "warrantyExpirationDate" in record:
        extended = parse_epoch(record["warrantyExpirationDate"]) + 365 * _DAY
        return {"warrantyExpirationDate": format_epoch(extended), "needsRenewalFlag": extended < now + 90 * _DAY}
    return {"notes": f"{record.get('notes', '')} Checked during quarterly review.".strip()}


def _change_opportunity(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    if record.get("status", {}).get("name") != "Open":
        return {"notes": f"{record.get('notes', '')} Follow-up call logged.".strip()}
    stage_id = record.get("stage", {}).get("id", 1)
    if stage_id >= 4 or rng.random() < 0.3:
        status = rng.choices(OPPORTUNITY_STATUSES[1:], weights=(45, 40, 15))[0]
        probability = OPPORTUNITY_PROBABILITIES[-1 if status[1] == "Won" else 0]
        changes: Changes = {
            "status": f.refs.ref("opportunity_status", status[0], name=status[1]),
            "stage": f.refs.ref("opportunity_stage", OPPORTUNITY_STAGES[-1][0], name=OPPORTUNITY_STAGES[-1][1]),
            "probability": f.refs.ref("opportunity_probability", probability[0], name=probability[1]),
            "closedDate": format_epoch(now),
            "pipelineChangeDate": format_epoch(now),
        }
        if "primarySalesRep" in record:
            changes["closedBy"] = record["primarySalesRep"]
        return changes
    if rng.random() < 0.6:
        stage = OPPORTUNITY_STAGES[stage_id]
        probability = OPPORTUNITY_PROBABILITIES[stage_id + 2]
        return {
            "stage": f.refs.ref("opportunity_stage", stage[0], name=stage[1]),
            "probability": f.refs.ref("opportunity_probability", probability[0], name=probability[1]),
            "pipelineChangeDate": format_epoch(now),
        }
    return {"expectedCloseDate": format_epoch(_day(now) + rng.randint(14, 90) * _DAY)}


def _change_project_ticket(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    board_id = record.get("board", {}).get("id", PROJECT_BOARD_OFFSET + 1)
    extra = ExtraRecords(f)
    choice = rng.randrange(4)
    if choice <= 1 and not record.get("closedFlag"):
        names = [s[1] for s in PROJECT_TICKET_STATUSES]
        current = record.get("status", {}).get("name", "New")
        index = names.index(current) if current in names else 0
        following = PROJECT_TICKET_STATUSES[min(index + rng.randint(1, 2), len(names) - 1)]
        changes: Changes = {"status": extra.status_ref(board_id, following)}
        if following == PROJECT_TICKET_STATUSES[-1]:
            by = _actor(rng, pool)
            changes.update(
                closedDate=format_epoch(now),
                closedBy=by,
                closedFlag=True,
                dateResolved=format_epoch(now),
                resolvedBy=by,
            )
        return changes
    if choice == 2 and pool.members:
        return {"owner": f.member_ref(rng.choice(pool.members))}
    return {"actualHours": round(float(record.get("actualHours", 0.0)) + rng.choice((0.5, 1.0, 2.0)), 2)}


def _change_schedule_entry(record: Record, rng: random.Random, pool: Pool, f: RecordFactory, now: int) -> Changes:
    choice = rng.randrange(4)
    if choice == 0 and not record.get("doneFlag"):
        return {"doneFlag": True, "closeDate": format_epoch(now)}
    if choice == 1 and not record.get("acknowledgedFlag"):
        return {"acknowledgedFlag": True, "acknowledgedDate": format_epoch(now)}
    if choice == 2 and pool.members:
        return {"member": f.member_ref(rng.choice(pool.members))}
    start = _quarter_hour(now + rng.randint(1, 96) * _HOUR)
    hours = float(record.get("hours") or 1.0)
    return {
        "dateStart": format_epoch(start),
        "dateEnd": format_epoch(start + int(hours * _HOUR)),
        "doneFlag": False,
        "closeDate": None,
        "status": _named(f, "schedule_status", rng, SCHEDULE_STATUSES),
    }


CHANGERS: dict[str, Changer] = {
    "service/boards": _change_board,
    "company/configurations": _change_configuration,
    "sales/opportunities": _change_opportunity,
    "project/tickets": _change_project_ticket,
    "schedule/entries": _change_schedule_entry,
}
"""Per table: a realistic random change of one record (see ``mutate``)."""

REFERENCED_BY: dict[str, list[tuple[str, str]]] = {
    "company/companies": [
        ("company/configurations", "company"),
        ("sales/opportunities", "company"),
        ("project/tickets", "company"),
    ],
    "company/contacts": [
        ("company/configurations", "contact"),
        ("sales/opportunities", "contact"),
        ("sales/opportunities", "technicalContact"),
        ("project/tickets", "contact"),
    ],
    "system/members": [
        ("company/configurations", "installedBy"),
        ("sales/opportunities", "primarySalesRep"),
        ("sales/opportunities", "secondarySalesRep"),
        ("sales/opportunities", "closedBy"),
        ("project/tickets", "owner"),
        ("schedule/entries", "member"),
        ("service/boards", "dispatchMember"),
        ("service/boards", "serviceManagerMember"),
        ("service/boards", "dutyManagerMember"),
        ("service/boards", "oncallMember"),
    ],
    "service/boards": [
        ("service/tickets", "board"),
        ("project/tickets", "board"),
        ("system/members", "serviceDefaultBoard"),
    ],
    "service/tickets": [("schedule/entries", "objectId@S")],
    "project/tickets": [("schedule/entries", "objectId@S")],
    "sales/opportunities": [("schedule/entries", "objectId@O")],
}
"""Table -> [(referencing table, reference field)], merged into ``mutate``'s delete guard.
``objectId@S`` is a schedule entry's ``objectId`` when its type identifier is ``S``."""

