"""Columnar aggregate results cross the wire column by column and come back as the same values
(measures as floats, NULLs kept apart from zeros); their row form equals the row answer, and a
total derived from columns equals the one derived from rows."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from analytics.data.v1 import data_pb2

from services.aggregates import columnar_wire, columns, wire
from services.aggregates import query as q
from services.data.derived_totals import total_columns, total_row
from services.errors import InvalidArgument

UTC = datetime.UTC
START = datetime.datetime(2024, 3, 1, tzinfo=UTC)
END = datetime.datetime(2024, 4, 1, tzinfo=UTC)
F = q.AggregateFunction
MEASURES = (
    q.Measure("rows", F.COUNT),
    q.Measure("sum", F.SUM, q.FieldRef("v")),
    q.Measure("lo", F.MIN, q.FieldRef("v")),
)
SERIES = q.AggregateQuery(
    "series",
    "ORDER",
    q.TimeRange(START, END),
    MEASURES,
    bucket=q.Period.DAY,
    group_by=(q.Dimension("region", q.FieldRef("region")),),
)
TOTAL = dataclasses.replace(SERIES, query_id="total", bucket=None, group_by=())
DAY = 86_400_000_000
SERIES_COLUMNS = q.AggregateColumns(
    bucket_starts=[columns.micros(START), columns.micros(START) + DAY, columns.micros(START) + 3],
    row_counts=[3, 1, 2],
    measures={"rows": [3.0, 0.0, 2.0], "sum": [1.5, None, -0.0], "lo": [None, None, None]},
    dimensions={"region": ["EU", None, datetime.date(2024, 3, 2)]},
)


def round_trip(result: q.ColumnarResult, query: q.AggregateQuery) -> tuple[q.ColumnarResult, ...]:
    response = columnar_wire.response_message([result], datetime.timedelta(milliseconds=3))
    parsed = data_pb2.QueryAggregatesResponse.FromString(response.SerializeToString())
    assert not parsed.results[0].rows
    return columnar_wire.response_value(parsed, [query])


def test_columns_round_trip_with_nulls_dimensions_and_labels() -> None:
    result = q.ColumnarResult(
        "series", SERIES_COLUMNS, 42, datetime.datetime(2024, 3, 31, tzinfo=UTC), True, True
    )
    assert round_trip(result, SERIES) == (result,)


def test_a_column_without_nulls_sends_no_mask_and_ints_arrive_as_floats() -> None:
    counted = q.AggregateColumns([], [5], {"rows": [5], "sum": [2.5], "lo": [0.0]})
    message = columnar_wire.columns_message(counted)
    assert [list(column.nulls) for column in message.measures] == [[], [], []]
    (back,) = round_trip(q.ColumnarResult("total", counted), TOTAL)
    assert back.columns.measures == {"rows": [5.0], "sum": [2.5], "lo": [0.0]}
    assert isinstance(back.columns.measures["rows"][0], float)
    assert back.columns.bucket_starts == []


def test_the_request_asks_for_columns() -> None:
    request = q.AggregateRequest("acme", (SERIES,))
    assert wire.request_message(request, columnar=True).columnar
    assert not wire.request_message(request).columnar


def test_ragged_columns_and_rows_instead_of_columns_are_refused() -> None:
    message = columnar_wire.result_message(q.ColumnarResult("series", SERIES_COLUMNS))
    del message.columns.measures[0].values[:1]
    with pytest.raises(InvalidArgument, match="measures"):
        columnar_wire.result_value(message, SERIES, "results[0]")
    rows = data_pb2.AggregateResult(rows=[data_pb2.AggregateRow(row_count=1)])
    with pytest.raises(InvalidArgument, match="rows"):
        columnar_wire.result_value(rows, SERIES, "results[0]")


def test_row_form_of_columns_is_the_row_answer() -> None:
    as_rows = columns.rows(SERIES_COLUMNS)
    no_values = {"rows": 0.0, "sum": None, "lo": None}
    day_two = START + datetime.timedelta(days=1)
    assert as_rows[1] == q.AggregateRow(day_two, {"region": None}, no_values, 1)
    assert as_rows[2].bucket_start == START + datetime.timedelta(microseconds=3)
    # Through the row contract and back, the same rows.
    result = q.AggregateResult("series", as_rows)
    message = wire.result_message(result, SERIES)
    assert wire.result_value(message, SERIES, "results[0]") == result


def test_a_total_derived_from_columns_equals_the_one_derived_from_rows() -> None:
    empty = q.AggregateColumns([], [], {m.measure_id: [] for m in MEASURES})
    for series in (SERIES_COLUMNS, empty):
        derived = total_columns(TOTAL, series)
        expected = total_row(TOTAL, columns.rows(series))
        assert columns.rows(derived) == (expected,)
