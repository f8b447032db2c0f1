"""Word lists for realistic Salesforce data of an MSP's clients (names, places, products, activities).

Picklist values come from the schema file (the org's real picklists); these lists only cover free
text and the semantics the generator needs (which stage is won, what probability a stage has).
"""

from __future__ import annotations

from avesa_sandbox import names

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Priya", "Ashley",
    "Steven", "Kimberly", "Andrew", "Emily", "Kenji", "Donna", "Joshua", "Michelle", "Kevin", "Carol",
    "Brian", "Amanda", "George", "Melissa", "Timothy", "Deborah", "Ronald", "Stephanie", "Jason", "Rebecca",
    "Aisha", "Laura", "Omar", "Sharon", "Jacob", "Cynthia", "Gary", "Kathleen", "Wei", "Amy",
)  # fmt: skip

LAST_NAMES = (
    *names.US_LAST_NAMES,
    "Patel", "O'Brien", "Kim", "Chen", "Singh", "Murphy", "Cook", "Rogers", "Morgan", "Cooper",
)  # fmt: skip

SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")

COMPANY_WORDS = (
    "Acme", "Apex", "Beacon", "Blue Ridge", "Cascade", "Cedar", "Summit", "Harbor", "Ironwood", "Keystone",
    "Lakeside", "Liberty", "Maple", "Meridian", "Northstar", "Oakridge", "Pinnacle", "Prairie", "Redwood",
    "Riverside", "Sterling", "Silverline", "Stonebridge", "Sunrise", "Tidewater", "Trinity", "Valley",
    "Westfield", "Evergreen", "Granite", "Horizon", "Juniper", "Lighthouse", "Magnolia", "Orchard", "Pioneer",
)  # fmt: skip

COMPANY_KINDS = (
    "Dental", "Family Medicine", "Law Group", "Accounting", "Manufacturing", "Logistics", "Realty",
    "Construction", "Insurance", "Veterinary", "Engineering", "Architects", "Credit Union", "Foods",
    "Orthopedics", "Academy", "Hospitality", "Auto Group", "Pharmacy", "Energy",
)  # fmt: skip

COMPANY_SUFFIXES = ("Inc.", "LLC", "Co.", "Partners", "Group", "Corp.", "", "")

TLDS = names.TLDS

CITIES = (
    ("Austin", "TX", "787"), ("Dallas", "TX", "752"), ("Houston", "TX", "770"), ("Denver", "CO", "802"),
    ("Phoenix", "AZ", "850"), ("Seattle", "WA", "981"), ("Portland", "OR", "972"), ("Chicago", "IL", "606"),
    ("Columbus", "OH", "432"), ("Atlanta", "GA", "303"), ("Charlotte", "NC", "282"), ("Nashville", "TN", "372"),
    ("Tampa", "FL", "336"), ("Orlando", "FL", "328"), ("Boston", "MA", "021"), ("Hartford", "CT", "061"),
    ("Pittsburgh", "PA", "152"), ("Minneapolis", "MN", "554"), ("Kansas City", "MO", "641"),
    ("Salt Lake City", "UT", "841"), ("San Diego", "CA", "921"), ("Sacramento", "CA", "958"),
    ("Raleigh", "NC", "276"), ("Richmond", "VA", "232"), ("Omaha", "NE", "681"), ("Boise", "ID", "837"),
)  # fmt: skip

COORDINATES = {
    "Austin": (30.2672, -97.7431), "Dallas": (32.7767, -96.797), "Houston": (29.7604, -95.3698),
    "Denver": (39.7392, -104.9903), "Phoenix": (33.4484, -112.074), "Seattle": (47.6062, -122.3321),
    "Portland": (45.5152, -122.6784), "Chicago": (41.8781, -87.6298), "Columbus": (39.9612, -82.9988),
    "Atlanta": (33.749, -84.388), "Charlotte": (35.2271, -80.8431), "Nashville": (36.1627, -86.7816),
    "Tampa": (27.9506, -82.4572), "Orlando": (28.5383, -81.3792), "Boston": (42.3601, -71.0589),
    "Hartford": (41.7658, -72.6734), "Pittsburgh": (40.4406, -79.9959), "Minneapolis": (44.9778, -93.265),
    "Kansas City": (39.0997, -94.5786), "Salt Lake City": (40.7608, -111.891), "San Diego": (32.7157, -117.1611),
    "Sacramento": (38.5816, -121.4944), "Raleigh": (35.7796, -78.6382), "Richmond": (37.5407, -77.436),
    "Omaha": (41.2565, -95.9345), "Boise": (43.615, -116.2023),
}  # fmt: skip

STREETS = (
    "Main St", "Oak Ave", "Commerce Dr", "Park Blvd", "Lake Rd", "Industrial Pkwy", "Market St", "Cedar Ln",
    "Technology Way", "Elm St", "Washington Ave", "Riverside Dr", "Airport Blvd", "Congress Ave", "Hillcrest Rd",
)  # fmt: skip

