"""Totals derived from a series' rows: only when every measure combines across buckets, and
equal to what the total statement returns."""

from __future__ import annotations

import dataclasses
import datetime

from services.aggregates import query as q
from services.data.derived_totals import derivable_totals, total_row

UTC = datetime.UTC
SPAN = q.TimeRange(
    datetime.datetime(2026, 9, 1, tzinfo=UTC), datetime.datetime(2026, 10, 1, tzinfo=UTC)
)
F = q.AggregateFunction
COMBINING = (
    q.Measure("n", F.COUNT),
    q.Measure("s", F.SUM, q.FieldRef("order_value")),
    q.Measure("lo", F.MIN, q.FieldRef("order_value")),
    q.Measure("hi", F.MAX, q.FieldRef("order_value")),
)
TOTAL = q.AggregateQuery("total:ORDER", "ORDER", SPAN, COMBINING)
SERIES = dataclasses.replace(TOTAL, query_id="series:ORDER", bucket=q.Period.DAY)


def test_a_total_is_derived_from_the_same_query_bucketed() -> None:
    assert derivable_totals([SERIES, TOTAL], [None, None]) == {1: 0}


def test_totals_that_do_not_combine_or_differ_are_read() -> None:
    average = (*COMBINING, q.Measure("a", F.AVG, q.FieldRef("order_value")))
    distinct = (q.Measure("d", F.COUNT_DISTINCT, q.FieldRef("customer_id")),)
    for measures in (average, distinct):
        total = dataclasses.replace(TOTAL, measures=measures)
        series = dataclasses.replace(SERIES, measures=measures)
        assert derivable_totals([series, total], [None, None]) == {}
    other_range = dataclasses.replace(
        TOTAL, time_range=q.TimeRange(SPAN.start, SPAN.end + datetime.timedelta(days=1))
    )
    assert derivable_totals([SERIES, other_range], [None, None]) == {}
    filtered = dataclasses.replace(
        TOTAL, row_filter=q.Compare(q.FieldRef("region"), q.Comparator.EQ, q.Literal("emea"))
    )
    assert derivable_totals([SERIES, filtered], [None, None]) == {}
    grouped = (q.Dimension("region", q.FieldRef("region")),)
    assert (
        derivable_totals(
            [
                dataclasses.replace(SERIES, group_by=grouped),
                dataclasses.replace(TOTAL, group_by=grouped),
            ],
            [None, None],
        )
        == {}
    )
    assert derivable_totals([SERIES, TOTAL], ["raw rows only", None]) == {}


def row(day: int, n: int, s: float | None, lo: float | None, hi: float | None) -> q.AggregateRow:
    return q.AggregateRow(
        SPAN.start + datetime.timedelta(days=day), {}, {"n": n, "s": s, "lo": lo, "hi": hi}, n
    )


def test_the_total_row_combines_the_buckets() -> None:
    rows = [row(0, 2, 10.5, 1.0, 9.5), row(1, 0, None, None, None), row(2, 3, 0.25, -4.0, 3.0)]
    total = total_row(TOTAL, rows)
    assert total.bucket_start is None and total.dimensions == {}
    assert total.measures == {"n": 5, "s": 10.75, "lo": -4.0, "hi": 9.5}
    assert total.row_count == 5


def test_the_total_over_no_rows_is_what_sql_returns() -> None:
    total = total_row(TOTAL, [])
    assert total.measures == {"n": 0, "s": None, "lo": None, "hi": None}
    assert total.row_count == 0
