"""Conversion between columnar aggregate results (query.ColumnarResult) and `analytics.data.v1`.

The companion of wire.py for answers asked for with `QueryAggregatesRequest.columnar`: each
column goes into (or comes out of) a packed repeated field in one call, so neither side builds a
message or a dict per row. Measures cross as doubles: the calculator computes in floats anyway
(the row form's NUMERIC strings became floats there too), and a caller needing exact NUMERIC
values asks for rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from analytics.data.v1 import data_pb2
from google.protobuf import duration_pb2

from services.aggregates import query as q
from services.aggregates.wire import (
    scalar_message,
    scalar_value,
    set_timestamp,
    timestamp_value,
)
from services.errors import InvalidArgument


def columns_message(columns: q.AggregateColumns) -> data_pb2.AggregateColumns:
    message = data_pb2.AggregateColumns()
    _fill_columns(message, columns)
    return message


def _fill_columns(message: data_pb2.AggregateColumns, columns: q.AggregateColumns) -> None:
    message.bucket_start_micros.extend(columns.bucket_starts)
    message.row_counts.extend(columns.row_counts)
    for measure_id, values in columns.measures.items():
        column = message.measures.add(measure_id=measure_id)
        if None in values:
            column.nulls.extend([value is None for value in values])
            column.values.extend([0.0 if value is None else value for value in values])
        else:
            column.values.extend(values)  # type: ignore[arg-type]  # no None left
    for name, scalars in columns.dimensions.items():
        message.dimensions.add(name=name, values=[scalar_message(value) for value in scalars])


def columns_value(
    message: data_pb2.AggregateColumns, bucketed: bool, field: str
) -> q.AggregateColumns:
    count = len(message.row_counts)
    starts = list(message.bucket_start_micros) if bucketed else []
    if bucketed and len(starts) != count:
        raise InvalidArgument.for_field(
            f"{field}.bucket_start_micros", f"{len(starts)} entries for {count} rows"
        )
    measures: dict[str, list[float | None]] = {}
    for index, column in enumerate(message.measures):
        values: list[float | None] = list(column.values)
        nulls = column.nulls
        if len(values) != count or (nulls and len(nulls) != count):
            raise InvalidArgument.for_field(
                f"{field}.measures[{index}]", f"a column of {count} rows expected"
            )
        if nulls:
            values = [None if null else value for value, null in zip(values, nulls, strict=True)]
        measures[column.measure_id] = values
    dimensions = {
        column.name: [
            scalar_value(value, f"{field}.dimensions[{index}].values[{row}]")
            for row, value in enumerate(column.values)
        ]
        for index, column in enumerate(message.dimensions)
    }
    return q.AggregateColumns(starts, list(message.row_counts), measures, dimensions)


def result_message(result: q.ColumnarResult) -> data_pb2.AggregateResult:
    message = data_pb2.AggregateResult()
    _fill_result(message, result)
    return message


def _fill_result(message: data_pb2.AggregateResult, result: q.ColumnarResult) -> None:
    """Writes `result` into an empty `message` in place: built apart and then added, each
    result's columns were copied twice more on their way into the response."""
    message.query_id = result.query_id
    message.columns.SetInParent()  # present even when empty, as the contract has it
    _fill_columns(message.columns, result.columns)
    message.truncated = result.truncated
    message.used_rollups = result.used_rollups
    message.data_version = result.data_version
    if result.watermark is not None:
        set_timestamp(message.watermark, result.watermark)


def result_value(
    message: data_pb2.AggregateResult, query: q.AggregateQuery, field: str
) -> q.ColumnarResult:
    if message.rows:
        raise InvalidArgument.for_field(f"{field}.rows", "columns were asked for, rows came")
    return q.ColumnarResult(
        query_id=message.query_id,
        columns=columns_value(message.columns, query.bucket is not None, f"{field}.columns"),
        data_version=message.data_version,
        watermark=timestamp_value(message.watermark) if message.HasField("watermark") else None,
        used_rollups=message.used_rollups,
        truncated=message.truncated,
    )


def response_message(
    results: Sequence[q.ColumnarResult], elapsed: datetime.timedelta
) -> data_pb2.QueryAggregatesResponse:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(elapsed)
    message = data_pb2.QueryAggregatesResponse(elapsed=duration)
    for result in results:
        _fill_result(message.results.add(), result)
    return message


def response_value(
    message: data_pb2.QueryAggregatesResponse, queries: Sequence[q.AggregateQuery]
) -> tuple[q.ColumnarResult, ...]:
    """Results in request order; `queries` are the ones sent (they say which are bucketed)."""
    if len(message.results) != len(queries):
        raise InvalidArgument.for_field(
            "results", f"{len(message.results)} results for {len(queries)} queries"
        )
    return tuple(
        result_value(result, query, f"results[{index}]")
        for index, (result, query) in enumerate(zip(message.results, queries, strict=True))
    )
