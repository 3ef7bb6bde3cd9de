"""Row security of RBAC and Dynamic RBAC KPIs: from a KPI's rules and the caller's claims to the
row filter of each object model it reads (pure: no gRPC, no SQL).

Roles bound to part of a client's data (manager, sales) see only the rows the rules allow; an
admin or analyst sees every row of the client, and so does a call with no caller at all (the
service's own work, e.g. a batch job, or a trusted internal call). A restricted caller whose token
lacks a claim a rule needs is refused rather than shown everything.

A KPI that inlines other KPIs through kpi() is limited by their rules too, so composing a KPI
never widens what a caller sees.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from services.aggregates import query
from services.calculation.formula.paths import PathProblem, resolve_path
from services.catalog.domain import Cardinality, FieldType, ObjectModel, RowAccessRule
from services.errors import PermissionDenied
from services.security.caller import Caller, Role

# Roles that see only the rows their claims allow.
RESTRICTED_ROLES = frozenset({Role.MANAGER, Role.SALES})


def is_restricted(caller: Caller | None) -> bool:
    return caller is not None and caller.role in RESTRICTED_ROLES


def rule_problems(rule: RowAccessRule, models: Mapping[str, ObjectModel]) -> list[str]:
    """What is wrong with a rule, against the object models (empty when nothing is)."""
    model = models.get(rule.object_model_code)
    if model is None:
        return [f"unknown object model {rule.object_model_code!r}"]
    problems = []
    if not rule.claim.isidentifier():
        problems.append(f"claim {rule.claim!r} must be an identifier such as 'region'")
    resolved = _resolve(rule.field, model, models)
    if isinstance(resolved, str):
        problems.append(resolved)
    if rule.hierarchy_object_model_code or rule.hierarchy_parent_relationship:
        problems.extend(_hierarchy_problems(rule, models))
    return problems


def _hierarchy_problems(rule: RowAccessRule, models: Mapping[str, ObjectModel]) -> list[str]:
    hierarchy = models.get(rule.hierarchy_object_model_code)
    if hierarchy is None:
        return [
            f"hierarchy must be MODEL.parent_relationship; unknown object model "
            f"{rule.hierarchy_object_model_code!r}"
        ]
    parent = hierarchy.relationship(rule.hierarchy_parent_relationship)
    if (
        parent is None
        or parent.cardinality is not Cardinality.MANY_TO_ONE
        or parent.target_object_model_code != hierarchy.code
    ):
        return [
            f"{hierarchy.code} has no many-to-one relationship "
            f"{rule.hierarchy_parent_relationship!r} to itself (a node's parent)"
        ]
    return []


def _resolve(
    path: str, model: ObjectModel, models: Mapping[str, ObjectModel]
) -> query.FieldRef | str:
    segments = tuple(segment.strip() for segment in path.split("."))
    if not all(segments):
        return f"field {path!r} must be a field or a path such as 'owner.region'"
    resolved = resolve_path(segments, model, models)
    if isinstance(resolved, PathProblem):
        return f"field {path!r}: {resolved.message}"
    if resolved.field is None or resolved.field.type is not FieldType.STRING:
        return f"field {path!r} must be a text field (claims are text)"
    return query.FieldRef(resolved.field.name, resolved.relationship_names)


def effective_rules(
    kpi_code: str,
    referenced_kpi_codes: Iterable[str],
    rules_of: Mapping[str, tuple[RowAccessRule, ...]],
) -> tuple[RowAccessRule, ...]:
    """The rules of a KPI and of every KPI it inlines, each once."""
    rules: dict[RowAccessRule, None] = {}
    for code in (kpi_code, *sorted(referenced_kpi_codes)):
        rules.update(dict.fromkeys(rules_of.get(code, ())))
    return tuple(rules)


def row_filters(
    kpi_code: str,
    rules: Iterable[RowAccessRule],
    caller: Caller | None,
    models: Mapping[str, ObjectModel],
) -> dict[str, query.Filter]:
    """The row filter per object model that `caller` may see of `kpi_code` (no entry: every
    row). Raises PermissionDenied when a restricted caller lacks a claim a rule needs."""
    if caller is None or not is_restricted(caller):
        return {}
    found: dict[str, list[query.Filter]] = defaultdict(list)
    for rule in rules:
        value = caller.attributes.get(rule.claim, "").strip()
        if not value:
            raise PermissionDenied(
                f"KPI {kpi_code} shows a {caller.role.value} only the rows of their "
                f"{rule.claim!r}, and the token carries no {rule.claim!r} claim"
            )
        found[rule.object_model_code].append(_rule_filter(rule, value, models))
    return {
        code: filters[0] if len(filters) == 1 else query.AllOf(tuple(filters))
        for code, filters in found.items()
    }


def _rule_filter(
    rule: RowAccessRule, value: str, models: Mapping[str, ObjectModel]
) -> query.Filter:
    # Rules were checked when the catalog was loaded; a rule that no longer resolves is a
    # catalog defect, and refusing is the safe answer.
    problems = rule_problems(rule, models)
    if problems:
        raise PermissionDenied(
            f"row security of {rule.object_model_code} is misconfigured: " + "; ".join(problems)
        )
    ref = _resolve(rule.field, models[rule.object_model_code], models)
    assert isinstance(ref, query.FieldRef)
    if not rule.follows_hierarchy:
        return query.Compare(ref, query.Comparator.EQ, query.Literal(value))
    hierarchy = models[rule.hierarchy_object_model_code]
    parent = hierarchy.relationship(rule.hierarchy_parent_relationship)
    assert parent is not None
    return query.Subtree(
        field=ref,
        hierarchy_object_model_code=hierarchy.code,
        node_field=parent.target_field,
        parent_field=parent.source_field,
        root=value,
    )


def hierarchy_model_codes(rules: Iterable[RowAccessRule]) -> tuple[str, ...]:
    """Object models a KPI's visible rows depend on besides the ones it aggregates: a change to
    the hierarchy changes what a manager sees."""
    return tuple(
        sorted({rule.hierarchy_object_model_code for rule in rules if rule.follows_hierarchy})
    )
