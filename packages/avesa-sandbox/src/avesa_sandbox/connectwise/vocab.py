"""Realistic values for generated ConnectWise data: names, places, and an MSP's setup tables.

The lookup tables (boards, statuses, priorities, work types...) are what a typical managed-service
provider configures in ConnectWise Manage; ids are fixed so references are stable across instances.
"""

from __future__ import annotations

from avesa_sandbox import names

FIRST_NAMES = names.FIRST_NAMES

LAST_NAMES = names.LAST_NAMES

COMPANY_WORDS = names.COMPANY_WORDS

COMPANY_KINDS = (
    "Dental Group", "Family Practice", "Law Offices", "Manufacturing", "Logistics", "Construction",
    "Accounting", "Realty", "Veterinary Clinic", "Insurance Agency", "Engineering", "Credit Union",
    "Auto Group", "Architects", "Foods", "Hospitality", "Medical Center", "Charter School", "Printing",
    "Wealth Management", "Plumbing & Heating", "Orthodontics", "Title Company", "Nonprofit Foundation",
)  # fmt: skip

COMPANY_SUFFIXES = ("Inc.", "LLC", "Corp.", "Co.", "Ltd.", "PLLC", "Group", "")

STREET_NAMES = (
    "Main St", "Oak Ave", "Pine St", "Maple Dr", "Cedar Ln", "Elm St", "Washington Blvd", "Lake Rd",
    "Hill St", "Park Ave", "Commerce Pkwy", "Industrial Dr", "Market St", "2nd St", "Broadway",
    "Sunset Blvd", "Riverside Dr", "Technology Way", "Corporate Dr", "Harbor Blvd",
)  # fmt: skip

SUITES = ("", "", "", "Suite 100", "Suite 210", "Suite 300", "Floor 2", "Unit B", "Building 4")

CITIES = (
    ("Tampa", "FL", "336"), ("Orlando", "FL", "328"), ("Austin", "TX", "787"), ("Dallas", "TX", "752"),
    ("Denver", "CO", "802"), ("Phoenix", "AZ", "850"), ("Seattle", "WA", "981"), ("Portland", "OR", "972"),
    ("Chicago", "IL", "606"), ("Columbus", "OH", "432"), ("Atlanta", "GA", "303"), ("Charlotte", "NC", "282"),
    ("Nashville", "TN", "372"), ("Boston", "MA", "021"), ("Pittsburgh", "PA", "152"), ("Minneapolis", "MN", "554"),
    ("Kansas City", "MO", "641"), ("Salt Lake City", "UT", "841"), ("Raleigh", "NC", "276"),
    ("San Diego", "CA", "921"), ("Sacramento", "CA", "958"), ("Richmond", "VA", "232"), ("Omaha", "NE", "681"),
    ("Boise", "ID", "837"), ("Madison", "WI", "537"),
)  # fmt: skip

AREA_CODES = ("813", "407", "512", "214", "303", "602", "206", "503", "312", "614", "404", "704", "615", "617")

DOMAINS_TLD = names.TLDS

COUNTRIES = ((1, "United States", "US"), (2, "Canada", "CA"))

TIME_ZONES = (
    (1, "GMT-5/Eastern Time: US & Canada"),
    (2, "GMT-6/Central Time: US & Canada"),
    (3, "GMT-7/Mountain Time: US & Canada"),
    (4, "GMT-8/Pacific Time: US & Canada"),
)

COMPANY_STATUSES = ((1, "Active"), (1, "Active"), (1, "Active"), (1, "Active"), (2, "Inactive"), (3, "Credit Hold"))
COMPANY_TYPES = ((1, "Client"), (1, "Client"), (1, "Client"), (2, "Prospect"), (3, "Vendor"), (4, "Partner"))
MARKETS = (
    (1, "Healthcare"), (2, "Legal"), (3, "Manufacturing"), (4, "Financial Services"), (5, "Education"),
    (6, "Construction"), (7, "Retail"), (8, "Nonprofit"), (9, "Professional Services"),
)  # fmt: skip
TERRITORIES = ((1, "Main"), (2, "East"), (3, "West"), (4, "Central"))
TAX_CODES = ((1, "Tax-State"), (2, "Tax-Exempt"), (3, "Tax-County"))
BILLING_TERMS = ((1, "Net 30 days"), (2, "Net 15 days"), (3, "Due on receipt"), (4, "Net 45 days"))
OWNERSHIP_TYPES = ((1, "Private"), (2, "Public"), (3, "Nonprofit"))
DELIVERY_METHODS = ((1, "Mail"), (2, "Email"), (3, "Email and Mail"))
LEAD_SOURCES = ("Referral", "Website", "Trade Show", "Cold Call", "Partner", "Google Ads")

