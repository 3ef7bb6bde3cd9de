"""The columnar aggregate answers of one calculation, aligned on each KPI's buckets.

A KPI's series has a bucket wherever any of its object models has a row; an object model without
a row there contributes what its measures are worth over no rows (counts 0, the rest no value).
A frame holds that alignment for one set of object models (and one group), and every KPI over the
same models shares it: the union of buckets is computed once, and each measure column is aligned
once, however many KPIs read it.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence

from services.aggregates import query
from services.calculation.formula.column_values import Column, measure_column
from services.calculation.formula.queries import value_without_rows
from services.calculation.results import BucketAxis

NULL_DIMENSION = "(none)"

GroupKey = tuple[tuple[str, str], ...]
MeasureValues = dict[str, float | None]


def dimension_text(value: query.Scalar) -> str:
    if value is None:
        return NULL_DIMENSION
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def _group_keys(columns: query.AggregateColumns) -> list[GroupKey]:
    """Each row's group: its (dimension, text) pairs ordered by dimension name."""
    names = sorted(columns.dimensions)
    texts = [[dimension_text(value) for value in columns.dimensions[name]] for name in names]
    return (
        [tuple(zip(names, row, strict=True)) for row in zip(*texts, strict=True)]
        if names
        else [()] * len(columns)
    )


class _ModelRows:
    """One object model's rows in a frame: which of its rows (None: all), and for each bucket of
    the axis the row there (None: the axis equals the model's buckets)."""

    __slots__ = ("columns", "rows", "at_bucket")

    def __init__(
        self,
        columns: query.AggregateColumns | None,
        rows: list[int] | None,
        at_bucket: list[int | None] | None,
    ) -> None:
        self.columns = columns
        self.rows = rows
        self.at_bucket = at_bucket

    def aligned(self, measure: query.Measure, length: int) -> list[float | None]:
        default = value_without_rows(measure)
        columns = self.columns
        if columns is None or len(columns) == 0 or (self.rows is not None and not self.rows):
            return [default] * length
        values = columns.measures.get(measure.measure_id)
        if values is None:
            values = [None] * len(columns)
        if self.rows is not None:
            values = [values[row] for row in self.rows]
        if self.at_bucket is None:
            return list(values)
        return [default if row is None else values[row] for row in self.at_bucket]


class SeriesFrame:
    """The series of a set of object models (and group) on their common axis of buckets."""

    def __init__(self, axis: BucketAxis, models: Mapping[str, _ModelRows]) -> None:
        self.axis = axis
        self._models = models
        self._aligned: dict[tuple[str, str], Column] = {}
        self._days: list[float] | None = None

    def column(self, model: str, measure: query.Measure) -> Column:
        key = (model, measure.measure_id)
        found = self._aligned.get(key)
        if found is None:
            rows = self._models.get(model) or _ModelRows(None, None, None)
            found = self._aligned[key] = measure_column(rows.aligned(measure, len(self.axis)))
        return found

    def days(self, compute: Callable[[BucketAxis], list[float]]) -> list[float]:
        if self._days is None:
            self._days = compute(self.axis)
        return self._days

    def inputs(
        self,
        measures: Mapping[str, tuple[query.Measure, ...]],
        days: Callable[[BucketAxis], list[float]],
    ) -> KpiInputs:
        return KpiInputs(self, measures, days)


class KpiInputs:
    """A frame as one KPI's expression reads it (SeriesInputs)."""

    def __init__(
        self,
        frame: SeriesFrame,
        measures: Mapping[str, tuple[query.Measure, ...]],
        days: Callable[[BucketAxis], list[float]],
    ) -> None:
        self._frame = frame
        self._days = days
        # As the per-point evaluation reads them: a later object model's measure of the same id
        # wins.
        self._sources = {
            measure.measure_id: (model, measure)
            for model, model_measures in measures.items()
            for measure in model_measures
        }

    def __len__(self) -> int:
        return len(self._frame.axis)

    def measure(self, measure_id: str) -> Column:
        source = self._sources.get(measure_id)
        if source is None:
            return measure_column([None] * len(self))
        return self._frame.column(*source)

    def period_days(self) -> Sequence[float]:
        return self._frame.days(self._days)


class AnswerColumns:
    """The columnar results of one calculation, by variant (series, total, …) and object model,
    with the frames built from them."""

    def __init__(self, results: Sequence[query.ColumnarResult]) -> None:
        self._by_query = {result.query_id: result.columns for result in results}
        self._frames: dict[tuple[str, tuple[str, ...], GroupKey | None], SeriesFrame] = {}
        self._groups: dict[tuple[str, str], dict[GroupKey, list[int]]] = {}

    def columns(self, variant: str, model: str) -> query.AggregateColumns | None:
        return self._by_query.get(f"{variant}:{model}")

    def groups(self, variant: str, model: str) -> dict[GroupKey, list[int]]:
        """Row positions of each group, in row order."""
        key = (variant, model)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = {}
            columns = self.columns(variant, model)
            if columns is not None:
                for row, group in enumerate(_group_keys(columns)):
                    found.setdefault(group, []).append(row)
        return found

    def first_row(self, variant: str, model: str) -> MeasureValues | None:
        """The measures of the model's first row (a total's only one); None without rows."""
        columns = self.columns(variant, model)
        if columns is None or len(columns) == 0:
            return None
        return {name: values[0] for name, values in columns.measures.items()}

    def group_rows(self, variant: str, model: str) -> dict[GroupKey, MeasureValues]:
        """Each group's measures (its last row's, should a group have several)."""
        columns = self.columns(variant, model)
        if columns is None:
            return {}
        return {
            group: {name: values[rows[-1]] for name, values in columns.measures.items()}
            for group, rows in self.groups(variant, model).items()
        }

    def frame(
        self, variant: str, models: Sequence[str], group: GroupKey | None = None
    ) -> SeriesFrame:
        key = (variant, tuple(sorted(models)), group)
        found = self._frames.get(key)
        if found is None:
            found = self._frames[key] = self._build(variant, key[1], group)
        return found

    def _build(self, variant: str, models: tuple[str, ...], group: GroupKey | None) -> SeriesFrame:
        selected: dict[str, tuple[query.AggregateColumns | None, list[int] | None]] = {}
        starts: dict[str, Sequence[int]] = {}
        for model in models:
            columns = self.columns(variant, model)
            rows = None if group is None else self.groups(variant, model).get(group, [])
            selected[model] = (columns, rows)
            if columns is None:
                starts[model] = []
            elif rows is None:
                starts[model] = columns.bucket_starts
            else:
                starts[model] = [columns.bucket_starts[row] for row in rows]
        axis_starts = sorted(set().union(*starts.values()))
        axis = BucketAxis(axis_starts)
        rows_by_model: dict[str, _ModelRows] = {}
        for model, (columns, rows) in selected.items():
            model_starts = starts[model]
            if list(model_starts) == axis_starts:
                at_bucket = None
            else:
                where = dict(zip(model_starts, range(len(model_starts)), strict=True))
                at_bucket = [where.get(start) for start in axis_starts]
            rows_by_model[model] = _ModelRows(columns, rows, at_bucket)
        return SeriesFrame(axis, rows_by_model)
