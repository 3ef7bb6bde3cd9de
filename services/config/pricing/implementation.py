"""Implementation statement of work (SPEC §2): integration per object model, KPI implementation per
KPI, environment setup, and the time-and-materials items they give rise to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.config.pricing.model import (
    Environment,
    IntegrationChoice,
    KpiChoice,
    PricingKind,
)
from services.config.pricing.money import HoursRange, Money, format_hours
from services.config.pricing.results import (
    EnvironmentSetup,
    Implementation,
    IntegrationLine,
    KpiLine,
    TmItem,
)
from services.config.pricing.tables import (
    ARCHITECT_RATE,
    CLOUD_ARCHITECT_HOURS,
    DEFAULT_CLOUD_ARCHITECT_HOURS,
    ENVIRONMENTS,
    INTEGRATION_PRICES,
    INTERNAL_RATE,
    KPI_PRICES,
    MAX_HOURS,
    WorkPrice,
)
from services.errors import InvalidArgument


def price_implementation(
    integrations: Sequence[IntegrationChoice],
    kpis: Sequence[KpiChoice],
    environment: Environment,
    cloud_architect_hours_hundredths: int,
) -> Implementation:
    integration_lines = tuple(_integration_line(choice) for choice in integrations)
    kpi_lines = tuple(_kpi_line(choice) for choice in kpis)
    tm_items: list[TmItem] = []
    for price in INTEGRATION_PRICES.values():
        if price.kind is PricingKind.TIME_AND_MATERIALS:
            tm_items += _tm_item(
                price,
                [(c.object_model_code, c.tm_hours, f"integrations[{i}].tm_hours")
                 for i, c in enumerate(integrations)
                 if INTEGRATION_PRICES[c.integration_type] is price],
            )
    for price in KPI_PRICES.values():
        if price.kind is PricingKind.TIME_AND_MATERIALS:
            tm_items += _tm_item(
                price,
                [(c.code, c.tm_hours, f"kpis[{i}].tm_hours")
                 for i, c in enumerate(kpis) if KPI_PRICES[c.complexity] is price],
            )
    return Implementation(
        data_integration=integration_lines,
        data_integration_subtotal=_sum(line.cost for line in integration_lines),
        kpi_implementation=kpi_lines,
        kpi_implementation_subtotal=_sum(line.cost for line in kpi_lines),
        environment_setup=price_environment(environment, cloud_architect_hours_hundredths),
        tm_items=tuple(tm_items),
    )


def price_environment(environment: Environment, hours_hundredths: int) -> EnvironmentSetup:
    """A new environment takes a cloud architect (T&M, 40–80 h, 60 h by default); an existing one
    costs nothing. The access specialist who connects to the client's environment is included."""
    price = ENVIRONMENTS[environment]
    field = "environment.cloud_architect_hours_hundredths"
    if hours_hundredths < 0:
        raise InvalidArgument.for_field(field, "must not be negative")
    if hours_hundredths > MAX_HOURS:
        raise InvalidArgument.for_field(field, "is more hours than any environment takes")
    if price.setup_required:
        hours_hundredths = hours_hundredths or DEFAULT_CLOUD_ARCHITECT_HOURS
        allowed = CLOUD_ARCHITECT_HOURS
        if not allowed.min_hundredths <= hours_hundredths <= allowed.max_hundredths:
            raise InvalidArgument.for_field(
                field,
                f"{format_hours(hours_hundredths)} h is outside the {allowed.format()} h an "
                "environment setup takes (in hundredths: 6000 is 60 h)",
            )
    elif hours_hundredths:
        raise InvalidArgument.for_field(field, "an existing environment needs no cloud architect")
    return EnvironmentSetup(
        environment=environment,
        platform_label=price.label,
        setup_required=price.setup_required,
        cloud_architect_hours_hundredths=hours_hundredths,
        cloud_architect_hours_range=CLOUD_ARCHITECT_HOURS,
        hourly_rate=ARCHITECT_RATE,
        cost=ARCHITECT_RATE.for_hours(hours_hundredths),
        access_specialist_included=True,
    )


def _integration_line(choice: IntegrationChoice) -> IntegrationLine:
    price = INTEGRATION_PRICES[choice.integration_type]
    return IntegrationLine(
        object_model_code=choice.object_model_code,
        object_model_name=choice.object_model_name,
        source_system=choice.source_system,
        integration_type=choice.integration_type,
        label=price.label,
        pricing=price.kind,
        hours_hundredths=price.hours_hundredths,
        internal_cost=INTERNAL_RATE.for_hours(price.hours_hundredths),
        cost=price.charge,
    )


def _kpi_line(choice: KpiChoice) -> KpiLine:
    price = KPI_PRICES[choice.complexity]
    return KpiLine(
        kpi_code=choice.code,
        kpi_name=choice.name,
        complexity=choice.complexity,
        label=price.label,
        pricing=price.kind,
        hours_hundredths=price.hours_hundredths,
        internal_cost=INTERNAL_RATE.for_hours(price.hours_hundredths),
        cost=price.charge,
    )


def _tm_item(
    price: WorkPrice, subjects: Sequence[tuple[str, HoursRange | None, str]]
) -> list[TmItem]:
    """One item per kind of T&M work, its hours the sum of every subject's estimate."""
    if not subjects:
        return []
    assert price.tm_default is not None
    total = HoursRange(0, 0)
    for _, estimate, field in subjects:
        total = total + validate_hours_range(estimate or price.tm_default, field)
    return [TmItem(
        description=price.tm_item,
        subjects=tuple(code for code, _, _ in subjects),
        hours=total,
        hourly_rate=ARCHITECT_RATE,
        estimated_cost=total.cost(ARCHITECT_RATE),
    )]


def validate_hours_range(estimate: HoursRange, field: str) -> HoursRange:
    if estimate.min_hundredths < 0 or estimate.max_hundredths < 0:
        raise InvalidArgument.for_field(field, "hours must not be negative")
    if estimate.max_hundredths < estimate.min_hundredths:
        raise InvalidArgument.for_field(field, "the maximum must not be below the minimum")
    if estimate.max_hundredths > MAX_HOURS:
        raise InvalidArgument.for_field(field, "is more hours than any estimate allows")
    if estimate.max_hundredths == 0:
        raise InvalidArgument.for_field(field, "estimate at least some hours, or leave it unset")
    return estimate


def _sum(amounts: Iterable[Money]) -> Money:
    total = Money.zero()
    for amount in amounts:
        total = total + amount
    return total
