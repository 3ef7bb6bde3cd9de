"""Every branch of every pricing table, and the invalid answers, each named by field."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from services.config.pricing.implementation import price_environment, price_implementation
from services.config.pricing.infrastructure import estimate_infrastructure
from services.config.pricing.licensing import price_licensing
from services.config.pricing.managed import price_managed_services
from services.config.pricing.model import (
    Complexity,
    Compliance,
    DataType,
    Duration,
    Environment,
    InfrastructureOverrides,
    InstanceGroupOverride,
    IntegrationChoice,
    IntegrationType,
    KpiChoice,
    ManagedServicesChoice,
    PricingKind,
    RefreshPeriod,
    RetentionPolicy,
    RetentionRule,
    RetentionUnit,
)
from services.config.pricing.money import HoursRange, Money, MoneyRange, cost_of, hours
from services.config.pricing.proposal import price_proposal
from services.config.pricing.retention import DEFAULT_POLICY, apply_compliance, days
from services.errors import InvalidArgument
from tests.unit.pricing_examples import SPEC_INFRASTRUCTURE, SPEC_RETENTION, spec_choices


def usd(dollars: int | str) -> Money:
    return Money.dollars(dollars)


def field_of(error: pytest.ExceptionInfo[InvalidArgument]) -> str:
    (violation,) = error.value.violations
    return violation.field


@pytest.mark.parametrize(
    ("term", "per_chain", "discount", "annual", "total"),
    [
        (1, 35_000, 0, 70_000, 70_000),
        (3, 32_500, 7, 65_000, 195_000),
        (5, 30_000, 14, 60_000, 300_000),
    ],
)
def test_licence_terms(term: int, per_chain: int, discount: int, annual: int, total: int) -> None:
    licensing = price_licensing(["SCOR", "CRM"], term)
    assert licensing.annual_per_chain == usd(per_chain)
    assert licensing.discount_percent == discount
    assert licensing.annual_total == usd(annual)
    assert licensing.term_total == usd(total)


@pytest.mark.parametrize("term", [0, 2, 4, 10, -1])
def test_other_licence_terms_are_refused(term: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        price_licensing(["SCOR"], term)
    assert field_of(error) == "license_term_years"
    assert "1, 3, 5" in error.value.message


def test_licence_needs_a_value_chain() -> None:
    with pytest.raises(InvalidArgument) as error:
        price_licensing([], 1)
    assert field_of(error) == "value_chain_codes"


@pytest.mark.parametrize(
    ("integration", "label", "kind", "hours_", "internal", "charge"),
    [
        (IntegrationType.BATCH_CONFORMED, "Batch - Conformed/Cleansed", PricingKind.FIXED,
         15, 1_050, 1_500),
        (IntegrationType.BATCH_NON_CONFORMED_SINGLE_SOURCE, "Batch - Non-Conformed Single Source",
         PricingKind.FIXED, 20, 1_400, 2_500),
        (IntegrationType.BATCH_NON_CONFORMED_MULTI_SOURCE, "Batch - Non-Conformed Multi Source",
         PricingKind.FIXED, 30, 2_100, 3_500),
        (IntegrationType.BATCH_ENTITY_RESOLUTION, "Batch - Entity Resolution", PricingKind.FIXED,
         30, 2_100, 3_500),
        (IntegrationType.STREAMING_API_ARCHITECTED, "Streaming - API/Architected",
         PricingKind.FIXED, 20, 1_400, 2_500),
        (IntegrationType.STREAMING_API_NON_ARCHITECTED, "Streaming - API/Non-Architected",
         PricingKind.TIME_AND_MATERIALS, 0, 0, 0),
    ],
)
def test_integration_types(
    integration: IntegrationType, label: str, kind: PricingKind, hours_: int, internal: int,
    charge: int,
) -> None:
    implementation = price_implementation(
        [IntegrationChoice("ORDER", "Order", "ERP", integration)], [], Environment.NONE, 0
    )
    (line,) = implementation.data_integration
    assert (line.label, line.pricing, line.hours_hundredths) == (label, kind, hours(hours_))
    assert (line.internal_cost, line.cost) == (usd(internal), usd(charge))
    assert implementation.data_integration_subtotal == usd(charge)
    if kind is PricingKind.TIME_AND_MATERIALS:
        (item,) = implementation.tm_items
        assert item.subjects == ("ORDER",)
        assert item.hours == HoursRange(hours(40), hours(60))
        assert item.estimated_cost == MoneyRange(usd(7_000), usd(10_500))
    else:
        assert implementation.tm_items == ()


@pytest.mark.parametrize(
    ("complexity", "kind", "hours_", "internal", "charge"),
    [
        (Complexity.OTB, PricingKind.FIXED, "0.5", 35, 50),
        (Complexity.CUSTOM_BASIC, PricingKind.FIXED, "0.5", 35, 50),
        (Complexity.RBAC, PricingKind.FIXED, "1", 70, 100),
        (Complexity.DYNAMIC_RBAC, PricingKind.TIME_AND_MATERIALS, "0", 0, 0),
    ],
)
def test_kpi_complexities(
    complexity: Complexity, kind: PricingKind, hours_: str, internal: int, charge: int
) -> None:
    implementation = price_implementation(
        [], [KpiChoice("SCOR_POF", "Perfect Order", "SCOR", complexity)], Environment.NONE, 0
    )
    (line,) = implementation.kpi_implementation
    assert (line.pricing, line.hours_hundredths) == (kind, hours(hours_))
    assert (line.internal_cost, line.cost) == (usd(internal), usd(charge))
    if kind is PricingKind.TIME_AND_MATERIALS:
        (item,) = implementation.tm_items
        assert item.estimated_cost == MoneyRange(usd(3_500), usd(5_250))


def test_t_and_m_items_sum_their_subjects_and_take_estimates() -> None:
    implementation = price_implementation(
        [],
        [
            KpiChoice("A", "A", "SALES", Complexity.DYNAMIC_RBAC),
            KpiChoice("B", "B", "SALES", Complexity.DYNAMIC_RBAC,
                      tm_hours=HoursRange(hours(10), hours("12.5"))),
        ],
        Environment.NONE,
        0,
    )
    (item,) = implementation.tm_items
    assert item.subjects == ("A", "B")
    assert item.hours == HoursRange(hours(30), hours("42.5"))
    assert item.estimated_cost == MoneyRange(usd(5_250), usd("7437.50"))


@pytest.mark.parametrize(
    ("estimate", "reason"),
    [
        (HoursRange(-100, 2000), "negative"),
        (HoursRange(3000, 2000), "below the minimum"),
        (HoursRange(0, 0), "at least some hours"),
    ],
)
def test_invalid_t_and_m_estimates(estimate: HoursRange, reason: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        price_implementation(
            [IntegrationChoice("ORDER", "Order", "", IntegrationType.STREAMING_API_NON_ARCHITECTED,
                               tm_hours=estimate)],
            [], Environment.NONE, 0,
        )
    assert field_of(error) == "integrations[0].tm_hours"
    assert reason in error.value.message


@pytest.mark.parametrize(
    ("environment", "label"),
    [
        (Environment.ON_PREM, "On-Premises"),
        (Environment.AZURE, "Azure Cloud"),
        (Environment.AWS, "AWS"),
        (Environment.GCP, "GCP"),
        (Environment.ORACLE, "Oracle Cloud"),
    ],
)
def test_environments_with_setup(environment: Environment, label: str) -> None:
    default = price_environment(environment, 0)
    assert (default.platform_label, default.setup_required) == (label, True)
    assert (default.cloud_architect_hours_hundredths, default.cost) == (hours(60), usd(10_500))
    assert price_environment(environment, hours(40)).cost == usd(7_000)
    assert price_environment(environment, hours(80)).cost == usd(14_000)
    assert price_environment(environment, hours("45.5")).cost == usd("7962.50")


def test_no_environment_setup_costs_nothing() -> None:
    setup = price_environment(Environment.NONE, 0)
    assert (setup.setup_required, setup.cost, setup.cloud_architect_hours_hundredths) == (
        False, Money.zero(), 0)
    assert setup.access_specialist_included


@pytest.mark.parametrize(
    ("environment", "hundredths"),
    [(Environment.AWS, hours("39.99")), (Environment.AWS, hours(81)), (Environment.AWS, -1),
     (Environment.NONE, hours(10))],
)
def test_invalid_cloud_architect_hours(environment: Environment, hundredths: int) -> None:
    with pytest.raises(InvalidArgument) as error:
        price_environment(environment, hundredths)
    assert field_of(error) == "environment.cloud_architect_hours_hundredths"


@pytest.mark.parametrize(
    ("choice", "retainer", "additional", "total"),
    [
        (ManagedServicesChoice(False), 0, 0, 0),
        (ManagedServicesChoice(True), 5_000, 0, 5_000),
        (ManagedServicesChoice(True, hours(50)), 5_000, 3_750, 8_750),
        (ManagedServicesChoice(True, hours(100)), 5_000, 7_500, 12_500),
        (ManagedServicesChoice(True, hours(200)), 5_000, 15_000, 20_000),
        (ManagedServicesChoice(True, hours("0.01")), 5_000, "0.75", "5000.75"),
    ],
)
def test_managed_services(
    choice: ManagedServicesChoice, retainer: int, additional: int | str, total: int | str
) -> None:
    managed = price_managed_services(choice)
    assert managed.retainer == usd(retainer)
    assert managed.additional_cost == usd(additional)
    assert managed.annual_total == usd(total)
    assert managed.retainer_hours_hundredths == (6_667 if choice.include_retainer else 0)


@pytest.mark.parametrize(
    "choice", [ManagedServicesChoice(True, -1), ManagedServicesChoice(False, hours(10))]
)
def test_invalid_managed_services(choice: ManagedServicesChoice) -> None:
    with pytest.raises(InvalidArgument) as error:
        price_managed_services(choice)
    assert field_of(error) == "managed_services.additional_hours_hundredths"


@pytest.mark.parametrize(
    ("users", "redis_type", "redis_cost"),
    [(500, "cache.m5.large", 100), (501, "cache.m5.xlarge", 200),
     (2_000, "cache.m5.xlarge", 200), (2_001, "cache.m5.2xlarge", 400)],
)
def test_redis_tiers(users: int, redis_type: str, redis_cost: int) -> None:
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, concurrent_users=users)
    storage = estimate_infrastructure(inputs, SPEC_RETENTION).storage
    assert storage.redis_instance_type == redis_type
    assert storage.redis_monthly_cost == usd(redis_cost)


@pytest.mark.parametrize(
    ("changes", "gateways", "business", "backend"),
    [
        ({}, 2, 6, 6),
        ({"concurrent_users": 750}, 3, 24, 24),  # 750 users × 20 KPIs a minute = 15,000 updates
        ({"queries_per_day": 150_001}, 2, 12, 6),
        ({"daily_volume_gb": Decimal(80)}, 2, 6, 12),
        ({"concurrent_users": 300, "refresh_period": RefreshPeriod.HOUR}, 2, 9, 6),
        ({"concurrent_users": 300, "refresh_period": RefreshPeriod.MINUTE}, 2, 9, 9),
    ],
)
def test_compute_sizing(changes: dict[str, object], gateways: int, business: int,
                        backend: int) -> None:
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, **changes)  # type: ignore[arg-type]
    compute = estimate_infrastructure(inputs, SPEC_RETENTION).compute
    assert compute.api_gateway.instance_count == gateways
    assert compute.business_services.instance_count == business
    assert compute.backend_services.instance_count == backend


@pytest.mark.parametrize(
    ("period", "transfer_gb"),
    [(RefreshPeriod.MINUTE, "1000"), (RefreshPeriod.HOUR, "320"), (RefreshPeriod.DAY, "302")],
)
def test_network_by_refresh_period(period: RefreshPeriod, transfer_gb: str) -> None:
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, refresh_period=period)
    network = estimate_infrastructure(inputs, SPEC_RETENTION).network
    assert network.data_transfer_gb == Decimal(transfer_gb)
    assert network.monthly == cost_of(Decimal(transfer_gb), Decimal("0.09"))


def test_storage_follows_the_retention_policy() -> None:
    no_archive = dataclasses.replace(
        SPEC_RETENTION,
        staged_source=RetentionRule(Duration(3, RetentionUnit.MONTHS), False,
                                    Duration(1, RetentionUnit.YEARS)),
    )
    storage = estimate_infrastructure(SPEC_INFRASTRUCTURE, no_archive).storage
    assert storage.active_database.storage_gb == 450  # 5 GB × 90 days
    assert storage.active_database.monthly_cost == usd(45)
    assert storage.archived_data.storage_gb == 0
    assert storage.archived_data.monthly_cost == Money.zero()

    forever = dataclasses.replace(
        SPEC_RETENTION,
        staged_source=RetentionRule(Duration(1, RetentionUnit.YEARS), True,
                                    Duration(0, RetentionUnit.INDEFINITE)),
    )
    storage = estimate_infrastructure(SPEC_INFRASTRUCTURE, forever).storage
    assert storage.active_database.storage_gb == 1_825
    assert storage.archived_data.storage_gb == 18_250  # sized at 10 years
    assert storage.archived_data.monthly_cost == usd("182.50")


def test_overrides_replace_the_sizing_model() -> None:
    overrides = InfrastructureOverrides(
        api_gateway=InstanceGroupOverride("t3.small", 1, usd(25)),
        business_services=InstanceGroupOverride(instance_count=4),
        backend_services=InstanceGroupOverride(monthly_cost_per_instance=usd(200)),
        active_storage_gb=Decimal(500),
        archive_storage_gb=Decimal(2_000),
        hot_storage_price=Decimal("0.023"),
        cold_storage_price=Decimal("0.004"),
        redis_instance_type="cache.r6g.large",
        redis_monthly_cost=usd(150),
        data_transfer_gb=Decimal("333.3"),
        network_price=Decimal("0.05"),
    )
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, overrides=overrides)
    infra = estimate_infrastructure(inputs, SPEC_RETENTION)
    assert infra.compute.api_gateway.monthly_cost == usd(25)
    assert infra.compute.business_services.monthly_cost == usd(400)
    assert infra.compute.backend_services.monthly_cost == usd(1_200)
    assert infra.storage.active_database.monthly_cost == usd("11.50")
    assert infra.storage.archived_data.monthly_cost == usd(8)
    assert infra.storage.redis_instance_type == "cache.r6g.large"
    assert infra.network.monthly == usd("16.67")  # 16.665 rounded half-up
    assert infra.monthly_total == usd("1811.17")
    assert infra.annual_total == usd("21734.04")


def test_spec_storage_and_network_figures_as_overrides() -> None:
    overrides = InfrastructureOverrides(
        active_storage_gb=Decimal(500), archive_storage_gb=Decimal(2_000),
        data_transfer_gb=Decimal(1_000),
    )
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, daily_volume_gb=Decimal(0),
                                 overrides=overrides)
    infra = estimate_infrastructure(inputs, DEFAULT_POLICY)
    assert (infra.storage.monthly, infra.network.monthly) == (usd(170), usd(90))
    assert infra.annual_total == usd(22_320)


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("infrastructure.daily_volume_gb", {"daily_volume_gb": Decimal(-1)}),
        ("infrastructure.concurrent_users", {"concurrent_users": -1}),
        ("infrastructure.queries_per_day", {"queries_per_day": -5}),
        ("infrastructure.overrides.archive_storage_gb",
         {"overrides": InfrastructureOverrides(archive_storage_gb=Decimal(-1))}),
        ("infrastructure.overrides.backend_services.instance_count",
         {"overrides": InfrastructureOverrides(
             backend_services=InstanceGroupOverride(instance_count=-2))}),
        ("infrastructure.daily_volume_gb", {"daily_volume_gb": Decimal("1e10")}),
        ("infrastructure.overrides.network_price",
         {"overrides": InfrastructureOverrides(network_price=Decimal("1e7"))}),
        ("infrastructure.overrides.redis_monthly_cost",
         {"overrides": InfrastructureOverrides(redis_monthly_cost=Money(10**12))}),
    ],
)
def test_negative_infrastructure_inputs(field: str, change: dict[str, object]) -> None:
    inputs = dataclasses.replace(SPEC_INFRASTRUCTURE, **change)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument) as error:
        estimate_infrastructure(inputs, SPEC_RETENTION)
    assert field_of(error) == field


@pytest.mark.parametrize(
    ("requirements", "staged_archive", "analytics_archive"),
    [
        ((), Duration(5, RetentionUnit.YEARS), Duration(5, RetentionUnit.YEARS)),
        ((Compliance.GDPR,), Duration(5, RetentionUnit.YEARS), Duration(5, RetentionUnit.YEARS)),
        ((Compliance.ISO_27001,), Duration(5, RetentionUnit.YEARS),
         Duration(5, RetentionUnit.YEARS)),
        ((Compliance.OTHER,), Duration(5, RetentionUnit.YEARS), Duration(5, RetentionUnit.YEARS)),
        # 90 days active + 7 years archive ≥ 7 years; a year active + 6 years archive = 7 years.
        ((Compliance.SOX,), Duration(7, RetentionUnit.YEARS), Duration(6, RetentionUnit.YEARS)),
        ((Compliance.HIPAA,), Duration(6, RetentionUnit.YEARS), Duration(5, RetentionUnit.YEARS)),
        ((Compliance.HIPAA, Compliance.SOX, Compliance.GDPR), Duration(7, RetentionUnit.YEARS),
         Duration(6, RetentionUnit.YEARS)),
    ],
)
def test_compliance_minimums(
    requirements: tuple[Compliance, ...], staged_archive: Duration, analytics_archive: Duration
) -> None:
    policy, adjustments = apply_compliance(DEFAULT_POLICY, requirements)
    assert policy.staged_source.archive == staged_archive
    assert policy.analytics.archive == analytics_archive
    changed = {a.data_type for a in adjustments}
    default = DEFAULT_POLICY
    assert (DataType.STAGED_SOURCE in changed) == (staged_archive != default.staged_source.archive)
    assert (DataType.ANALYTICS in changed) == (analytics_archive != default.analytics.archive)


def test_sox_turns_archival_on_and_says_why() -> None:
    deleting = RetentionPolicy(
        staged_source=RetentionRule(Duration(30, RetentionUnit.DAYS), False,
                                    Duration(0, RetentionUnit.YEARS)),
        analytics=RetentionRule(Duration(2, RetentionUnit.YEARS), True,
                                Duration(0, RetentionUnit.INDEFINITE)),
    )
    policy, adjustments = apply_compliance(deleting, (Compliance.SOX,))
    assert policy.staged_source == RetentionRule(
        Duration(30, RetentionUnit.DAYS), True, Duration(7, RetentionUnit.YEARS))
    assert policy.analytics == deleting.analytics  # indefinite already satisfies it
    (adjustment,) = adjustments
    assert adjustment.requirement is Compliance.SOX
    assert adjustment.minimum_retention == Duration(7, RetentionUnit.YEARS)
    assert adjustment.message == (
        "staged source archive retention raised from none (deleted) to 7 years "
        "(SOX: 7 years in total)"
    )


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(Duration(90, RetentionUnit.DAYS), 90), (Duration(6, RetentionUnit.MONTHS), 180),
     (Duration(7, RetentionUnit.YEARS), 2_555), (Duration(0, RetentionUnit.INDEFINITE), 3_650)],
)
def test_retention_days(duration: Duration, expected: int) -> None:
    assert days(duration) == expected


def test_hours_beyond_any_engagement_are_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        price_managed_services(ManagedServicesChoice(True, hours(1_000_001)))
    assert field_of(error) == "managed_services.additional_hours_hundredths"
    with pytest.raises(InvalidArgument) as error:
        price_implementation(
            [], [KpiChoice("A", "A", "SALES", Complexity.DYNAMIC_RBAC,
                           tm_hours=HoursRange(0, hours(1_000_001)))], Environment.NONE, 0)
    assert field_of(error) == "kpis[0].tm_hours"


def test_an_implausible_total_is_refused() -> None:
    # Each override is within its own limit; together they price a proposal beyond $10 trillion.
    huge = InstanceGroupOverride(instance_count=10_000_000, monthly_cost_per_instance=usd(10**9))
    inputs = dataclasses.replace(
        SPEC_INFRASTRUCTURE, overrides=InfrastructureOverrides(backend_services=huge))
    with pytest.raises(InvalidArgument) as error:
        price_proposal(spec_choices(infrastructure=inputs))
    assert field_of(error) == "infrastructure"


def test_invalid_retention_policy_is_named() -> None:
    broken = dataclasses.replace(
        SPEC_RETENTION,
        analytics=RetentionRule(Duration(0, RetentionUnit.DAYS), False,
                                Duration(0, RetentionUnit.YEARS)),
    )
    with pytest.raises(InvalidArgument) as error:
        price_proposal(spec_choices(retention_policy=broken))
    assert field_of(error) == "retention_policy.analytics_data.active_retention"


def test_compliance_changes_the_priced_storage() -> None:
    proposal = price_proposal(spec_choices(compliance=(Compliance.SOX,)))
    # 400 days of archive raised to 7 whole years: 5 GB × 2,555 days at $0.01.
    assert proposal.effective_retention_policy.staged_source.archive == Duration(
        7, RetentionUnit.YEARS)
    assert proposal.infrastructure.storage.archived_data.storage_gb == 12_775
    assert proposal.infrastructure.storage.archived_data.monthly_cost == usd("127.75")


@pytest.mark.parametrize(("term", "year1_min", "term_min"),
                         [(1, 128_720, 128_720), (5, 118_720, 118_720 + 4 * 91_070)])
def test_totals_follow_the_term(term: int, year1_min: int, term_min: int) -> None:
    # Two chains: $70,000 a year on 1 year, $60,000 on 5 years; the rest as in the example.
    proposal = price_proposal(spec_choices(license_term_years=term))
    assert proposal.totals.year1.min == usd(year1_min)
    assert proposal.totals.term_total.min == usd(term_min)


def test_money_formatting() -> None:
    assert usd(65_000).format() == "$65,000"
    assert usd("7437.5").format() == "$7,437.50"
    assert Money(-500).format() == "-$5"
    assert MoneyRange(usd(10_500), usd(15_750)).format() == "$10,500 - $15,750"
    with pytest.raises(ValueError):
        Money.dollars("0.001")
