"""Vocabulary of the simulated ServiceNow data: names, categories, and the choice lists of each table.

``CHOICES`` holds (value -> label) of the choice columns the generator fills, as a base instance has
them: the Table API returns the value, ``sysparm_display_value`` the label.
"""

from __future__ import annotations

from avesa_sandbox.servicenow.tables import TASK_TABLES

FIRST_NAMES = (
    "Abel", "Adela", "Aileen", "Alejandra", "Alene", "Alfonso", "Allie", "Amos", "Andrew", "Angelo",
    "Annie", "Antonio", "Ashley", "Bernard", "Beth", "Billie", "Bow", "Brant", "Bridget", "Bud",
    "Carla", "Carol", "Charlie", "Chelsea", "Christen", "Claire", "Curt", "Darin", "David", "Dean",
    "Denis", "Don", "Elisa", "Emily", "Eric", "Fred", "Gail", "George", "Hannah", "Howard",
    "Isabel", "Jamie", "Jane", "Jerrod", "Jewel", "Joe", "Kari", "Krystle", "Lacy", "Luke",
    "Lynda", "Maria", "Marques", "Megan", "Miranda", "Naomi", "Nelly", "Oliver", "Priya", "Rachel",
    "Ramon", "Rick", "Rosa", "Samuel", "Sean", "Sofia", "Tanya", "Theo", "Vanessa", "Zane",
)  # fmt: skip

LAST_NAMES = (
    "Tuter", "Ahrens", "Anglin", "Arceneaux", "Bailey", "Beaty", "Behrends", "Bennett", "Berg", "Bowser",
    "Brewer", "Cantu", "Catalano", "Cesar", "Chan", "Cline", "Davis", "Dibiase", "Doyle", "Elliott",
    "Fair", "Fitzgerald", "Garcia", "Gonzalez", "Grey", "Hahn", "Ho", "Hughes", "Jackson", "Johnson",
    "Kaiser", "Kim", "Kowalski", "Lam", "Luddy", "Martinez", "McKinney", "Miller", "Moreno", "Nguyen",
    "O'Brien", "Okafor", "Patel", "Pierce", "Quinn", "Reyes", "Rossi", "Schmidt", "Shah", "Sorensen",
    "Stone", "Tanaka", "Thompson", "Underwood", "Vance", "Walker", "Weber", "Williams", "Young", "Zhang",
)  # fmt: skip

MSP_COMPANY = ("Northwind Managed Services", "NWMS", "Seattle", "WA", "981", "northwindms.example.com")
"""The instance owner's own company: agents belong to it."""

COMPANY_WORDS = (
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Cyberdyne", "Hooli", "Vandelay",
    "Pied Piper", "Soylent", "Tyrell", "Massive", "Aperture", "Blue Sun", "Gringotts", "Oscorp", "Monarch",
    "Sirius", "Oceanic", "Virtucon", "Dunder", "Prestige", "Sterling", "Bluth", "Gekko", "Krusty", "Nakatomi",
    "Duff", "Ollivander", "Rekall", "Spacely", "Cogswell", "Zorg", "Yoyodyne", "Tessier", "Ashford", "Halcyon",
)  # fmt: skip
COMPANY_KINDS = (
    "Dental", "Logistics", "Legal", "Manufacturing", "Accounting", "Health", "Realty", "Engineering",
    "Architects", "Insurance", "Foods", "Retail", "Consulting", "Credit Union", "School District", "Clinic",
)  # fmt: skip
COMPANY_SUFFIXES = ("Inc.", "LLC", "Group", "Partners", "Co.", "")
TLDS = (".com", ".net", ".org", ".us")

VENDORS = (
    ("Dell Inc.", "DELL", True),
    ("Microsoft", "MSFT", False),
    ("Cisco Systems", "CSCO", True),
    ("HP Inc.", "HPQ", True),
    ("Lenovo", "LNVGY", True),
    ("Apple", "AAPL", True),
    ("VMware", "VMW", False),
    ("Ubiquiti", "UI", True),
)
"""(name, stock symbol, manufactures hardware) of vendor companies."""

