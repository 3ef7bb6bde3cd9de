"""Series as packed columns against the real kitchen: the same buckets, values and reasons as the
KpiValue form, for a dashboard of every KPI, cached apart from the KpiValue form."""

from __future__ import annotations

import datetime

import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2
from analytics.type.v1 import types_pb2

from services.catalog.catalog_files import load_catalog_files
from tests.fixtures.kitchen import CLIENT, END, Kitchen

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def span(start: datetime.datetime, end: datetime.datetime) -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(start)
    message.end.FromDatetime(end)
    return message


def dashboard(layout: int, bypass: bool) -> calculation_pb2.CalculateDashboardRequest:
    return calculation_pb2.CalculateDashboardRequest(
        kpi_codes=[kpi.code for kpi in load_catalog_files().kpis],
        client_id=CLIENT,
        time_range=span(END - datetime.timedelta(days=3), END),
        period=types_pb2.PERIOD_HOUR,
        bypass_cache=bypass,
        series_layout=layout,  # type: ignore[arg-type]
    )


def as_rows(result: calculation_pb2.KpiResult) -> list[tuple[int, float | None, int]]:
    """(bucket start µs, value or None, reason) per bucket, from either form."""
    if result.HasField("series_columns"):
        columns = result.series_columns
        reasons = list(columns.no_value_reasons) or [0] * len(columns.values)
        assert len(columns.bucket_start_micros) == len(columns.values) == len(reasons)
        return [
            (start, None if reason else value, reason)
            for start, value, reason in zip(
                columns.bucket_start_micros, columns.values, reasons, strict=True
            )
        ]
    return [
        (
            (value.bucket_start.ToDatetime(datetime.UTC) - EPOCH) // datetime.timedelta(
                microseconds=1
            ),
            value.value if value.HasField("value") else None,
            value.no_value_reason,
        )
        for value in result.series
    ]


@pytest.mark.parametrize("bypass", [True, False])
async def test_columns_carry_what_the_values_carry(kitchen: Kitchen, bypass: bool) -> None:
    by_values = await kitchen.stub.CalculateDashboard(
        dashboard(calculation_pb2.SERIES_LAYOUT_VALUES, bypass)
    )
    by_columns = await kitchen.stub.CalculateDashboard(
        dashboard(calculation_pb2.SERIES_LAYOUT_COLUMNS, bypass)
    )
    assert not by_columns.errors and len(by_columns.results) == len(by_values.results)
    gaps = 0
    for values, columns in zip(by_values.results, by_columns.results, strict=True):
        assert columns.kpi_code == values.kpi_code
        assert not columns.series and columns.HasField("series_columns")
        assert as_rows(columns) == as_rows(values), columns.kpi_code
        gaps += sum(1 for _, value, _ in as_rows(columns) if value is None)
        # computed_at and watermark, given once, are those of the result's other values.
        assert columns.series_columns.computed_at == columns.total.computed_at
        assert columns.series_columns.watermark == columns.total.watermark
        if values.series:
            assert columns.series_columns.watermark == values.series[0].watermark
    assert gaps > 0  # the comparison covered buckets without a value too
    if not bypass:
        # Each layout is cached on its own: the second form was not served the first's bytes.
        again = await kitchen.stub.CalculateDashboard(
            dashboard(calculation_pb2.SERIES_LAYOUT_COLUMNS, False)
        )
        assert all(result.from_cache for result in again.results)
        assert all(result.HasField("series_columns") for result in again.results)


async def test_an_unknown_layout_is_refused_with_the_field_named(kitchen: Kitchen) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await kitchen.stub.CalculateDashboard(dashboard(7, True))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "series_layout" in (error.value.details() or "")
