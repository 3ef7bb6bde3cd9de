"""Series evaluated over aligned columns equal the series evaluated bucket by bucket from rows
(the union of the object models' buckets, a model without a row contributing its measures' value
over no rows), with and without groups."""

from __future__ import annotations

import datetime
import random
import zoneinfo
from collections import defaultdict

from services.aggregates import columns as columns_module
from services.aggregates import query as q
from services.calculation.calculator import axis_days, bucket_days, kpi_series
from services.calculation.formula.compiler import CompiledKpi
from services.calculation.formula.values import (
    Binary,
    Combine,
    CombineMode,
    MeasureValue,
    PeriodDays,
    compile_expression,
)
from services.calculation.results import BucketAxis, Value
from services.calculation.series_frames import AnswerColumns, GroupKey, dimension_text

UTC = datetime.UTC
ZONE = zoneinfo.ZoneInfo("UTC")
START = datetime.datetime(2026, 9, 30, tzinfo=UTC)
SPAN = q.TimeRange(START, START + datetime.timedelta(hours=2))
F = q.AggregateFunction
A = ArithmeticOperator = q.ArithmeticOperator
MEASURES = {
    "ORDER": (q.Measure("orders", F.COUNT), q.Measure("value", F.SUM, q.FieldRef("v"))),
    "SHIPMENT": (q.Measure("late", F.COUNT), q.Measure("days", F.AVG, q.FieldRef("d"))),
}
KPI = CompiledKpi(
    kpi_code="K",
    formula="",
    value=Combine(
        CombineMode.TOTAL,
        (
            Binary(A.DIVIDE, MeasureValue("late"), MeasureValue("orders")),
            Binary(
                A.MULTIPLY,
                Binary(A.SUBTRACT, MeasureValue("value"), MeasureValue("days")),
                PeriodDays(),
            ),
        ),
    ),
    measures=MEASURES,
    referenced_kpi_codes=frozenset(),
)


def random_columns(chance: random.Random, model: str, grouped: bool) -> q.AggregateColumns:
    starts: list[int] = []
    regions: list[q.Scalar] = []
    for minute in range(120):
        for region in ("EU", "US", None) if grouped else (None,):
            if chance.random() < 0.4:
                starts.append(columns_module.micros(START + datetime.timedelta(minutes=minute)))
                regions.append(region)
    measures = {
        m.measure_id: [chance.choice([None, 0.0, 1.0, chance.uniform(-5, 50)]) for _ in starts]
        for m in MEASURES[model]
    }
    return q.AggregateColumns(
        starts,
        [chance.randrange(1, 9) for _ in starts],
        measures,
        {"region": regions} if grouped else {},
    )


def per_bucket_series(
    results: dict[str, q.AggregateColumns], group: GroupKey | None
) -> list[Value]:
    """The series as computed from rows, one bucket at a time."""
    by_bucket: dict[datetime.datetime, dict[str, q.AggregateRow]] = defaultdict(dict)
    for model, found in results.items():
        for row in columns_module.rows(found):
            key = tuple(sorted((n, dimension_text(v)) for n, v in row.dimensions.items()))
            if row.bucket_start is not None and (group is None or key == group):
                by_bucket[row.bucket_start][model] = row
    evaluate = compile_expression(KPI.value)
    series = []
    for bucket in sorted(by_bucket):
        values: dict[str, float | None] = {}
        for model, measures in MEASURES.items():
            row = by_bucket[bucket].get(model)
            for measure in measures:
                if row is None:
                    values[measure.measure_id] = 0.0 if measure.function is F.COUNT else None
                else:
                    values[measure.measure_id] = row.measures.get(measure.measure_id)
        result = evaluate(values, bucket_days(q.Period.MINUTE, bucket, SPAN, ZONE))
        series.append(Value(bucket, result.value, result.reason))
    return series


def test_columns_aligned_on_the_union_of_buckets_match_rows_bucket_by_bucket() -> None:
    chance = random.Random(7)
    for grouped in (False, True):
        for _ in range(20):
            results = {model: random_columns(chance, model, grouped) for model in MEASURES}
            if chance.random() < 0.2:
                del results["SHIPMENT"]  # an object model without any result
            answer = AnswerColumns(
                [q.ColumnarResult(f"series:{model}", found) for model, found in results.items()]
            )
            groups: list[GroupKey | None] = (
                [(("region", "EU"),), (("region", "(none)"),), (("region", "XX"),)]
                if grouped
                else [None]
            )
            for group in groups:
                expected = per_bucket_series(results, group)
                got = kpi_series(KPI, answer, "series", q.Period.MINUTE, SPAN, ZONE, group)
                assert list(got) == expected
                assert got == tuple(expected)


def test_fixed_length_bucket_days_equal_the_calendar_computation() -> None:
    ragged = q.TimeRange(
        START + datetime.timedelta(seconds=17), SPAN.end - datetime.timedelta(seconds=5)
    )
    for period, step in ((q.Period.MINUTE, 60), (q.Period.HOUR, 3600)):
        starts = [
            columns_module.micros(START + datetime.timedelta(seconds=step * n)) for n in range(130)
        ]
        axis = BucketAxis(starts)
        for span in (SPAN, ragged):
            expected = [bucket_days(period, moment, span, ZONE) for moment in axis.moments]
            assert axis_days(period, axis, span, ZONE) == expected