CITIES = (
    ("Seattle", "WA", "981"), ("Portland", "OR", "972"), ("Boise", "ID", "837"), ("Denver", "CO", "802"),
    ("Austin", "TX", "787"), ("Dallas", "TX", "752"), ("Chicago", "IL", "606"), ("Columbus", "OH", "432"),
    ("Atlanta", "GA", "303"), ("Raleigh", "NC", "276"), ("Boston", "MA", "021"), ("Newark", "NJ", "071"),
    ("Phoenix", "AZ", "850"), ("San Diego", "CA", "921"), ("Sacramento", "CA", "958"), ("Tampa", "FL", "336"),
)  # fmt: skip
STREETS = ("Main St", "Oak Ave", "Pine St", "Maple Dr", "Cedar Ln", "Elm St", "Park Blvd", "Lakeview Rd", "1st Ave")
AREA_CODES = ("206", "503", "208", "303", "512", "214", "312", "614", "404", "919", "617", "973", "602", "619")
TIME_ZONES = ("America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York", "US/Pacific", "")

AGENT_TITLES = (
    "Service Desk Analyst", "Senior Service Desk Analyst", "Systems Engineer", "Network Engineer",
    "Field Technician", "Service Delivery Manager", "Security Analyst", "Cloud Engineer", "NOC Technician",
)  # fmt: skip
USER_TITLES = (
    "Office Manager", "Accountant", "Receptionist", "Paralegal", "Nurse", "Sales Representative", "Engineer",
    "Director of Operations", "HR Generalist", "Controller", "Warehouse Lead", "Teacher", "", "",
)  # fmt: skip

DEPARTMENTS = ("Finance", "Human Resources", "IT", "Sales", "Operations", "Legal", "Customer Support")
"""Names of the ``cmn_department`` records user records reference."""
LOCATIONS = ("Headquarters", "Branch Office", "Warehouse", "Remote", "Data Center")
"""Names of the ``cmn_location`` records referenced (the sandbox does not serve these tables)."""

GROUPS = (
    ("Service Desk", "First line support for every client", "itil"),
    ("Network Operations", "Network monitoring, firewalls, switching", "itil"),
    ("Desktop Support", "End-user devices and peripherals", "itil"),
    ("Server Team", "Windows and Linux servers, virtualisation", "itil"),
    ("Security Operations", "Security incidents, EDR, phishing response", "itil"),
    ("Cloud Services", "Microsoft 365, Azure and AWS tenants", "itil"),
    ("Database Administration", "SQL Server and PostgreSQL", "itil"),
    ("Change Advisory Board", "Reviews and approves normal changes", "itil,change_manager"),
    ("Field Services", "On-site visits and hardware installs", "itil"),
    ("Application Support", "Line-of-business applications", "itil"),
    ("Identity & Access", "Accounts, MFA, permissions", "itil"),
    ("Backup & Recovery", "Backups, restores and DR tests", "itil"),
    ("Problem Management", "Root cause analysis", "itil,problem_manager"),
    ("Vendor Management", "Licensing and vendor escalations", "itil"),
)

INCIDENT_CATEGORIES: dict[str, tuple[str, ...]] = {
    "inquiry": ("antivirus", "email", "internal application"),
    "software": ("email", "operating system", "internal application"),
    "hardware": ("cpu", "disk", "keyboard", "memory", "monitor", "mouse"),
    "network": ("dhcp", "dns", "ip address", "vpn", "wireless"),
    "database": ("db2", "ms sql server", "oracle"),
}

INCIDENT_SUMMARIES = (
    "Unable to connect to VPN from home",
    "Outlook keeps asking for password",
    "Printer on 2nd floor is offline",
    "Laptop will not boot after update",
    "Cannot access shared drive S:",
    "New user account request for {person}",
    "Phishing email reported by {person}",
    "Server {host} disk space low",
    "Wi-Fi drops every few minutes in the conference room",
    "Teams calls have poor audio quality",
    "{app} crashes when opening reports",
    "Password reset for {person}",
    "MFA prompt not received on phone",
    "Backup job failed on {host}",
    "Firewall blocking access to {app}",
    "Monitor flickering at reception",
    "Email bouncing from external domain",
    "Slow performance on {host}",
    "Scanner not sending to email",
    "Request to install {app} on workstation",
)
INCIDENT_DESCRIPTIONS = (
    "User reports the issue started this morning. Rebooting did not help.",
    "Several users in the office are affected. Please investigate urgently.",
    "Happens intermittently, roughly every hour. Screenshots attached to the email.",
    "Caller is travelling and needs this resolved before the client meeting.",
    "Monitoring alert raised automatically by the RMM agent.",
    "",
)
APPS = ("QuickBooks", "Dentrix", "Clio", "SAP Business One", "Sage 50", "AutoCAD", "Epicor", "Salesforce")
HOST_PREFIXES = ("SRV-DC", "SRV-FS", "SRV-SQL", "SRV-APP", "SRV-RDS", "NAS")