CONTACT_TYPES = ((1, "Decision Maker"), (2, "End User"), (3, "Billing"), (4, "Technical"), (5, "Owner"))
RELATIONSHIPS = ((1, "Primary"), (2, "Secondary"), (3, "Employee"), (4, "Former Employee"))
DEPARTMENTS = (
    (1, "Administration"), (2, "Accounting"), (3, "Operations"), (4, "Sales"), (5, "IT"), (6, "Executive"),
    (7, "Human Resources"), (8, "Front Desk"),
)  # fmt: skip
TITLES = (
    "Office Manager", "Owner", "President", "CFO", "Controller", "Operations Manager", "Receptionist",
    "IT Coordinator", "Practice Administrator", "Bookkeeper", "Sales Manager", "Project Manager",
    "Paralegal", "Nurse Manager", "Director of Operations", "HR Generalist", "Account Executive", "",
)  # fmt: skip

SERVICE_BOARDS = ((1, "Help Desk"), (2, "Professional Services"), (3, "Escalations"), (4, "Network Operations"))
TICKET_STATUSES = (
    (1, "New", 0), (2, "Assigned", 1), (3, "In Progress", 2), (4, "Waiting Customer", 3),
    (5, "Scheduled", 4), (6, "Resolved", 5), (7, "Closed", 6),
)  # fmt: skip
CLOSED_STATUSES = frozenset({"Resolved", "Closed"})
PRIORITIES = (
    (1, "Priority 1 - Emergency Response", 2, "High"),
    (2, "Priority 2 - Quick Response", 4, "Medium"),
    (3, "Priority 3 - Normal Response", 6, "Medium"),
    (4, "Priority 4 - Schedule Maintenance", 8, "Low"),
)
TICKET_TYPES = (
    (1, "Hardware", ("Desktop", "Laptop", "Printer", "Server", "Phone")),
    (2, "Software", ("Microsoft 365", "Line of Business App", "Antivirus", "Browser", "Accounting Package")),
    (3, "Network", ("Firewall", "Wi-Fi", "VPN", "Switch", "Internet Outage")),
    (4, "User Administration", ("New User", "Termination", "Password Reset", "Permissions")),
    (5, "Security", ("Phishing", "Malware", "MFA", "Backup")),
)
TICKET_ITEMS = ((1, "Break/Fix"), (2, "Request"), (3, "Maintenance"), (4, "Incident"))
TEAMS = ((1, "Tier 1"), (2, "Tier 2"), (3, "Field Services"), (4, "Projects"))
SOURCES = ((1, "Email"), (2, "Phone"), (3, "Portal"), (4, "Email Connector"), (5, "Monitoring"))
SERVICE_LOCATIONS = ((1, "Remote"), (2, "On-Site"), (3, "In-house"))
SEVERITY = ("Low", "Medium", "High")

TICKET_SUMMARIES = (
    "Printer offline in {dept}", "Unable to access {app}", "Password reset for {person}",
    "New user setup: {person}", "Termination: disable account for {person}", "VPN connection drops",
    "Outlook not syncing on {device}", "Replace failing drive on {host}", "Backup job failed on {host}",
    "Computer running slow", "Install {app} on {device}", "Wi-Fi dead spot in {dept}",
    "Phishing email reported by {person}", "MFA prompt not received", "Shared drive mapping missing",
    "Scanner to email not working", "Monitor flickering at front desk", "Firewall firmware update",
    "Server disk space low on {host}", "Request: new laptop for {person}", "Teams calls dropping",
    "Cannot print to {dept} copier", "Email bounce-backs to client domain", "Antivirus alert on {host}",
    "QuickBooks license activation", "Website SSL certificate expiring", "Add {person} to distribution list",
)  # fmt: skip
APPS = ("Microsoft Teams", "QuickBooks", "Adobe Acrobat", "Dentrix", "Clio", "SharePoint", "OneDrive", "Chrome")
DEVICES = ("laptop", "desktop", "iPhone", "Surface", "MacBook", "thin client")
HOST_PREFIXES = ("SRV", "DC", "FS", "SQL", "WS", "NAS", "HV")

TICKET_DESCRIPTIONS = (
    "User reports the issue started this morning after a restart.",
    "Multiple users affected; workaround in place for now.",
    "Issue is intermittent and happens a few times a day.",
    "Please call the office manager before coming on site.",
    "Alert generated by RMM monitoring.",
    "Customer requested this be completed before end of week.",
)

TIME_NOTES = (
    "Remoted in and verified the issue. Cleared cache and restarted the service.",
    "Reset password and confirmed the user can sign in.",
    "Replaced toner and ran test page; printer back online.",
    "Updated drivers and rebooted; monitoring for recurrence.",
    "Called user, walked through MFA re-registration.",
    "Created account, assigned licenses, added to groups.",
    "Investigated logs; escalated to Tier 2 with findings.",
    "Applied firmware update during maintenance window.",
    "Restored files from last night's backup.",
    "Onsite: ran cabling for new workstation and patched switch port.",
    "Followed up with customer; no further issues reported.",
    "Documented configuration in IT Glue.",
)  # fmt: skip

