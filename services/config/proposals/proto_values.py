"""Contract values ↔ pricing values that several translations share: enums by name, money,
decimal strings, hours and retention policies. Bad values raise InvalidArgument naming the field."""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from analytics.config.v1 import config_pb2, proposal_pb2
from analytics.type.v1 import types_pb2

from services.config.pricing import model, results
from services.config.pricing.money import HoursRange, Money
from services.config.pricing.retention import DEFAULT_POLICY
from services.config.pricing.tables import DEFAULT_CURRENCY
from services.errors import FieldViolation, InvalidArgument

E = TypeVar("E", bound=enum.Enum)

MAX_TEXT_LENGTH = 200
MAX_DECIMAL_PLACES = 6


ENUM_PREFIXES: Mapping[type[enum.Enum], tuple[Any, str]] = {
    model.IntegrationType: (config_pb2.IntegrationType, "INTEGRATION_TYPE_"),
    model.Complexity: (config_pb2.ImplementationComplexity, "IMPLEMENTATION_COMPLEXITY_"),
    model.Environment: (config_pb2.Environment, "ENVIRONMENT_"),
    model.Compliance: (config_pb2.ComplianceRequirement, "COMPLIANCE_REQUIREMENT_"),
    model.RefreshPeriod: (types_pb2.Period, "PERIOD_"),
    model.RetentionUnit: (types_pb2.RetentionUnit, "RETENTION_UNIT_"),
    model.DataType: (types_pb2.RetentionDataType, "RETENTION_DATA_TYPE_"),
    model.PricingKind: (proposal_pb2.PricingKind, "PRICING_KIND_"),
    results.ResourceRole: (proposal_pb2.ResourceRole, "RESOURCE_ROLE_"),
    results.Phase: (proposal_pb2.ProjectPhase, "PROJECT_PHASE_"),
}


def from_proto_enum(kind: type[E], number: int, field: str, default: E | None = None) -> E:
    """The pricing value of a contract enum number; unset gives `default` (or is refused)."""
    wrapper, prefix = ENUM_PREFIXES[kind]
    allowed = ", ".join(prefix + member.name for member in kind)
    if number == 0:
        if default is not None:
            return default
        raise InvalidArgument.for_field(field, f"is required; one of {allowed}")
    try:
        name = wrapper.Name(number).removeprefix(prefix)
        return kind[name]
    except (ValueError, KeyError):
        raise InvalidArgument.for_field(
            field, f"unknown value {number}; one of {allowed}") from None


def to_proto_enum(value: enum.Enum) -> Any:
    """The contract's enum number (typed as the generated enum type wherever it is assigned)."""
    wrapper, prefix = ENUM_PREFIXES[type(value)]
    return wrapper.Value(prefix + value.name)


def money_from_proto(value: types_pb2.Money, field: str) -> Money:
    if value.currency_code not in ("", DEFAULT_CURRENCY):
        raise InvalidArgument.for_field(
            f"{field}.currency_code", f"prices are in {DEFAULT_CURRENCY}")
    return Money(value.cents)


def money(value: Money, currency: str = DEFAULT_CURRENCY) -> types_pb2.Money:
    return types_pb2.Money(currency_code=currency, cents=value.cents)


def decimal_from_text(text: str, field: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidArgument.for_field(field, f"{text!r} is not a decimal number") from None
    if not value.is_finite():
        raise InvalidArgument.for_field(field, f"{text!r} is not a decimal number")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
        raise InvalidArgument.for_field(
            field, f"use at most {MAX_DECIMAL_PLACES} decimal places")
    return value


def decimal_text(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def hours_from_proto(value: config_pb2.HoursRange) -> HoursRange:
    return HoursRange(value.min_hours_hundredths, value.max_hours_hundredths)


def hours_range(value: HoursRange) -> config_pb2.HoursRange:
    return config_pb2.HoursRange(
        min_hours_hundredths=value.min_hundredths, max_hours_hundredths=value.max_hundredths)


def policy_from_proto(
    policy: types_pb2.DataRetentionPolicy, field: str
) -> model.RetentionPolicy:
    def rule(message: types_pb2.DataRetentionRule, name: str,
             default: model.RetentionRule) -> model.RetentionRule:
        if not policy.HasField(name):  # type: ignore[arg-type]
            return default
        archive = (
            _duration(message.archive_retention, f"{field}.{name}.archive_retention")
            if message.archival_enabled else default.archive
        )
        return model.RetentionRule(
            _duration(message.active_retention, f"{field}.{name}.active_retention"),
            message.archival_enabled, archive,
        )

    granularity = model.Granularity()
    if policy.HasField("granularity"):
        g = policy.granularity
        granularity = model.Granularity(
            g.raw_data, g.minute_aggregates, g.hourly_aggregates, g.daily_aggregates,
            g.monthly_aggregates)
    return model.RetentionPolicy(
        staged_source=rule(policy.staged_source_data, "staged_source_data",
                           DEFAULT_POLICY.staged_source),
        analytics=rule(policy.analytics_data, "analytics_data", DEFAULT_POLICY.analytics),
        granularity=granularity,
    )


def policy(value: model.RetentionPolicy) -> types_pb2.DataRetentionPolicy:
    def rule(r: model.RetentionRule) -> types_pb2.DataRetentionRule:
        return types_pb2.DataRetentionRule(
            active_retention=duration(r.active), archival_enabled=r.archival_enabled,
            archive_retention=duration(r.archive))

    g = value.granularity
    return types_pb2.DataRetentionPolicy(
        staged_source_data=rule(value.staged_source),
        analytics_data=rule(value.analytics),
        granularity=types_pb2.GranularityRetention(
            raw_data=g.raw_data, minute_aggregates=g.minute_aggregates,
            hourly_aggregates=g.hourly_aggregates, daily_aggregates=g.daily_aggregates,
            monthly_aggregates=g.monthly_aggregates),
    )


def duration(value: model.Duration) -> types_pb2.RetentionDuration:
    return types_pb2.RetentionDuration(count=value.count, unit=to_proto_enum(value.unit))


def _duration(value: types_pb2.RetentionDuration, field: str) -> model.Duration:
    unit = from_proto_enum(model.RetentionUnit, value.unit, f"{field}.unit")
    return model.Duration(value.count, unit)


def plain_text(value: str, field: str) -> str:
    """Free text shown on the document: stripped, one line, no control characters."""
    text = value.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidArgument.for_field(field, "must not contain control characters")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidArgument.for_field(field, f"must be at most {MAX_TEXT_LENGTH} characters")
    return text


def prefixed(error: InvalidArgument, prefix: str) -> InvalidArgument:
    """The same error with every field named from the request's root (e.g. under "inputs.")."""
    violations = [FieldViolation(prefix + v.field, v.description) for v in error.violations]
    message = error.message
    if error.violations and message.startswith(error.violations[0].field):
        message = prefix + message
    return InvalidArgument(message, violations)