CLOSE_CODES = (
    "Solution provided", "Workaround provided", "Resolved by caller", "User error", "Known error",
    "Duplicate", "No resolution provided", "Resolved by change", "Resolved by problem",
)  # fmt: skip
CLOSE_NOTES = (
    "Reset the user's password and confirmed login.",
    "Updated the driver and rebooted; user confirmed working.",
    "Replaced the faulty cable.",
    "Cleared the print queue and restarted the spooler.",
    "Extended the volume and cleaned up old logs.",
    "Reconfigured the VPN profile.",
)
WORK_COMMENTS = (
    "Remote session with user",
    "Investigated logs and event viewer",
    "Called vendor support",
    "On-site visit",
    "Configured and tested",
    "Documentation and follow-up email",
    "Monitoring after fix",
)

CHANGE_SUMMARIES = (
    "Patch Windows servers (monthly cycle)",
    "Upgrade firewall firmware on {host}",
    "Migrate mailboxes to Exchange Online",
    "Replace core switch at main office",
    "Decommission {host}",
    "Enable conditional access policies",
    "Increase storage on {host}",
    "Install {app} update",
)
PROBLEM_SUMMARIES = (
    "Recurring VPN disconnects for remote users",
    "Backups failing intermittently on {host}",
    "Printers going offline after Windows update",
    "Slow logons across the domain",
    "{app} crashes on large reports",
    "Wi-Fi roaming issues in warehouse",
)

CI_CLASSES = (
    ("cmdb_ci_computer", "Computer", "Hardware", "Computer", "Laptop"),
    ("cmdb_ci_computer", "Computer", "Hardware", "Computer", "Desktop"),
    ("cmdb_ci_win_server", "Windows Server", "Hardware", "Computer", "Server"),
    ("cmdb_ci_linux_server", "Linux Server", "Hardware", "Computer", "Server"),
    ("cmdb_ci_netgear", "Network Gear", "Hardware", "Network", "Switch"),
    ("cmdb_ci_ip_firewall", "IP Firewall", "Hardware", "Network", "Firewall"),
    ("cmdb_ci_printer", "Printer", "Hardware", "Printer", "Printer"),
    ("cmdb_ci_appl", "Application", "Software", "Application", "Application"),
)
"""(sys_class_name, class label, category, subcategory, name prefix hint) of configuration items."""
CI_PREFIX = {"Laptop": "LT", "Desktop": "WS", "Server": "SRV", "Switch": "SW", "Firewall": "FW", "Printer": "PRN"}
CI_MODELS = {
    "Laptop": ("Latitude 5440", "ThinkPad T14", "EliteBook 840", "MacBook Pro 14"),
    "Desktop": ("OptiPlex 7010", "ThinkCentre M70q", "ProDesk 400"),
    "Server": ("PowerEdge R650", "ProLiant DL380", "ThinkSystem SR630"),
    "Switch": ("Catalyst 9200", "UniFi USW-Pro-24", "Aruba 2930F"),
    "Firewall": ("FortiGate 60F", "Meraki MX68", "SonicWall TZ370"),
    "Printer": ("LaserJet Pro M404", "imageRUNNER C3226", "WorkForce Pro"),
    "Application": ("", ""),
}
DISCOVERY_SOURCES = ("ServiceNow", "SCCM", "Manual Entry", "ImportSet", "Intune")

TIME_CARD_STATES = ("Pending", "Submitted", "Approved", "Rejected", "Processed", "Recalled")
TIME_CARD_CATEGORIES = ("task_work", "task_work", "task_work", "admin", "meeting", "training")

