"""A whole proposal: every section priced, the totals and the plan (SPEC §8 calculateProposal)."""

from __future__ import annotations

from dataclasses import dataclass

from services.config.pricing.implementation import price_implementation
from services.config.pricing.infrastructure import estimate_infrastructure
from services.config.pricing.licensing import price_licensing
from services.config.pricing.managed import price_managed_services
from services.config.pricing.model import ProposalChoices, RetentionPolicy
from services.config.pricing.money import Money
from services.config.pricing.results import (
    ComplianceAdjustment,
    Implementation,
    Infrastructure,
    Licensing,
    ManagedServices,
    ResourceAssignment,
    TimelinePhase,
    Totals,
)
from services.config.pricing.retention import apply_compliance, validate_policy
from services.config.pricing.schedule import plan
from services.config.pricing.tables import MAX_TOTAL_CENTS
from services.errors import InvalidArgument


@dataclass(frozen=True)
class PricedProposal:
    choices: ProposalChoices
    licensing: Licensing
    implementation: Implementation
    infrastructure: Infrastructure
    managed_services: ManagedServices
    totals: Totals
    resources: tuple[ResourceAssignment, ...]
    timeline: tuple[TimelinePhase, ...]
    compliance_adjustments: tuple[ComplianceAdjustment, ...]
    effective_retention_policy: RetentionPolicy


def price_proposal(choices: ProposalChoices) -> PricedProposal:
    licensing = price_licensing(choices.value_chain_codes, choices.license_term_years)
    implementation = price_implementation(
        choices.integrations,
        choices.kpis,
        choices.environment,
        choices.cloud_architect_hours_hundredths,
    )
    policy, adjustments = apply_compliance(
        validate_policy(choices.retention_policy), choices.compliance
    )
    infrastructure = estimate_infrastructure(choices.infrastructure, policy)
    managed = price_managed_services(choices.managed_services)
    resources, timeline = plan(implementation)
    summed = totals(licensing, implementation, infrastructure, managed)
    if summed.term_total.max.cents > MAX_TOTAL_CENTS:
        raise InvalidArgument.for_field(
            "infrastructure",
            f"the proposal would total {summed.term_total.max.format()}; check the volumes, "
            "counts and prices")
    return PricedProposal(
        choices=choices,
        licensing=licensing,
        implementation=implementation,
        infrastructure=infrastructure,
        managed_services=managed,
        totals=summed,
        resources=resources,
        timeline=timeline,
        compliance_adjustments=adjustments,
        effective_retention_policy=policy,
    )


def totals(
    licensing: Licensing,
    implementation: Implementation,
    infrastructure: Infrastructure,
    managed: ManagedServices,
) -> Totals:
    """Year 1 adds the one-time implementation to the yearly costs; the term adds later years."""
    recurring: Money = licensing.annual_total + infrastructure.annual_total + managed.annual_total
    year1 = implementation.total + recurring
    later_years = recurring.times(licensing.term_years - 1)
    return Totals(
        year1=year1,
        yearly_recurring=recurring,
        term_total=year1 + later_years,
        term_years=licensing.term_years,
    )
