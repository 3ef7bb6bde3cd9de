"""The specification's worked figures, reproduced to the cent by the pricing engine."""

from __future__ import annotations

from services.config.pricing.money import Money, MoneyRange, hours
from services.config.pricing.proposal import price_proposal
from services.config.pricing.results import Phase, ResourceRole
from tests.unit.pricing_examples import spec_choices


def usd(dollars: int | str) -> Money:
    return Money.dollars(dollars)


def test_licensing_two_chains_three_years() -> None:
    licensing = price_proposal(spec_choices()).licensing
    assert licensing.annual_per_chain == usd(32_500)
    assert licensing.discount_percent == 7
    assert licensing.annual_total == usd(65_000)
    assert licensing.term_total == usd(195_000)


def test_compute_storage_network_and_infrastructure_total() -> None:
    infra = price_proposal(spec_choices()).infrastructure
    compute = infra.compute
    assert (compute.api_gateway.instance_type,
            compute.api_gateway.instance_count) == ("t3.medium", 2)
    assert compute.api_gateway.monthly_cost == usd(100)
    assert (compute.business_services.instance_type,
            compute.business_services.instance_count) == ("t3.large", 6)
    assert compute.business_services.monthly_cost == usd(600)
    assert (compute.backend_services.instance_type,
            compute.backend_services.instance_count) == ("t3.xlarge", 6)
    assert compute.backend_services.monthly_cost == usd(900)
    assert compute.monthly == usd(1_600)
    assert compute.monthly.times(12) == usd(19_200)

    storage = infra.storage
    assert storage.active_database.storage_gb == 500
    assert storage.active_database.monthly_cost == usd(50)
    assert storage.archived_data.storage_gb == 2_000
    assert storage.archived_data.monthly_cost == usd(20)
    assert (storage.redis_instance_type, storage.redis_monthly_cost) == ("cache.m5.large", usd(100))
    assert storage.monthly == usd(170)
    assert storage.monthly.times(12) == usd(2_040)

    assert infra.network.data_transfer_gb == 1_000
    assert infra.network.monthly == usd(90)
    assert infra.network.monthly.times(12) == usd(1_080)

    assert infra.monthly_total == usd(1_860)
    assert infra.annual_total == usd(22_320)


def test_environment_t_and_m_and_implementation() -> None:
    implementation = price_proposal(spec_choices()).implementation
    setup = implementation.environment_setup
    assert setup.cloud_architect_hours_hundredths == hours(60)
    assert setup.cost == usd(10_500)
    assert setup.access_specialist_included

    items = {item.description: item for item in implementation.tm_items}
    assert items["API/Non-Architected Integration"].estimated_cost == MoneyRange(
        usd(7_000), usd(10_500))
    assert items["Dynamic RBAC KPIs"].estimated_cost == MoneyRange(usd(3_500), usd(5_250))
    assert implementation.tm_cost_range == MoneyRange(usd(10_500), usd(15_750))

    assert implementation.data_integration_subtotal == usd(6_500)  # 2,500 + 2,500 + 1,500 + T&M
    assert implementation.kpi_implementation_subtotal == usd(150)  # 50 + 100 + T&M
    assert implementation.fixed_cost_total == usd(17_150)
    assert implementation.total == MoneyRange(usd(27_650), usd(32_900))


def test_managed_services_and_totals() -> None:
    proposal = price_proposal(spec_choices())
    managed = proposal.managed_services
    assert (managed.retainer, managed.retainer_hours_hundredths) == (usd(5_000), 6_667)
    assert managed.additional_cost == usd(3_750)
    assert managed.annual_total == usd(8_750)

    totals = proposal.totals
    assert totals.yearly_recurring == usd(96_070)
    assert totals.year1 == MoneyRange(usd(123_720), usd(128_970))
    assert totals.term_total == MoneyRange(usd(315_860), usd(321_110))
    assert totals.term_years == 3


def test_schedule_matches_the_document_example() -> None:
    proposal = price_proposal(spec_choices())
    weeks = {phase.phase: (phase.start_week, phase.end_week) for phase in proposal.timeline}
    assert weeks == {
        Phase.ENVIRONMENT_SETUP: (1, 2),
        Phase.DATA_INTEGRATION: (2, 6),
        Phase.KPI_IMPLEMENTATION: (4, 8),
        Phase.TESTING_UAT: (7, 9),
        Phase.GO_LIVE: (10, 10),
    }
    roles = {r.role: r for r in proposal.resources}
    developer = roles[ResourceRole.INTEGRATION_DEVELOPER]
    assert (developer.start_week, developer.end_week) == (1, 8)
    assert roles[ResourceRole.INTEGRATION_ARCHITECT].as_needed
    assert roles[ResourceRole.INTEGRATION_ARCHITECT].estimated_hours_hundredths == hours(90)
    access = roles[ResourceRole.ACCESS_SPECIALIST]
    assert (access.start_week, access.end_week) == (1, 1)
    cloud = roles[ResourceRole.CLOUD_ARCHITECT]
    assert (cloud.start_week, cloud.end_week) == (1, 2)
