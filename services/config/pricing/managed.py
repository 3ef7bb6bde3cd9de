"""Managed services (SPEC §4): the annual retainer and support hours beyond it."""

from __future__ import annotations

from services.config.pricing.model import ManagedServicesChoice
from services.config.pricing.money import Money
from services.config.pricing.results import ManagedServices
from services.config.pricing.tables import MAX_HOURS, RETAINER, RETAINER_HOURS, SUPPORT_RATE
from services.errors import InvalidArgument


def price_managed_services(choice: ManagedServicesChoice) -> ManagedServices:
    """Retainer $5,000 (66.67 h) plus additional hours at $75: 50 h → $8,750 a year. Without the
    retainer there is no support to add hours to."""
    field = "managed_services.additional_hours_hundredths"
    extra = choice.additional_hours_hundredths
    if extra < 0:
        raise InvalidArgument.for_field(field, "must not be negative")
    if extra > MAX_HOURS:
        raise InvalidArgument.for_field(field, "is more hours than a year of support holds")
    if extra and not choice.include_retainer:
        raise InvalidArgument.for_field(
            field, "additional support hours need the retainer (include_retainer)"
        )
    return ManagedServices(
        included=choice.include_retainer,
        retainer=RETAINER if choice.include_retainer else Money.zero(),
        retainer_hours_hundredths=RETAINER_HOURS if choice.include_retainer else 0,
        hourly_rate=SUPPORT_RATE,
        additional_hours_hundredths=extra,
        additional_cost=SUPPORT_RATE.for_hours(extra),
    )
