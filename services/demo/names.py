"""Word lists the generated names and labels are drawn from."""

from __future__ import annotations

FIRST_NAMES = (
    "Maria", "James", "Anna", "Wei", "Fatima", "Lukas", "Sofia", "Daniel", "Aisha", "Mateo",
    "Olivia", "Noah", "Priya", "Jonas", "Elena", "Kwame", "Yuki", "Lena", "Omar", "Chloe",
    "Ivan", "Grace", "Diego", "Hana", "Samuel", "Amelia", "Tomasz", "Nora", "Ravi", "Isabel",
)
LAST_NAMES = (
    "Gonzalez", "Okafor", "Kowalska", "Chen", "Haddad", "Fischer", "Rossi", "Kim", "Mensah",
    "Silva", "Johnson", "Novak", "Sharma", "Larsen", "Dubois", "Tanaka", "Meyer", "Hassan",
    "Martin", "Petrov", "Walsh", "Moreno", "Sato", "Brown", "Nguyen", "Kovacs", "Andersen",
)
COMPANY_PREFIXES = (
    "Northwind", "Baltic", "Summit", "Riverside", "Ironwood", "Bluestone", "Cedar", "Harbor",
    "Keystone", "Pioneer", "Granite", "Lakeside", "Evergreen", "Redline", "Silverline", "Apex",
    "Frontier", "Meridian", "Oakridge", "Sterling", "Atlas", "Beacon", "Crescent", "Horizon",
)
COMPANY_NOUNS = (
    "Facilities", "Build", "Construction", "Maintenance", "Electric", "Plumbing", "Property",
    "Logistics", "Manufacturing", "Contractors", "Renovation", "Engineering", "Services",
)
COMPANY_SUFFIXES = ("Inc.", "LLC", "GmbH", "Ltd.", "S.A.", "B.V.", "Sp. z o.o.", "Corp.", "AB")
INDUSTRIES = (
    "facility_management", "construction", "manufacturing", "utilities", "hospitality",
    "retail", "education", "healthcare", "property_management", "transportation",
)
# (country, delivery region, weight)
COUNTRIES = (
    ("US", "us_east", 22), ("US", "us_west", 14), ("US", "us_central", 12), ("CA", "canada", 6),
    ("MX", "mexico", 4), ("DE", "eu_central", 9), ("PL", "eu_central", 4), ("EE", "eu_central", 1),
    ("FR", "eu_west", 6), ("NL", "eu_west", 4), ("ES", "eu_west", 3), ("GB", "uk", 7),
    ("SE", "nordics", 3), ("DK", "nordics", 2),
)
# (category, low unit cost cents, high unit cost cents, product nouns)
PRODUCT_CATEGORIES = (
    ("power_tools", 2500, 28000, ("Cordless Drill", "Impact Driver", "Angle Grinder",
                                  "Circular Saw", "Rotary Hammer", "Jigsaw")),
    ("hand_tools", 300, 4500, ("Claw Hammer", "Screwdriver Set", "Tape Measure", "Utility Knife",
                               "Pliers Set", "Socket Set")),
    ("safety", 150, 6000, ("Safety Glasses", "Work Gloves", "Hard Hat", "Ear Defenders",
                           "Hi-Vis Vest", "Respirator")),
    ("electrical", 200, 9000, ("Extension Cord", "Cable Reel", "Circuit Tester", "Work Light",
                               "Junction Box", "Wire Stripper")),
    ("plumbing", 250, 12000, ("Pipe Wrench", "PEX Crimper", "Drain Snake", "Ball Valve",
                              "Pipe Cutter", "Pressure Gauge")),
    ("fasteners", 80, 2500, ("Wood Screws", "Anchor Kit", "Hex Bolts", "Rivet Assortment",
                             "Concrete Screws", "Washers")),
    ("janitorial", 120, 5000, ("Floor Cleaner", "Mop System", "Trash Bags", "Paper Towels",
                               "Disinfectant", "Microfiber Cloths")),
)
PRODUCT_VARIANTS = ("Pro", "Compact", "Heavy Duty", "XL", "Lite", "Plus", "Max", "Eco")
SUPPLIER_COUNTRIES = (
    ("US", 30, 7), ("CN", 22, 30), ("DE", 10, 12), ("MX", 10, 9), ("IN", 6, 26),
    ("VN", 6, 28), ("PL", 6, 11), ("IT", 4, 13), ("JP", 3, 24), ("CA", 3, 8),
)  # (country, weight, typical lead time days)
SUPPLIER_CATEGORIES = ("raw_material", "components", "finished_goods", "packaging", "services")
SUPPLIER_NOUNS = ("Motor Works", "Packaging Co.", "Kunststoff", "Metalworks", "Tooling",
                  "Industrial Supply", "Components", "Plastics", "Fasteners", "Textiles")
LOCATIONS = ("DC-ATL", "DC-RNO", "DC-DFW", "DC-CHI", "DC-NWK", "DC-ROT", "DC-WAW", "DC-MEX")
PLANTS = ("PLANT-MEX1", "PLANT-POL2", "PLANT-OH3")
CARRIERS = ("UPS Freight", "FedEx Ground", "DHL Express", "XPO Logistics", "DB Schenker",
            "Old Dominion", "DPD")
SALES_REGIONS = ("us_east", "us_west", "us_central", "emea", "latam", "apac")
SALES_SEGMENTS = ("enterprise", "mid_market", "smb")
PRODUCT_LINES = ("power_tools", "safety", "maintenance_contracts", "electrical", "plumbing",
                 "janitorial")
CAMPAIGN_THEMES = ("Pro Tools Search", "Facility Managers ABM", "Safety Week", "Spring Build",
                   "Contractor Rewards", "Retargeting", "Webinar Series", "Partner Co-op",
                   "Trade Show", "Brand Video", "Plumbing Pros", "Electrical Essentials")
SURVEY_COMMENTS_PROMOTER = ("Reliable deliveries, responsive account team.",
                            "Great prices and fast shipping.", "Always in stock.",
                            "Easy ordering through the portal.")
SURVEY_COMMENTS_PASSIVE = ("Good overall, delivery windows could be tighter.",
                           "Fine, but the website is slow.", "Decent service.")
SURVEY_COMMENTS_DETRACTOR = ("Package arrived damaged.", "Delivery was late again.",
                             "Invoice did not match the order.", "Hard to reach support.")


def survey_comment(score: int, comment_key: int) -> str | None:
    """Two answers in five carry a comment, in the tone of the score."""
    if comment_key % 5 >= 2:
        return None
    comments: tuple[str, ...]
    if score >= 9:
        comments = SURVEY_COMMENTS_PROMOTER
    elif score >= 7:
        comments = SURVEY_COMMENTS_PASSIVE
    else:
        comments = SURVEY_COMMENTS_DETRACTOR
    return comments[comment_key % len(comments)]
