"""Licensing: value chains × the annual price of the chosen term (SPEC §1)."""

from __future__ import annotations

from collections.abc import Sequence

from services.config.pricing.results import Licensing
from services.config.pricing.tables import LICENCE_PRICES
from services.errors import InvalidArgument

TERMS = tuple(sorted(LICENCE_PRICES))


def validate_term(term_years: int, field: str = "license_term_years") -> int:
    if term_years not in LICENCE_PRICES:
        raise InvalidArgument.for_field(
            field, f"must be one of {', '.join(map(str, TERMS))} years, not {term_years}"
        )
    return term_years


def price_licensing(value_chain_codes: Sequence[str], term_years: int) -> Licensing:
    """2 chains on 3 years: 2 × $32,500 = $65,000 a year, $195,000 over the term."""
    price = LICENCE_PRICES[validate_term(term_years)]
    if not value_chain_codes:
        raise InvalidArgument.for_field("value_chain_codes", "license at least one value chain")
    annual = price.annual_per_chain.times(len(value_chain_codes))
    return Licensing(
        value_chain_codes=tuple(value_chain_codes),
        term_years=term_years,
        annual_per_chain=price.annual_per_chain,
        discount_percent=price.discount_percent,
        annual_total=annual,
        term_total=annual.times(term_years),
    )
