"""Words the generated data is made of: names, places, ticket subjects, notes.

Plain tuples, so that generation is a few ``rng.choice`` calls per field and stays deterministic.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Aaliyah", "Adrian", "Aisha", "Alan", "Alejandro", "Amara", "Anders", "Ana", "Ben", "Bianca", "Brandon",
    "Carla", "Chen", "Chloe", "Daniel", "Dana", "Deepak", "Diego", "Elena", "Emeka", "Emily", "Erik", "Fatima",
    "Felix", "Grace", "Hannah", "Hiro", "Isabel", "Ivan", "Jack", "Jamal", "Jana", "Julia", "Kai", "Karen",
    "Kofi", "Laura", "Leon", "Lucia", "Maya", "Marco", "Mei", "Mohammed", "Nadia", "Nathan", "Nina", "Olivia",
    "Omar", "Paula", "Priya", "Rafael", "Rachel", "Ravi", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Tom",
    "Uma", "Victor", "Wei", "Yusuf", "Zoe",
)

LAST_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Brooks", "Campbell", "Chen", "Costa",
    "Dubois", "Evans", "Fischer", "Fitzgerald", "Garcia", "Gupta", "Haddad", "Hansen", "Hughes", "Ibrahim",
    "Jensen", "Johnson", "Kaur", "Kim", "Kowalski", "Larsen", "Lopez", "Martin", "Meyer", "Morales",
    "Müller", "Nakamura", "Nguyen", "Novak", "O'Brien", "Okafor", "Patel", "Petrov", "Quinn", "Rossi",
    "Santos", "Schmidt", "Singh", "Sørensen", "Tanaka", "Taylor", "Walsh", "Weber", "Williams", "Zhang",
)

COMPANY_WORDS = (
    "Apex", "Beacon", "Birch", "Bluebird", "Brightwater", "Cedar", "Copper", "Crescent", "Evergreen", "Falcon",
    "Granite", "Harbor", "Highland", "Ironwood", "Juniper", "Keystone", "Lakeside", "Lighthouse", "Maple",
    "Meridian", "Northwind", "Oakridge", "Orchard", "Pinnacle", "Quarry", "Redwood", "Riverside", "Sable",
    "Silverline", "Summit", "Tidewater", "Trident", "Vantage", "Westbrook", "Willow", "Zenith",
)

# industry -> company name suffixes that fit it
INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Healthcare": ("Dental", "Family Clinic", "Physiotherapy", "Medical Group"),
    "Legal": ("Law", "Legal LLP", "& Partners"),
    "Accounting": ("Accounting", "Tax Advisors", "CPAs"),
    "Manufacturing": ("Manufacturing", "Fabrication", "Plastics", "Components"),
    "Logistics": ("Logistics", "Freight", "Transport"),
    "Retail": ("Outfitters", "Home Goods", "Market"),
    "Construction": ("Builders", "Construction", "Roofing"),
    "Education": ("Academy", "Learning Centre", "Montessori"),
    "Nonprofit": ("Foundation", "Community Trust", "Charities"),
    "Hospitality": ("Hotels", "Hospitality Group", "Bistro"),
    "Real Estate": ("Realty", "Properties", "Estates"),
    "Architecture": ("Architects", "Design Studio"),
}

# (city, region, country, postal code pattern (# digit, @ letter), phone prefix, timezone, language)
CITIES = (
    ("Austin", "TX", "US", "787##", "+1 512-555-", "America/Chicago", "en-US"),
    ("Denver", "CO", "US", "802##", "+1 303-555-", "America/Denver", "en-US"),
    ("Portland", "OR", "US", "972##", "+1 503-555-", "America/Los_Angeles", "en-US"),
    ("Columbus", "OH", "US", "432##", "+1 614-555-", "America/New_York", "en-US"),
    ("Raleigh", "NC", "US", "276##", "+1 919-555-", "America/New_York", "en-US"),
    ("Tampa", "FL", "US", "336##", "+1 813-555-", "America/New_York", "en-US"),
    ("Madison", "WI", "US", "537##", "+1 608-555-", "America/Chicago", "en-US"),
    ("Toronto", "ON", "CA", "M#@ #@#", "+1 416-555-", "America/Toronto", "en-CA"),
    ("Vancouver", "BC", "CA", "V#@ #@#", "+1 604-555-", "America/Vancouver", "en-CA"),
    ("Manchester", None, "GB", "M## #@@", "+44 161 496 ", "Europe/London", "en-GB"),
    ("Bristol", None, "GB", "BS# #@@", "+44 117 496 ", "Europe/London", "en-GB"),
    ("Dublin", None, "IE", "D0# @#@#", "+353 1 555 ", "Europe/Dublin", "en"),
    ("Amsterdam", "NH", "NL", "10## @@", "+31 20 555 ", "Europe/Amsterdam", "nl"),
    ("Hamburg", "HH", "DE", "20###", "+49 40 5555 ", "Europe/Berlin", "de"),
    ("Lyon", None, "FR", "6900#", "+33 4 55 55 ", "Europe/Paris", "fr"),
)

STREETS = (
    "Main Street", "Oak Avenue", "Harbor Road", "Mill Lane", "Station Road", "Park Drive", "Commerce Way",
    "Innovation Boulevard", "King Street", "Church Road", "Riverside Drive", "Market Street", "Elm Court",
)

LINE2 = ("Suite 100", "Suite 210", "Floor 3", "Unit 4B", "Building C", "2nd Floor")

COMPANY_TAGS = ("managed", "break-fix", "co-managed", "24x7", "hipaa", "pci", "onboarding", "key-account", "m365")

COMPANY_NOTES = (
    "Alarm code for the server room is kept in the password vault.",
    "Prefers changes outside business hours (after 18:00 local time).",
    "Escalate network outages to the office manager by phone.",
    "Main contact is on leave in August; use the secondary contact.",
    "Quarterly business review scheduled with the managing partner.",
)

JOB_TITLES = (
    "Office Manager", "Owner", "Managing Partner", "Operations Director", "Practice Manager", "Accountant",
    "Receptionist", "HR Coordinator", "Paralegal", "Site Supervisor", "Marketing Lead", "Finance Director",
    "IT Coordinator", "Sales Manager", "Warehouse Lead", "Associate", "Head of Operations",
)

AGENT_GROUPS = ("Service Desk", "Service Desk", "Service Desk", "Escalations", "Network", "Projects", "Onboarding")

# type -> ((subject, description, tags, group), ...)
TICKET_TEMPLATES: dict[str, tuple[tuple[str, str, tuple[str, ...], str], ...]] = {
    "incident": (
        ("Outlook keeps asking for a password", ("Since this morning Outlook prompts for credentials every few "
         "minutes. Webmail works."), ("email", "m365"), "Service Desk"),
        ("Printer on 2nd floor not printing", ("Jobs sit in the queue and nothing comes out. Restarted the "
         "printer already."), ("printer",), "Service Desk"),
        ("VPN disconnects every 10 minutes", "Working from home, the VPN drops and reconnects constantly.",
         ("vpn", "network"), "Network"),
        ("Internet down at the main office", "No internet for the whole office since 9:15.", ("network", "outage"),
         "Network"),
        ("Cannot open shared drive", "Mapped S: drive shows a red cross and cannot be opened.", ("file-share",),
         "Service Desk"),
        ("Laptop very slow after update", "Laptop takes 10 minutes to start since Windows updated last night.",
         ("windows", "performance"), "Service Desk"),
        ("Server backup failed", "Nightly backup job reported failure: target volume not found.",
         ("backup", "alert"), "Escalations"),
        ("Wi-Fi not reaching the meeting room", "Guests cannot connect in the large meeting room.",
         ("wifi", "network"), "Network"),
    ),
    "service_request": (
        ("New starter: laptop and accounts", ("New hire starts Monday; needs a laptop, email and access to the "
         "finance share."), ("onboarding", "m365"), "Onboarding"),
        ("Leaver: disable accounts", ("Employee leaves on Friday. Please disable the account and forward mail to "
         "the manager."), ("offboarding", "m365"), "Service Desk"),
        ("Install Adobe Acrobat Pro", "Please install Acrobat Pro on the reception PC; licence attached.",
         ("software",), "Service Desk"),
        ("Add user to distribution list", "Please add the new office manager to the all-staff list.", ("email",),
         "Service Desk"),
        ("Replace failing UPS battery", "UPS in the comms cabinet beeps; battery replacement needed.",
         ("hardware", "onsite"), "Projects"),
        ("Set up new multifunction printer", "Delivery arrives Thursday; please configure scan-to-email.",
         ("printer", "onsite"), "Projects"),
    ),
    "question": (
        ("How do I share a calendar?", "How can I share my calendar with my assistant?", ("m365", "how-to"),
         "Service Desk"),
        ("Is this email phishing?", "Got an invoice from a supplier we do not use. Safe to open?",
         ("security", "phishing"), "Service Desk"),
        ("Licence renewal date", "When does our antivirus licence renew?", ("licensing",), "Service Desk"),
    ),
    "problem": (
        ("Recurring disk space alerts on file server", "Disk space alerts every week on FS01; find the cause.",
         ("storage", "alert"), "Escalations"),
        ("Intermittent DNS failures", "Several users report sites not loading for a minute at a time.",
         ("network", "dns"), "Network"),
    ),
}

TICKET_TAGS = ("urgent-vip", "remote", "onsite", "follow-up", "warranty", "vendor")

ROOT_CAUSES = (
    "User error", "Hardware failure", "Software bug", "Configuration change", "Vendor outage",
    "Expired credentials", "Capacity", "Security incident",
)

TIME_NOTES: dict[str, tuple[str, ...]] = {
    "remote_support": (
        "Remote session with the user; reset credentials and tested sign-in.",
        "Cleared print queue and reinstalled driver remotely.",
        "Checked event logs, applied pending updates, rebooted.",
        "Reconfigured VPN profile and verified connection.",
        "Investigated alert, extended volume, confirmed backup ran.",
    ),
    "onsite": (
        "Onsite: replaced network switch in comms cabinet.",
        "Onsite: set up new workstation and migrated user profile.",
        "Onsite: traced cabling fault in meeting room.",
    ),
    "travel": ("Travel to client site.", "Travel back from client site."),
    "project": (
        "Prepared laptop image and enrolled device.",
        "Configured printer scan-to-email and tested with staff.",
        "Migrated mailbox and updated DNS records.",
    ),
    "administration": ("Updated documentation and closed out the ticket.", "Called vendor for RMA number."),
}

SLA_POLICIES = {"essentials": "Standard", "professional": "Business", "enterprise": "Premium"}
"""The SLA policy a company's plan gives its tickets."""

SLA_RESOLUTION_HOURS = {"urgent": 4, "high": 8, "normal": 24, "low": 72}

RATES = (95.0, 110.0, 125.0, 150.0)
