"""What the pricing engine produces: one value per section of the proposal document."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from services.config.pricing.model import (
    Complexity,
    Compliance,
    DataType,
    Duration,
    Environment,
    IntegrationType,
    PricingKind,
)
from services.config.pricing.money import HoursRange, Money, MoneyRange


@dataclass(frozen=True)
class Licensing:
    value_chain_codes: tuple[str, ...]
    term_years: int
    annual_per_chain: Money
    discount_percent: int
    annual_total: Money
    term_total: Money


@dataclass(frozen=True)
class IntegrationLine:
    object_model_code: str
    object_model_name: str
    source_system: str
    integration_type: IntegrationType
    label: str
    pricing: PricingKind
    hours_hundredths: int
    internal_cost: Money
    cost: Money


@dataclass(frozen=True)
class KpiLine:
    kpi_code: str
    kpi_name: str
    complexity: Complexity
    label: str
    pricing: PricingKind
    hours_hundredths: int
    internal_cost: Money
    cost: Money


@dataclass(frozen=True)
class EnvironmentSetup:
    environment: Environment
    platform_label: str
    setup_required: bool
    cloud_architect_hours_hundredths: int
    cloud_architect_hours_range: HoursRange
    hourly_rate: Money
    cost: Money
    access_specialist_included: bool


@dataclass(frozen=True)
class TmItem:
    description: str
    subjects: tuple[str, ...]
    hours: HoursRange
    hourly_rate: Money
    estimated_cost: MoneyRange


@dataclass(frozen=True)
class Implementation:
    data_integration: tuple[IntegrationLine, ...]
    data_integration_subtotal: Money
    kpi_implementation: tuple[KpiLine, ...]
    kpi_implementation_subtotal: Money
    environment_setup: EnvironmentSetup
    tm_items: tuple[TmItem, ...]

    @property
    def environment_subtotal(self) -> Money:
        return self.environment_setup.cost

    @property
    def fixed_cost_total(self) -> Money:
        return (
            self.data_integration_subtotal
            + self.kpi_implementation_subtotal
            + self.environment_subtotal
        )

    @property
    def tm_cost_range(self) -> MoneyRange:
        total = MoneyRange.zero()
        for item in self.tm_items:
            total = total + item.estimated_cost
        return total

    @property
    def total(self) -> MoneyRange:
        return self.tm_cost_range + self.fixed_cost_total


@dataclass(frozen=True)
class InstanceGroup:
    instance_type: str
    instance_count: int
    monthly_cost_per_instance: Money

    @property
    def monthly_cost(self) -> Money:
        return self.monthly_cost_per_instance.times(self.instance_count)


@dataclass(frozen=True)
class Compute:
    api_gateway: InstanceGroup
    business_services: InstanceGroup
    backend_services: InstanceGroup

    @property
    def monthly(self) -> Money:
        return (
            self.api_gateway.monthly_cost
            + self.business_services.monthly_cost
            + self.backend_services.monthly_cost
        )


@dataclass(frozen=True)
class StorageTier:
    storage_gb: Decimal
    price_per_gb_month: Decimal
    monthly_cost: Money


@dataclass(frozen=True)
class Storage:
    active_database: StorageTier
    archived_data: StorageTier
    redis_instance_type: str
    redis_monthly_cost: Money

    @property
    def monthly(self) -> Money:
        return (
            self.active_database.monthly_cost
            + self.archived_data.monthly_cost
            + self.redis_monthly_cost
        )


@dataclass(frozen=True)
class Network:
    data_transfer_gb: Decimal
    price_per_gb: Decimal
    monthly: Money


@dataclass(frozen=True)
class Infrastructure:
    compute: Compute
    storage: Storage
    network: Network
    sizing_notes: tuple[str, ...]

    @property
    def monthly_total(self) -> Money:
        return self.compute.monthly + self.storage.monthly + self.network.monthly

    @property
    def annual_total(self) -> Money:
        return self.monthly_total.times(12)


@dataclass(frozen=True)
class ManagedServices:
    included: bool
    retainer: Money
    retainer_hours_hundredths: int
    hourly_rate: Money
    additional_hours_hundredths: int
    additional_cost: Money

    @property
    def annual_total(self) -> Money:
        return self.retainer + self.additional_cost


@dataclass(frozen=True)
class Totals:
    year1: MoneyRange
    yearly_recurring: Money
    term_total: MoneyRange
    term_years: int


@dataclass(frozen=True)
class ComplianceAdjustment:
    requirement: Compliance
    data_type: DataType
    minimum_retention: Duration
    message: str


class ResourceRole(enum.StrEnum):
    INTEGRATION_DEVELOPER = "INTEGRATION_DEVELOPER"
    INTEGRATION_ARCHITECT = "INTEGRATION_ARCHITECT"
    ACCESS_SPECIALIST = "ACCESS_SPECIALIST"
    CLOUD_ARCHITECT = "CLOUD_ARCHITECT"


class Phase(enum.StrEnum):
    ENVIRONMENT_SETUP = "ENVIRONMENT_SETUP"
    DATA_INTEGRATION = "DATA_INTEGRATION"
    KPI_IMPLEMENTATION = "KPI_IMPLEMENTATION"
    TESTING_UAT = "TESTING_UAT"
    GO_LIVE = "GO_LIVE"


@dataclass(frozen=True)
class ResourceAssignment:
    role: ResourceRole
    role_label: str
    start_week: int
    end_week: int
    as_needed: bool
    hourly_rate: Money | None
    estimated_hours_hundredths: int
    name: str = "TBD"


@dataclass(frozen=True)
class TimelinePhase:
    phase: Phase
    label: str
    start_week: int
    end_week: int
    roles: tuple[ResourceRole, ...]
