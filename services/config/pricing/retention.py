"""Retention: the default policy, compliance minimums that raise it, and durations in days for
storage sizing (SPEC "Client Retention Policy Configuration" and questionnaire question 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from services.config.pricing.model import (
    Compliance,
    DataType,
    Duration,
    RetentionPolicy,
    RetentionRule,
    RetentionUnit,
)
from services.config.pricing.results import ComplianceAdjustment
from services.config.pricing.tables import (
    COMPLIANCE_RULES,
    DAYS_PER_UNIT,
    INDEFINITE_ARCHIVE_SIZING_YEARS,
)
from services.errors import InvalidArgument

DEFAULT_POLICY = RetentionPolicy(
    staged_source=RetentionRule(
        active=Duration(90, RetentionUnit.DAYS),
        archival_enabled=True,
        archive=Duration(5, RetentionUnit.YEARS),
    ),
    analytics=RetentionRule(
        active=Duration(365, RetentionUnit.DAYS),
        archival_enabled=True,
        archive=Duration(5, RetentionUnit.YEARS),
    ),
)
"""The questionnaire's defaults: 90 days of source data (standard) and a year of analytics active
(recommended), both archived for 5 years (common for compliance)."""

_RULE_FIELDS = {DataType.STAGED_SOURCE: "staged_source_data", DataType.ANALYTICS: "analytics_data"}


def days(duration: Duration) -> int:
    """A duration in days for sizing; an indefinite archive counts as 10 years."""
    if duration.unit is RetentionUnit.INDEFINITE:
        return INDEFINITE_ARCHIVE_SIZING_YEARS * DAYS_PER_UNIT["YEARS"]
    return duration.count * DAYS_PER_UNIT[duration.unit.value]


def validate_policy(policy: RetentionPolicy, field: str = "retention_policy") -> RetentionPolicy:
    for data_type, name in _RULE_FIELDS.items():
        rule = policy.rule(data_type)
        prefix = f"{field}.{name}"
        if rule.active.unit is RetentionUnit.INDEFINITE or rule.active.count <= 0:
            raise InvalidArgument.for_field(
                f"{prefix}.active_retention", "must be a positive number of days, months or years"
            )
        if rule.archival_enabled and rule.archive.unit is not RetentionUnit.INDEFINITE:
            if rule.archive.count <= 0:
                raise InvalidArgument.for_field(
                    f"{prefix}.archive_retention",
                    "must be a positive duration or indefinite when archival is enabled",
                )
    return policy


def apply_compliance(
    policy: RetentionPolicy, requirements: Sequence[Compliance]
) -> tuple[RetentionPolicy, tuple[ComplianceAdjustment, ...]]:
    """Raise every data type's total retention (active plus archive) to the strictest minimum of the
    regimes. Archival is switched on where needed and the archive sized in whole years."""
    strictest: tuple[int, Compliance] | None = None
    for requirement in requirements:
        minimum = COMPLIANCE_RULES[requirement].minimum_years
        if minimum is not None and (strictest is None or minimum > strictest[0]):
            strictest = (minimum, requirement)
    if strictest is None:
        return policy, ()
    minimum_years, requirement = strictest
    adjustments: list[ComplianceAdjustment] = []
    rules: dict[DataType, RetentionRule] = {}
    for data_type in DataType:
        rule = policy.rule(data_type)
        raised = _raised(rule, minimum_years)
        rules[data_type] = raised
        if raised != rule:
            adjustments.append(ComplianceAdjustment(
                requirement=requirement,
                data_type=data_type,
                minimum_retention=Duration(minimum_years, RetentionUnit.YEARS),
                message=(
                    f"{data_type.value.lower().replace('_', ' ')} archive retention raised from "
                    f"{_describe_archive(rule)} to {raised.archive.describe()} "
                    f"({COMPLIANCE_RULES[requirement].label}: {minimum_years} years in total)"
                ),
            ))
    adjusted = dataclasses.replace(
        policy, staged_source=rules[DataType.STAGED_SOURCE], analytics=rules[DataType.ANALYTICS]
    )
    return adjusted, tuple(adjustments)


def _raised(rule: RetentionRule, minimum_years: int) -> RetentionRule:
    required_days = minimum_years * DAYS_PER_UNIT["YEARS"]
    if rule.archival_enabled and rule.archive.unit is RetentionUnit.INDEFINITE:
        return rule
    held = days(rule.active) + (days(rule.archive) if rule.archival_enabled else 0)
    if held >= required_days:
        return rule
    missing_days = required_days - days(rule.active)
    archive_years = -(-missing_days // DAYS_PER_UNIT["YEARS"])
    return RetentionRule(
        active=rule.active,
        archival_enabled=True,
        archive=Duration(archive_years, RetentionUnit.YEARS),
    )


def _describe_archive(rule: RetentionRule) -> str:
    return rule.archive.describe() if rule.archival_enabled else "none (deleted)"