CHOICES: dict[str, dict[str, dict[str, str]]] = {
    "task": {
        "impact": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
        "urgency": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
        "priority": {"1": "1 - Critical", "2": "2 - High", "3": "3 - Moderate", "4": "4 - Low", "5": "5 - Planning"},
        "escalation": {"0": "Normal", "1": "Moderate", "2": "High", "3": "Overdue"},
        "approval": {
            "not requested": "Not Yet Requested",
            "requested": "Requested",
            "approved": "Approved",
            "rejected": "Rejected",
        },
        "contact_type": {
            "email": "Email",
            "phone": "Phone",
            "self-service": "Self-service",
            "walk-in": "Walk-in",
            "virtual_agent": "Virtual Agent",
        },
        "upon_approval": {"proceed": "Proceed to Next Task", "do_nothing": "Wait for a User to Close this task"},
        "upon_reject": {"cancel": "Cancel all future Tasks", "goto": "Go to a previous Task"},
    },
    "incident": {
        "state": {
            "1": "New",
            "2": "In Progress",
            "3": "On Hold",
            "6": "Resolved",
            "7": "Closed",
            "8": "Canceled",
        },
        "incident_state": {
            "1": "New",
            "2": "In Progress",
            "3": "On Hold",
            "6": "Resolved",
            "7": "Closed",
            "8": "Canceled",
        },
        "severity": {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"},
        "category": {
            "inquiry": "Inquiry / Help",
            "software": "Software",
            "hardware": "Hardware",
            "network": "Network",
            "database": "Database",
        },
        "hold_reason": {
            "1": "Awaiting Caller",
            "3": "Awaiting Problem",
            "4": "Awaiting Vendor",
            "5": "Awaiting Change",
        },
        "notify": {"1": "Do Not Notify", "2": "Send Email", "3": "Send SMS"},
    },
    "change_request": {
        "state": {
            "-5": "New",
            "-4": "Assess",
            "-3": "Authorize",
            "-2": "Scheduled",
            "-1": "Implement",
            "0": "Review",
            "3": "Closed",
            "4": "Canceled",
        },
        "type": {"standard": "Standard", "normal": "Normal", "emergency": "Emergency"},
        "risk": {"1": "Very High", "2": "High", "3": "Moderate", "4": "Low"},
        "scope": {"1": "Very Large", "2": "Large", "3": "Medium", "4": "Small", "5": "Very Small"},
        "close_code": {
            "successful": "Successful",
            "successful_issues": "Successful with issues",
            "unsuccessful": "Unsuccessful",
        },
        "category": {
            "Hardware": "Hardware",
            "Software": "Software",
            "Service": "Service",
            "Network": "Network",
            "Documentation": "Documentation",
            "Other": "Other",
        },
        "phase": {"requested": "Requested", "implementation": "Implementation", "closed": "Closed"},
        "phase_state": {"open": "Open", "work_in_progress": "Work in Progress", "complete": "Complete"},
        "conflict_status": {"Conflict": "Conflict", "No Conflict": "No Conflict", "Not Run": "Not Run"},
    },
    "problem": {
        "state": {
            "101": "New",
            "102": "Assess",
            "103": "Root Cause Analysis",
            "104": "Fix in Progress",
            "106": "Resolved",
            "107": "Closed",
        },
        "problem_state": {"1": "Open", "2": "Known Error", "3": "Pending Change", "4": "Closed/Resolved"},
        "category": {"software": "Software", "hardware": "Hardware", "network": "Network", "database": "Database"},
        "resolution_code": {
            "fix_applied": "Fix Applied",
            "risk_accepted": "Risk Accepted",
            "duplicate": "Duplicate",
            "canceled": "Canceled",
        },
    },
    "cmdb_ci": {
        "install_status": {
            "1": "Installed",
            "2": "On Order",
            "3": "In Maintenance",
            "4": "Pending Install",
            "5": "Pending Repair",
            "6": "In Stock",
            "7": "Retired",
            "8": "Stolen",
            "100": "Absent",
        },
        "operational_status": {
            "1": "Operational",
            "2": "Non-Operational",
            "3": "Repair in Progress",
            "4": "DR Standby",
            "5": "Ready",
            "6": "Retired",
        },
    },
    "sys_user": {
        "notification": {"1": "Disabled", "2": "Enable"},
        "calendar_integration": {"0": "None", "1": "Outlook"},
        "identity_type": {"human": "Human", "machine": "Machine", "ai_agent": "AI Agent", "unclassified": "-"},
        "gender": {"Female": "Female", "Male": "Male", "Not Specified": "Not Specified"},
    },
    "time_card": {
        "state": {s: s for s in TIME_CARD_STATES},
        "category": {
            "task_work": "Task work",
            "admin": "Admin",
            "meeting": "Meeting",
            "training": "Training",
            "out_of_office": "Out of office",
        },
    },
}


def choice_label(table: str, column: str, value: str) -> str | None:
    """The label of a choice value, or None if the column has no known choice list."""
    own = CHOICES.get(table, {}).get(column)
    if own is None and table in TASK_TABLES:
        own = CHOICES["task"].get(column)
    if own is None and table == "customer_contact":
        own = CHOICES["sys_user"].get(column)
    if own is None:
        return None
    return own.get(value, value)
