"""Every price, rate and sizing constant of the pricing model, in one place.

Changing a price is changing a row here; the calculators only look things up. Figures follow the
specification's "Service Proposal & Pricing Model"; the sizing constants are this model's own and
are documented next to each.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.config.pricing.model import (
    Complexity,
    Compliance,
    Environment,
    IntegrationType,
    PricingKind,
    RefreshPeriod,
)
from services.config.pricing.money import HoursRange, Money, hours

# --- Rates -------------------------------------------------------------------------------------
INTERNAL_RATE = Money.dollars(70)
"""Integration developer/analyst: internal cost of fixed-price work."""
ARCHITECT_RATE = Money.dollars(175)
"""Integration architect and cloud architect: time and materials."""
SUPPORT_RATE = Money.dollars(75)
"""Managed-services support hours."""

# --- 1. Licensing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LicencePrice:
    annual_per_chain: Money
    discount_percent: int


LICENCE_PRICES: dict[int, LicencePrice] = {
    1: LicencePrice(Money.dollars(35_000), 0),
    3: LicencePrice(Money.dollars(32_500), 7),
    5: LicencePrice(Money.dollars(30_000), 14),
}
"""Annual price per value chain by licence term in years."""

# --- 2. Implementation -------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkPrice:
    """One row of an implementation pricing table."""

    label: str
    kind: PricingKind
    hours_hundredths: int
    """Hours of fixed-price work (0 for time and materials)."""
    charge: Money
    """Client charge of fixed-price work (zero for time and materials)."""
    tm_default: HoursRange | None = None
    """Default estimate of time-and-materials work, per item."""
    tm_item: str = ""
    """How the T&M item is described on the document."""


INTEGRATION_PRICES: dict[IntegrationType, WorkPrice] = {
    IntegrationType.BATCH_CONFORMED: WorkPrice(
        "Batch - Conformed/Cleansed", PricingKind.FIXED, hours(15), Money.dollars(1_500)),
    IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE: WorkPrice(
        "Batch - Non-Conformed Single Source", PricingKind.FIXED, hours(20), Money.dollars(2_500)),
    IntegrationType.BATCH_NON_CONFORMED_MULTI_SOURCE: WorkPrice(
        "Batch - Non-Conformed Multi Source", PricingKind.FIXED, hours(30), Money.dollars(3_500)),
    IntegrationType.BATCH_ENTITY_RESOLUTION: WorkPrice(
        "Batch - Entity Resolution", PricingKind.FIXED, hours(30), Money.dollars(3_500)),
    IntegrationType.STREAMING_API_ARCHITECTED: WorkPrice(
        "Streaming - API/Architected", PricingKind.FIXED, hours(20), Money.dollars(2_500)),
    IntegrationType.STREAMING_API_NON_ARCHITECTED: WorkPrice(
        "Streaming - API/Non-Architected", PricingKind.TIME_AND_MATERIALS, 0, Money.zero(),
        tm_default=HoursRange(hours(40), hours(60)), tm_item="API/Non-Architected Integration"),
}
"""Data source integration per object model."""

RECOMMENDED_INTEGRATION = IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE
"""Object models left out of a proposal are priced as the common case: one source system whose
data needs transforming. Cheaper "conformed" pricing must be chosen knowingly."""

KPI_PRICES: dict[Complexity, WorkPrice] = {
    Complexity.OTB: WorkPrice("OTB", PricingKind.FIXED, hours("0.5"), Money.dollars(50)),
    Complexity.CUSTOM_BASIC: WorkPrice(
        "Custom Basic", PricingKind.FIXED, hours("0.5"), Money.dollars(50)),
    Complexity.RBAC: WorkPrice("RBAC", PricingKind.FIXED, hours(1), Money.dollars(100)),
    Complexity.DYNAMIC_RBAC: WorkPrice(
        "Dynamic RBAC", PricingKind.TIME_AND_MATERIALS, 0, Money.zero(),
        tm_default=HoursRange(hours(20), hours(30)), tm_item="Dynamic RBAC KPIs"),
}
"""KPI implementation per KPI."""


@dataclass(frozen=True)
class EnvironmentPrice:
    label: str
    setup_required: bool


ENVIRONMENTS: dict[Environment, EnvironmentPrice] = {
    Environment.ON_PREM: EnvironmentPrice("On-Premises", True),
    Environment.AZURE: EnvironmentPrice("Azure Cloud", True),
    Environment.AWS: EnvironmentPrice("AWS", True),
    Environment.GCP: EnvironmentPrice("GCP", True),
    Environment.ORACLE: EnvironmentPrice("Oracle Cloud", True),
    Environment.NONE: EnvironmentPrice("Existing environment (no setup)", False),
}
CLOUD_ARCHITECT_HOURS = HoursRange(hours(40), hours(80))
"""Allowed estimate of cloud architect hours for an environment setup."""
DEFAULT_CLOUD_ARCHITECT_HOURS = hours(60)

# --- 3. Infrastructure sizing model ------------------------------------------------------------


@dataclass(frozen=True)
class InstanceType:
    name: str
    monthly_cost: Money


API_GATEWAY_INSTANCE = InstanceType("t3.medium", Money.dollars(50))
BUSINESS_SERVICE_INSTANCE = InstanceType("t3.large", Money.dollars(100))
BACKEND_SERVICE_INSTANCE = InstanceType("t3.xlarge", Money.dollars(150))

SERVICES_PER_TIER = 3
"""Business tier: calculation, config, catalog. Backend tier: data, archival, messaging."""
MIN_REPLICAS = 2
"""At least two of everything, so one instance can fail or be replaced without an outage."""
USERS_PER_GATEWAY = 250
"""Concurrent users (each holding a live stream per visible KPI) one gateway instance carries."""
USERS_PER_BUSINESS_REPLICA = 100
QUERIES_PER_DAY_PER_BUSINESS_REPLICA = 50_000
STREAM_UPDATES_PER_MINUTE_PER_BACKEND_REPLICA = 2_000
"""Live KPI updates (users × KPIs × updates per minute of the refresh period) one backend replica
computes and publishes."""
DAILY_GB_PER_BACKEND_REPLICA = Decimal(25)
"""Daily ingestion one backend replica absorbs."""

UPDATES_PER_MINUTE: dict[RefreshPeriod, Decimal] = {
    RefreshPeriod.MINUTE: Decimal(1),
    RefreshPeriod.HOUR: Decimal(1) / 60,
    RefreshPeriod.DAY: Decimal(1) / 1_440,
}

HOT_STORAGE_PRICE = Decimal("0.10")
"""Active database storage per GB-month."""
COLD_STORAGE_PRICE = Decimal("0.01")
"""Archive (cold) storage per GB-month."""
NETWORK_PRICE = Decimal("0.09")
"""Data transfer out per GB."""

DAYS_PER_UNIT: dict[str, int] = {"DAYS": 1, "MONTHS": 30, "YEARS": 365}
"""Retention durations are sized in days: a month as 30 days, a year as 365."""
INDEFINITE_ARCHIVE_SIZING_YEARS = 10
"""An indefinite archive is sized at the longest finite option (10 years) of accumulated data."""


@dataclass(frozen=True)
class RedisTier:
    max_concurrent_users: int | None
    instance: InstanceType


REDIS_TIERS: tuple[RedisTier, ...] = (
    RedisTier(500, InstanceType("cache.m5.large", Money.dollars(100))),
    RedisTier(2_000, InstanceType("cache.m5.xlarge", Money.dollars(200))),
    RedisTier(None, InstanceType("cache.m5.2xlarge", Money.dollars(400))),
)
"""Redis (bus and result cache) by concurrent users; the first tier that fits."""

DASHBOARD_GB_PER_KPI_USER_MONTH: dict[RefreshPeriod, Decimal] = {
    RefreshPeriod.MINUTE: Decimal("0.35"),
    RefreshPeriod.HOUR: Decimal("0.01"),
    RefreshPeriod.DAY: Decimal("0.001"),
}
"""Data sent to dashboards per KPI per concurrent user per month, by refresh period (about 30 KB per
update over a working month of 9-hour days at minute refresh)."""
GB_PER_QUERY = Decimal("0.001")
"""An answer to a one-time query (about 1 MB)."""
DAYS_PER_MONTH = 30
"""Ingestion into the cloud is free on every provider priced here, so only egress is counted."""

# --- 4. Managed services -----------------------------------------------------------------------
RETAINER = Money.dollars(5_000)
RETAINER_HOURS = hours("66.67")

# --- Compliance --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplianceRule:
    label: str
    minimum_years: int | None
    """Minimum total retention (active plus archive) of every data type; None for no minimum."""
    guidance: str


COMPLIANCE_RULES: dict[Compliance, ComplianceRule] = {
    Compliance.GDPR: ComplianceRule(
        "GDPR", None,
        "no minimum; keep personal data no longer than needed (storage limitation)"),
    Compliance.SOX: ComplianceRule("SOX", 7, "financial records are kept for 7 years"),
    Compliance.HIPAA: ComplianceRule("HIPAA", 6, "healthcare records are kept for 6 years"),
    Compliance.ISO_27001: ComplianceRule(
        "ISO 27001", None, "no minimum; retention must follow the documented policy"),
    Compliance.OTHER: ComplianceRule(
        "Industry-specific", None, "not adjusted automatically; review the described regime"),
}

# --- Plausibility limits ------------------------------------------------------------------------
# Far beyond any real engagement; they keep every figure of a proposal within 64-bit cents.
MAX_HOURS = 1_000_000 * 100
"""Any estimate of hours, in hundredths."""
MAX_VOLUME_GB = Decimal(1_000_000_000)
MAX_UNIT_PRICE = Decimal(1_000_000)
MAX_COUNT = 10_000_000
"""Users, KPIs, instances; queries a day may be 1,000 times more."""
MAX_MONEY_CENTS = 100_000_000_000
"""An overridden monthly cost ($1bn)."""
MAX_TOTAL_CENTS = 10**15
"""A whole proposal ($10 trillion): beyond it the inputs are a mistake."""

# --- Proposal ----------------------------------------------------------------------------------
VALIDITY_DAYS = 30
"""A proposal is valid for 30 days after issue."""
DEFAULT_CURRENCY = "USD"
