"""The vocabulary of a proposal: the choices a client makes, as typed values.

Enum values are the names of the contract's enum values without their prefix
(`INTEGRATION_TYPE_BATCH_CONFORMED` is `IntegrationType.BATCH_CONFORMED`), so the translation at the
edge is by name and never by number.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from services.config.pricing.money import HoursRange, Money


class IntegrationType(enum.StrEnum):
    BATCH_CONFORMED = "BATCH_CONFORMED"
    BATCH_NON_CONFORMED_SINGLE_SOURCE = "BATCH_NON_CONFORMED_SINGLE_SOURCE"
    BATCH_NON_CONFORMED_MULTI_SOURCE = "BATCH_NON_CONFORMED_MULTI_SOURCE"
    BATCH_ENTITY_RESOLUTION = "BATCH_ENTITY_RESOLUTION"
    STREAMING_API_ARCHITECTED = "STREAMING_API_ARCHITECTED"
    STREAMING_API_NON_ARCHITECTED = "STREAMING_API_NON_ARCHITECTED"


class Complexity(enum.StrEnum):
    OTB = "OTB"
    CUSTOM_BASIC = "CUSTOM_BASIC"
    RBAC = "RBAC"
    DYNAMIC_RBAC = "DYNAMIC_RBAC"


class Environment(enum.StrEnum):
    ON_PREM = "ON_PREM"
    AZURE = "AZURE"
    AWS = "AWS"
    GCP = "GCP"
    ORACLE = "ORACLE"
    NONE = "NONE"


class Compliance(enum.StrEnum):
    GDPR = "GDPR"
    SOX = "SOX"
    HIPAA = "HIPAA"
    ISO_27001 = "ISO_27001"
    OTHER = "OTHER"


class RefreshPeriod(enum.StrEnum):
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"


class PricingKind(enum.StrEnum):
    FIXED = "FIXED"
    TIME_AND_MATERIALS = "TIME_AND_MATERIALS"
    INCLUDED = "INCLUDED"


class RetentionUnit(enum.StrEnum):
    DAYS = "DAYS"
    MONTHS = "MONTHS"
    YEARS = "YEARS"
    INDEFINITE = "INDEFINITE"


class DataType(enum.StrEnum):
    STAGED_SOURCE = "STAGED_SOURCE"
    ANALYTICS = "ANALYTICS"


@dataclass(frozen=True)
class Duration:
    """A retention duration: "90 days", "7 years", "indefinitely"."""

    count: int
    unit: RetentionUnit

    def describe(self) -> str:
        if self.unit is RetentionUnit.INDEFINITE:
            return "indefinitely"
        noun = self.unit.value.lower()
        return f"{self.count} {noun[:-1] if self.count == 1 else noun}"


@dataclass(frozen=True)
class RetentionRule:
    active: Duration
    archival_enabled: bool
    archive: Duration


@dataclass(frozen=True)
class Granularity:
    raw_data: bool = True
    minute_aggregates: bool = True
    hourly_aggregates: bool = True
    daily_aggregates: bool = True
    monthly_aggregates: bool = True


@dataclass(frozen=True)
class RetentionPolicy:
    staged_source: RetentionRule
    analytics: RetentionRule
    granularity: Granularity = Granularity()

    def rule(self, data_type: DataType) -> RetentionRule:
        return self.staged_source if data_type is DataType.STAGED_SOURCE else self.analytics


@dataclass(frozen=True)
class KpiChoice:
    code: str
    name: str
    value_chain_code: str
    complexity: Complexity
    tm_hours: HoursRange | None = None
    """Dynamic RBAC only: the estimate; None for the table's default."""


@dataclass(frozen=True)
class IntegrationChoice:
    object_model_code: str
    object_model_name: str
    source_system: str
    integration_type: IntegrationType
    tm_hours: HoursRange | None = None
    """API/non-architected only: the estimate; None for the table's default."""


@dataclass(frozen=True)
class InstanceGroupOverride:
    instance_type: str | None = None
    instance_count: int | None = None
    monthly_cost_per_instance: Money | None = None


@dataclass(frozen=True)
class InfrastructureOverrides:
    api_gateway: InstanceGroupOverride = InstanceGroupOverride()
    business_services: InstanceGroupOverride = InstanceGroupOverride()
    backend_services: InstanceGroupOverride = InstanceGroupOverride()
    active_storage_gb: Decimal | None = None
    archive_storage_gb: Decimal | None = None
    hot_storage_price: Decimal | None = None
    cold_storage_price: Decimal | None = None
    redis_instance_type: str | None = None
    redis_monthly_cost: Money | None = None
    data_transfer_gb: Decimal | None = None
    network_price: Decimal | None = None


@dataclass(frozen=True)
class InfrastructureInputs:
    daily_volume_gb: Decimal
    concurrent_users: int
    refresh_period: RefreshPeriod
    kpi_count: int
    queries_per_day: int
    overrides: InfrastructureOverrides = InfrastructureOverrides()


@dataclass(frozen=True)
class ManagedServicesChoice:
    include_retainer: bool
    additional_hours_hundredths: int = 0


@dataclass(frozen=True)
class ProposalChoices:
    """Everything a proposal is priced from, validated and with defaults filled in."""

    kpis: tuple[KpiChoice, ...]
    value_chain_codes: tuple[str, ...]
    license_term_years: int
    integrations: tuple[IntegrationChoice, ...]
    environment: Environment
    cloud_architect_hours_hundredths: int
    retention_policy: RetentionPolicy
    compliance: tuple[Compliance, ...]
    infrastructure: InfrastructureInputs
    managed_services: ManagedServicesChoice
    other_compliance: str = ""
