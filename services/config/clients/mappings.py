"""Field mappings from a client's source to an object model, checked: unknown fields, types that
do not convert, transforms that do not parse, and required fields left unmapped. A mapping with
any blocking problem is INVALID; one without errors but with required fields unmapped is
INCOMPLETE; only a complete, clean mapping is VALID."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from services.catalog.domain import Field, FieldType, ObjectModel
from services.config.clients.model import (
    FieldMapping,
    IssueKind,
    MappingIssue,
    MappingReport,
    MappingStatus,
    SourceField,
)
from services.config.clients.rules import suggestion

# Converts without loss or doubt.
_WIDENING = {
    (FieldType.INTEGER, FieldType.DECIMAL),
    (FieldType.DATE, FieldType.TIMESTAMP),
}
# A unit factor: "*0.01" or "/100".
_FACTOR = re.compile(r"^[*/]\s*[0-9]+(\.[0-9]+)?$")
# A strptime format with at least one directive, e.g. "%d.%m.%Y".
_DATE_FORMAT = re.compile(r"%[a-zA-Z]")


def check_mappings(
    model: ObjectModel,
    mappings: Sequence[FieldMapping],
    source_fields: Sequence[SourceField] = (),
) -> MappingReport:
    """The report for `mappings` onto `model`. `source_fields`, when given, are what the source
    offers: a mapping naming another source field is an error, and their types are used where a
    mapping does not state one."""
    issues: list[MappingIssue] = []
    offered = {field.name: field.type for field in source_fields}
    targets = [field.name for field in model.fields]
    mapped: set[str] = set()
    for mapping in mappings:
        target = model.field(mapping.target_field)
        if target is None:
            issues.append(_issue(
                IssueKind.UNKNOWN_TARGET_FIELD, mapping,
                f"{model.code} has no field {mapping.target_field!r}"
                f"{suggestion(mapping.target_field, targets)}"))
            continue
        if target.name in mapped:
            issues.append(_issue(IssueKind.DUPLICATE_TARGET, mapping,
                                 f"{target.name} is mapped more than once"))
            continue
        mapped.add(target.name)
        issues.extend(_source_issues(mapping, offered))
        source_type = mapping.source_type or offered.get(mapping.source_field)
        issues.extend(_type_issues(mapping, target, source_type))
        issues.extend(_transform_issues(mapping, target))
        issues.extend(_default_issues(mapping, target))
    unmapped = tuple(f.name for f in model.fields if f.required and f.name not in mapped)
    issues.extend(
        MappingIssue(IssueKind.UNMAPPED_REQUIRED_FIELD, False, name, "",
                     f"required field {model.code}.{name} has no mapping and no default")
        for name in unmapped
    )
    if any(issue.blocking for issue in issues):
        status = MappingStatus.INVALID
    elif unmapped:
        status = MappingStatus.INCOMPLETE
    else:
        status = MappingStatus.VALID
    return MappingReport(status, tuple(issues), unmapped)


def _issue(kind: IssueKind, mapping: FieldMapping, message: str,
           blocking: bool = True) -> MappingIssue:
    return MappingIssue(kind, blocking, mapping.target_field, mapping.source_field, message)


def _source_issues(
    mapping: FieldMapping, offered: dict[str, FieldType | None]
) -> list[MappingIssue]:
    if not mapping.source_field:
        if mapping.default_value:
            return []
        return [_issue(IssueKind.UNKNOWN_SOURCE_FIELD, mapping,
                       f"{mapping.target_field} names no source field and no default value")]
    if offered and mapping.source_field not in offered:
        return [_issue(IssueKind.UNKNOWN_SOURCE_FIELD, mapping,
                       f"the source offers no field {mapping.source_field!r}"
                       f"{suggestion(mapping.source_field, offered)}")]
    return []


def _type_issues(
    mapping: FieldMapping, target: Field, source_type: FieldType | None
) -> list[MappingIssue]:
    if source_type is None or source_type is target.type:
        return []
    if (source_type, target.type) in _WIDENING or target.type is FieldType.STRING:
        return []
    described = (f"{target.name} is {target.type.name}; source {mapping.source_field} is "
                 f"{source_type.name}")
    if source_type is FieldType.STRING:
        if mapping.transform:
            return []
        # Text parses into any type, but rows that do not parse will be rejected at load.
        return [_issue(IssueKind.TYPE_MISMATCH, mapping,
                       f"{described}: values are parsed at load and rows that do not parse are "
                       "rejected; a transform states the expected format", blocking=False)]
    return [_issue(IssueKind.TYPE_MISMATCH, mapping, f"{described}, which does not convert")]


def _transform_issues(mapping: FieldMapping, target: Field) -> list[MappingIssue]:
    transform = mapping.transform.strip()
    if not transform:
        return []
    if target.type.is_numeric and _FACTOR.match(transform):
        return []
    if target.type.is_temporal and _DATE_FORMAT.search(transform):
        return []
    expected = ("a unit factor such as '*0.01'" if target.type.is_numeric
                else "a date format such as '%d.%m.%Y'" if target.type.is_temporal
                else "no transform")
    return [_issue(IssueKind.INVALID_TRANSFORM, mapping,
                   f"transform {transform!r} does not fit {target.name} "
                   f"({target.type.name}); expected {expected}")]


def _default_issues(mapping: FieldMapping, target: Field) -> list[MappingIssue]:
    if not mapping.default_value:
        return []
    try:
        value = json.loads(mapping.default_value)
    except (json.JSONDecodeError, RecursionError):
        return [_issue(IssueKind.TYPE_MISMATCH, mapping,
                       f"default value {mapping.default_value!r} is not JSON (quote text: "
                       "'\"open\"')")]
    if not _fits(value, target.type):
        return [_issue(IssueKind.TYPE_MISMATCH, mapping,
                       f"default value {mapping.default_value} is not a {target.type.name}")]
    if target.allowed_values and value not in target.allowed_values:
        return [_issue(IssueKind.TYPE_MISMATCH, mapping,
                       f"default value {value!r} is not one of {', '.join(target.allowed_values)}")]
    return []


def _fits(value: object, kind: FieldType) -> bool:
    if kind is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if kind is FieldType.INTEGER:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is FieldType.DECIMAL:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)
