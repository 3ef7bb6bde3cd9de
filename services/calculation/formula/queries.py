"""Builds the aggregate queries that answer compiled KPIs: one query per object model, carrying
every measure the KPIs need from it, so a dashboard scans each object model once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.aggregates import query
from services.calculation.formula import ast
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.formula.parser import parse
from services.calculation.formula.paths import PathProblem, resolve_path
from services.catalog.domain import ObjectModel


def aggregate_queries(
    measures: Mapping[str, Sequence[query.Measure]],
    time_range: query.TimeRange,
    bucket: query.Period | None = None,
    group_by: Mapping[str, Sequence[query.Dimension]] | None = None,
    row_filters: Mapping[str, query.Filter] | None = None,
    object_model_of: Mapping[str, str] | None = None,
) -> tuple[query.AggregateQuery, ...]:
    """One query per key of `measures` (query id = the key). A key is an object model code, or
    a scope of one (the object model as `object_model_of` names it, read through a row-security
    predicate: callers with different rights read one model through different scopes).
    `group_by` and `row_filters` are per key: a dimension or a row-security predicate is written
    in the fields of the model it applies to."""
    group_by = group_by or {}
    row_filters = row_filters or {}
    object_model_of = object_model_of or {}
    return tuple(
        query.AggregateQuery(
            query_id=model_code,
            object_model_code=object_model_of.get(model_code, model_code),
            time_range=time_range,
            measures=tuple(model_measures),
            bucket=bucket,
            group_by=tuple(group_by.get(model_code, ())),
            row_filter=row_filters.get(model_code),
        )
        for model_code, model_measures in sorted(measures.items())
    )


def dimension(name: str, path: str, model: ObjectModel,
              object_models: Mapping[str, ObjectModel]) -> query.Dimension:
    """A group-by dimension written as a path relative to `model` (`region`,
    `customer.segment`); raises FormulaError when the path does not resolve."""
    tree = parse(path)
    if not isinstance(tree, ast.Path):
        raise FormulaError([Diagnostic(1, 1, path, "a dimension is a field or a path of "
                                                   "relationships ending in a field")],
                           field="group_by")
    resolved = resolve_path(tree.segments, model, object_models)
    if isinstance(resolved, PathProblem) or resolved.field is None:
        message = (resolved.message if isinstance(resolved, PathProblem)
                   else "a dimension names a field")
        span = tree.segment_spans[resolved.segment] if isinstance(resolved, PathProblem) \
            else tree.span
        raise FormulaError([Diagnostic(span.line, span.column, path, message)], field="group_by")
    return query.Dimension(name, query.FieldRef(resolved.field.name, resolved.relationship_names))


def value_without_rows(measure: query.Measure) -> float | None:
    """A measure's value over no rows (an empty bucket, a group absent from one object model):
    counts are 0, every other aggregate has no value."""
    counts = (query.AggregateFunction.COUNT, query.AggregateFunction.COUNT_DISTINCT)
    return 0.0 if measure.function in counts else None
