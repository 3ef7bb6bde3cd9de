"""Totals computed from the series of the same request instead of scanning the rows again.

A calculation asks for a KPI's series (bucketed) and its total over the same range, filters and
groups. When every measure combines across buckets — counts and sums add up, minima and maxima
take the extreme — the total is the combination of the series' rows, and its statement (a second
scan of the same rows, as expensive as the first) need not run. Averages, distinct counts and
percentiles do not combine, so their totals are still read from the database.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterable, Sequence

from services.aggregates import query as q

_F = q.AggregateFunction


def _total_of_sums(values: list[float]) -> float:
    return math.fsum(values)


_COMBINE: dict[q.AggregateFunction, Callable[[list[float]], float]] = {
    _F.COUNT: _total_of_sums,
    _F.SUM: _total_of_sums,
    _F.MIN: min,
    _F.MAX: max,
}


def derivable_totals(
    queries: Sequence[q.AggregateQuery], options: Sequence[Hashable]
) -> dict[int, int]:
    """Position of each total query -> position of the series query it is derived from. A total
    qualifies when a series query with the same options asks the very same thing bucketed and
    every measure combines. Grouped totals are left to the database (their groups come back in
    its order, and a cap on groups could drop rows from the series)."""
    if all(query.bucket is not None or query.group_by for query in queries):
        return {}  # no total to derive (a live round asks for series only)
    series_of: dict[tuple[q.AggregateQuery, Hashable], int] = {}
    for index, query in enumerate(queries):
        if query.bucket is not None and not query.group_by:
            series_of.setdefault((_unbucketed(query), options[index]), index)
    derived: dict[int, int] = {}
    for index, query in enumerate(queries):
        if query.bucket is not None or query.group_by:
            continue
        if not all(measure.function in _COMBINE for measure in query.measures):
            continue
        source = series_of.get((_unbucketed(query), options[index]))
        if source is not None:
            derived[index] = source
    return derived


def _unbucketed(query: q.AggregateQuery) -> q.AggregateQuery:
    return dataclasses.replace(query, query_id="", bucket=None)


def total_row(query: q.AggregateQuery, series_rows: Iterable[q.AggregateRow]) -> q.AggregateRow:
    """The one row the total query would return (SQL returns one row for an aggregate without
    GROUP BY, even over no rows)."""
    rows = list(series_rows)
    measures: dict[str, float | None] = {}
    for measure in query.measures:
        present = [
            value for row in rows if (value := row.measures.get(measure.measure_id)) is not None
        ]
        if present:
            measures[measure.measure_id] = _COMBINE[measure.function](present)
        else:
            # COUNT over no rows is 0; every other aggregate over no rows is NULL.
            measures[measure.measure_id] = 0.0 if measure.function is _F.COUNT else None
    return q.AggregateRow(
        bucket_start=None,
        dimensions={},
        measures=measures,
        row_count=sum(row.row_count for row in rows),
    )


def total_columns(query: q.AggregateQuery, series: q.AggregateColumns) -> q.AggregateColumns:
    """`total_row` for a series given as columns: the one-row columns of the total query."""
    measures: dict[str, list[float | None]] = {}
    for measure in query.measures:
        present = [
            value for value in series.measures.get(measure.measure_id, ()) if value is not None
        ]
        if present:
            measures[measure.measure_id] = [_COMBINE[measure.function](present)]
        else:
            measures[measure.measure_id] = [0.0 if measure.function is _F.COUNT else None]
    return q.AggregateColumns(
        bucket_starts=(), row_counts=[sum(series.row_counts)], measures=measures
    )