WORK_TYPES = ((1, "Regular", True), (2, "After Hours", True), (3, "Travel", False), (4, "Remote Support", True))
WORK_ROLES = ((1, "Technician"), (2, "Engineer"), (3, "Project Manager"), (4, "Consultant"), (5, "vCIO"))
TIME_STATUSES = ("Open", "PendingApproval", "ApprovedByTierOne", "ReadyToBill", "Billed", "BilledAgreement")
BILLABLE_OPTIONS = ("Billable", "Billable", "DoNotBill", "NoCharge")

MEMBER_TITLES = (
    "Service Manager", "Help Desk Technician", "Systems Engineer", "Network Engineer", "Project Manager",
    "Field Technician", "vCIO", "Service Coordinator", "Senior Engineer", "Account Manager",
)  # fmt: skip
SECURITY_ROLES = ((1, "Admin"), (2, "Technician"), (3, "Service Manager"), (4, "Project Manager"))
MEMBER_TYPES = ((1, "Full Time"), (2, "Part Time"), (3, "Contractor"))
LOCATIONS = ((1, "Main Office"), (2, "Remote"))
SYSTEM_DEPARTMENTS = ((10, "Services", "SVC"), (11, "Projects", "PRJ"), (12, "Administration", "ADM"))

AGREEMENT_TYPES = (
    (1, "Managed Services"), (2, "Block Time"), (3, "Break/Fix"), (4, "Backup as a Service"),
    (5, "Microsoft 365 Licensing"), (6, "Security Bundle"),
)  # fmt: skip
BILLING_CYCLES = ((1, "Monthly"), (2, "Quarterly"), (3, "Annual"))
AGREEMENT_STATUSES = ("Active", "Active", "Active", "Active", "Expired", "Cancelled", "Inactive")
APPLICATION_UNITS = ("Amount", "Hours", "Incidents")

PROJECT_BOARDS = ((1, "Projects"), (2, "Onboarding"), (3, "Infrastructure Refresh"))
PROJECT_STATUSES = ((1, "Open", False), (2, "In Progress", False), (3, "On Hold", False), (4, "Completed", True))
PROJECT_TYPES = ((1, "Migration"), (2, "Onboarding"), (3, "Hardware Refresh"), (4, "Security Assessment"))
PROJECT_NAMES = (
    "Microsoft 365 Migration", "Server Refresh", "Firewall Replacement", "Office Move", "Wi-Fi Upgrade",
    "Client Onboarding", "Backup Modernization", "Security Assessment", "Windows 11 Rollout",
    "Phone System Migration", "Azure AD Cleanup", "Network Segmentation",
)  # fmt: skip
BILLING_METHODS = ("ActualRates", "FixedFee", "NotToExceed", "OverrideRate")

CATALOG_ITEMS = (
    (1, "OPTI-7010", "Dell OptiPlex 7010 Desktop", 749.0, 612.0, "Inventory"),
    (2, "LAT-5440", "Dell Latitude 5440 Laptop", 1199.0, 985.0, "Inventory"),
    (3, "M365-BP", "Microsoft 365 Business Premium (monthly)", 22.0, 18.5, "Service"),
    (4, "M365-BS", "Microsoft 365 Business Standard (monthly)", 12.5, 10.0, "Service"),
    (5, "SW-TZ370", "SonicWall TZ370 Firewall", 895.0, 702.0, "Inventory"),
    (6, "UBQ-AP-U6", "Ubiquiti U6-Pro Access Point", 179.0, 149.0, "Inventory"),
    (7, "MON-P2423", "Dell P2423 24in Monitor", 219.0, 171.0, "Inventory"),
    (8, "BKP-SRV", "Server Backup License (monthly)", 65.0, 32.0, "Service"),
    (9, "EDR-SEAT", "EDR Endpoint Protection (monthly)", 9.0, 5.5, "Service"),
    (10, "LAB-HR", "Installation Labor (hour)", 150.0, 60.0, "NonInventory"),
    (11, "DOCK-WD22", "Dell WD22TB4 Dock", 289.0, 238.0, "Inventory"),
    (12, "UPS-1500", "APC Smart-UPS 1500VA", 689.0, 552.0, "Inventory"),
)
UNITS_OF_MEASURE = ((1, "Each"), (2, "Month"), (3, "Hour"))
PRICE_METHODS = ("PricePerUnit", "PercentMarkupFromCost", "FlatRateForRange")

CURRENCY_USD = {
    "id": 7,
    "symbol": "$",
    "currencyCode": "USD",
    "decimalSeparator": ".",
    "numberOfDecimals": 2,
    "thousandsSeparator": ",",
    "negativeParenthesesFlag": False,
    "displaySymbolFlag": False,
    "currencyIdentifier": "USD",
    "displayIdFlag": False,
    "rightAlign": False,
    "name": "US Dollars",
}

API_MEMBER = "AVESA-Integration"
"""updatedBy of changes made "through an integration" rather than by a technician."""
