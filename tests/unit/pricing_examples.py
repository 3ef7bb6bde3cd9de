"""The specification's worked example as proposal choices, shared by the pricing tests."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from services.config.pricing.model import (
    Complexity,
    Duration,
    Environment,
    InfrastructureInputs,
    IntegrationChoice,
    IntegrationType,
    KpiChoice,
    ManagedServicesChoice,
    ProposalChoices,
    RefreshPeriod,
    RetentionPolicy,
    RetentionRule,
    RetentionUnit,
)
from services.config.pricing.money import hours

# 5 GB a day kept 100 days active and 400 days archived: the spec's 500 GB hot and 2,000 GB cold.
SPEC_RETENTION = RetentionPolicy(
    staged_source=RetentionRule(
        Duration(100, RetentionUnit.DAYS), True, Duration(400, RetentionUnit.DAYS)
    ),
    analytics=RetentionRule(
        Duration(365, RetentionUnit.DAYS), True, Duration(5, RetentionUnit.YEARS)
    ),
)

# 100 users watching 20 KPIs refreshed every minute and 10,000 queries a day: 2 gateways, 6 business
# and 6 backend instances, 1,000 GB of transfer a month.
SPEC_INFRASTRUCTURE = InfrastructureInputs(
    daily_volume_gb=Decimal(5),
    concurrent_users=100,
    refresh_period=RefreshPeriod.MINUTE,
    kpi_count=20,
    queries_per_day=10_000,
)


def spec_choices(**changes: object) -> ProposalChoices:
    choices = ProposalChoices(
        kpis=(
            KpiChoice("SCOR_POF", "Perfect Order Fulfillment", "SCOR", Complexity.OTB),
            KpiChoice("SCOR_OTD", "On-Time Delivery", "SCOR", Complexity.RBAC),
            KpiChoice("CRM_COMMISSION", "Sales Hierarchy Commission", "CRM",
                      Complexity.DYNAMIC_RBAC),
        ),
        value_chain_codes=("SCOR", "CRM"),
        license_term_years=3,
        integrations=(
            IntegrationChoice("CUSTOMER", "Customer", "Salesforce CRM",
                              IntegrationType.STREAMING_API_ARCHITECTED),
            IntegrationChoice("ORDER", "Order", "SAP ERP",
                              IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE),
            IntegrationChoice("PRODUCT", "Product", "Internal DB", IntegrationType.BATCH_CONFORMED),
            IntegrationChoice("SHIPMENT", "Shipment", "Legacy TMS",
                              IntegrationType.STREAMING_API_NON_ARCHITECTED),
        ),
        environment=Environment.AWS,
        cloud_architect_hours_hundredths=hours(60),
        retention_policy=SPEC_RETENTION,
        compliance=(),
        infrastructure=SPEC_INFRASTRUCTURE,
        managed_services=ManagedServicesChoice(True, hours(50)),
    )
    return dataclasses.replace(choices, **changes)  # type: ignore[arg-type]