SUITES = ("", "", "", "Suite 100", "Suite 210", "Floor 3", "Unit B", "Suite 400")

AREA_CODES = ("512", "214", "713", "303", "602", "206", "503", "312", "614", "404", "704", "615", "813", "617")

TITLES = (
    "Office Manager", "Practice Administrator", "Controller", "CFO", "CEO", "Owner", "IT Coordinator",
    "Operations Manager", "Director of Operations", "Receptionist", "Paralegal", "Accounts Payable",
    "HR Manager", "VP Finance", "Managing Partner", "Plant Manager", "Purchasing Manager", "Facilities Manager",
)  # fmt: skip

DEPARTMENTS = ("Finance", "Operations", "Administration", "IT", "Human Resources", "Sales", "Executive", "Legal")

USER_TITLES = (
    "Account Executive", "Account Manager", "Service Desk Technician", "Service Manager", "Sales Manager",
    "Network Engineer", "vCIO", "Project Manager", "Sales Development Rep", "Support Engineer",
)  # fmt: skip

USER_DEPARTMENTS = ("Sales", "Service", "Projects", "Management", "Finance")
USER_DIVISIONS = ("Managed Services", "Professional Services", "Sales")

TIME_ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix")

CASE_SUBJECTS = (
    "Cannot connect to VPN", "Outlook keeps asking for password", "Printer offline on 2nd floor",
    "New employee onboarding", "Laptop running slow", "Shared drive not accessible", "Phishing email reported",
    "Wi-Fi drops in conference room", "Request for software install", "Password reset", "Backup job failed",
    "Firewall firmware update", "Email not syncing on phone", "Monitor flickering", "MFA enrollment help",
    "Server disk space warning", "Teams audio issues", "Account locked out", "Scanner to email not working",
)  # fmt: skip

CASE_DESCRIPTIONS = (
    "User reported the issue by phone; reproduced on their workstation.",
    "Automated alert from the RMM agent.",
    "Affects several users in the office since this morning.",
    "Intermittent; happens mostly after lunch.",
    "Customer asked for an update by end of day.",
    None,
)

CASE_COMMENTS = (
    "Remoted in and applied the fix.", "Escalated to tier 2.", "Waiting on customer confirmation.",
    "Replaced hardware under warranty.", "Vendor ticket opened.", None, None,
)  # fmt: skip

PRODUCTS = (
    "Managed Services Agreement", "Microsoft 365 Migration", "Firewall Refresh", "Backup & DR", "Server Upgrade",
    "Security Awareness Training", "VoIP Deployment", "Network Assessment", "Endpoint Protection", "Wi-Fi Upgrade",
)  # fmt: skip

NEXT_STEPS = (
    "Send proposal", "Schedule demo", "Follow up call", "Site survey", "Contract review", "Await PO", None, None,
)  # fmt: skip

STAGES = (
    # StageName, probability, forecast category, closed, won
    ("Prospecting", 10, "Pipeline", False, False),
    ("Qualification", 10, "Pipeline", False, False),
    ("Needs Analysis", 20, "Pipeline", False, False),
    ("Value Proposition", 50, "Pipeline", False, False),
    ("Id. Decision Makers", 60, "Pipeline", False, False),
    ("Perception Analysis", 70, "Pipeline", False, False),
    ("Proposal/Price Quote", 75, "Pipeline", False, False),
    ("Negotiation/Review", 90, "Pipeline", False, False),
    ("Closed Won", 100, "Closed", True, True),
    ("Closed Lost", 0, "Omitted", True, False),
)

CASE_STATUS_FLOW = ("New", "Working", "Escalated", "Closed")

LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted")

TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")

TASK_SUBJECTS = ("Call", "Email", "Send Letter", "Send Quote", "Other")

TASK_DESCRIPTIONS = (
    "Discussed renewal and next quarter's projects.", "Left voicemail.", "Sent the quote by email.",
    "Confirmed onsite visit.", "Reviewed backup report with the customer.", None, None,
)  # fmt: skip

EVENT_SUBJECTS = (
    "Quarterly business review", "Onsite visit", "Network assessment walkthrough", "Kickoff meeting",
    "Demo", "Lunch with decision maker", "Security review", "Contract signing",
)  # fmt: skip

EVENT_LOCATIONS = ("Customer office", "Zoom", "Microsoft Teams", "Our office", "Phone", None)

CALL_DISPOSITIONS = ("Connected", "Left voicemail", "No answer", "Wrong number")

LEAD_PRODUCTS = ("GC1000 series", "GC5000 series", "GC3000 series", "None")
GENERATOR_BRANDS = ("Mitsubishi", "Hawkpower", "Kazuki", "Vanguard", "Yamaha", None)
COMPETITORS = ("Local MSP", "Break-fix shop", "In-house IT", "National provider", None)
CASE_PRODUCTS = ("GC1040", "GC1060", "GC3020", "GC3040", "GC3060", "GC5020", "GC5040", "GC5060", "GC1020")
