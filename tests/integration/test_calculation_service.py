"""The calculation service's on-demand RPCs against the real kitchen: bad input gets the right
status, the cache never serves an answer older than the data, dashboards share scans,
comparisons and exports work."""

from __future__ import annotations

import csv
import datetime
import io

import grpc
import openpyxl
import pytest
from analytics.calculation.v1 import calculation_pb2
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.kitchen import CLIENT, END, START, Kitchen


def span(start: datetime.datetime, end: datetime.datetime) -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(start)
    message.end.FromDatetime(end)
    return message


def calculate(code: str, **changes: object) -> calculation_pb2.CalculateRequest:
    fields: dict[str, object] = {
        "kpi_code": code,
        "client_id": CLIENT,
        "time_range": span(START, END),
        "period": types_pb2.PERIOD_DAY,
    }
    fields.update(changes)
    return calculation_pb2.CalculateRequest(**fields)  # type: ignore[arg-type]


def violations(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    return [v.field for v in detail.field_violations]


async def test_unknown_kpi_is_not_found(kitchen: Kitchen) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await kitchen.stub.Calculate(calculate("NOPE_KPI"))
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    assert "NOPE_KPI" in (error.value.details() or "")


async def test_end_before_start_is_invalid_with_the_field_named(kitchen: Kitchen) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await kitchen.stub.Calculate(calculate("SCOR_POF", time_range=span(END, START)))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error.value) == ["time_range.end"]


async def test_minutes_over_years_are_refused_up_front(kitchen: Kitchen) -> None:
    years = span(START - datetime.timedelta(days=3 * 365), END)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await kitchen.stub.Calculate(
            calculate("SCOR_POF", time_range=years, period=types_pb2.PERIOD_MINUTE), timeout=5
        )
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most" in (error.value.details() or "")


async def test_unknown_group_by_field_is_invalid(kitchen: Kitchen) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await kitchen.stub.Calculate(calculate("SCOR_POF", group_by=["no_such_field"]))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(error.value) == ["group_by"]


async def test_values_carry_bucket_computed_time_and_watermark(kitchen: Kitchen) -> None:
    reply = await kitchen.stub.Calculate(calculate("SCOR_POF"))
    result = reply.result
    assert result.series and result.total.HasField("value")
    first = result.series[0]
    assert first.bucket_start.ToDatetime(tzinfo=datetime.UTC) >= START
    assert first.computed_at.seconds > 0 and first.watermark.seconds > 0
    assert result.current == result.series[-1]
    assert result.data_version.startswith("ORDER:")
    assert result.direction == types_pb2.DIRECTION_HIGHER_IS_BETTER and result.target == 95


async def test_cache_serves_repeats_and_never_outlives_new_data(kitchen: Kitchen) -> None:
    code = "SALES_DEALS_WON"
    window = span(START, START + datetime.timedelta(days=5))
    first = await kitchen.stub.Calculate(calculate(code, time_range=window))
    again = await kitchen.stub.Calculate(calculate(code, time_range=window))
    assert not first.result.from_cache and again.result.from_cache
    assert again.result.total == first.result.total

    # A new won deal lands inside the cached range.
    won = struct_pb2.Struct()
    won.update(
        {
            "opportunity_id": "OPP-CACHE-TEST-1",
            "customer_id": "CUST-00001",
            "owner_id": "REP-001",
            "stage": "closed_won",
            "amount": 12345.0,
            "source": "inbound",
            "product_line": "platform",
            "created_at": (START + datetime.timedelta(days=1)).isoformat(),
            "close_date": (START + datetime.timedelta(days=2)).date().isoformat(),
        }
    )
    async with channel_with(kitchen.data_address, local_tokens().admin()) as channel:
        await data_pb2_grpc.DataServiceStub(channel).IngestRows(
            data_pb2.IngestRowsRequest(
                object_model_code="OPPORTUNITY", client_id=CLIENT, rows=[won]
            )
        )
    after = await kitchen.stub.Calculate(calculate(code, time_range=window))
    assert not after.result.from_cache
    assert after.result.total.value == first.result.total.value + 1


async def test_a_dashboard_of_every_kpi_scans_each_object_model_once_per_shape(
    kitchen: Kitchen,
) -> None:
    codes = [kpi.code for kpi in kitchen.catalog.kpis]
    assert len(codes) >= 100
    reply = await kitchen.stub.CalculateDashboard(
        calculation_pb2.CalculateDashboardRequest(
            kpi_codes=codes,
            client_id=CLIENT,
            time_range=span(START, END),
            period=types_pb2.PERIOD_DAY,
            bypass_cache=True,
            dashboard_id="ops",
        ),
        timeout=60,
    )
    assert not reply.errors and len(reply.results) == len(codes)
    models = {m for kpi in kitchen.catalog.kpis for m in kpi.required_object_model_codes}
    # One series query and one total query per object model, however many KPIs read it.
    assert reply.stats.scan_count <= 2 * len(models)
    assert reply.dashboard_id == "ops"


async def test_comparison_with_the_previous_period(kitchen: Kitchen) -> None:
    second_month = span(START + datetime.timedelta(days=30), END)
    reply = await kitchen.stub.Calculate(
        calculate(
            "SCOR_ORDERS_PER_DAY",
            time_range=second_month,
            comparison=calculation_pb2.COMPARISON_MODE_PREVIOUS_PERIOD,
        )
    )
    comparison = reply.result.comparison
    assert comparison.previous_time_range.end == second_month.start
    assert comparison.previous_total.HasField("value")
    assert comparison.absolute_change == pytest.approx(
        reply.result.total.value - comparison.previous_total.value
    )


@pytest.mark.parametrize(
    "export_format", [calculation_pb2.EXPORT_FORMAT_CSV, calculation_pb2.EXPORT_FORMAT_XLSX]
)
async def test_exports(kitchen: Kitchen, export_format: int) -> None:
    reply = await kitchen.stub.ExportCalculation(
        calculation_pb2.ExportCalculationRequest(
            kpi_codes=["SCOR_POF", "FIN_DSO"],
            client_id=CLIENT,
            time_range=span(START, END),
            period=types_pb2.PERIOD_WEEK,
            format=export_format,
        )
    )
    if export_format == calculation_pb2.EXPORT_FORMAT_CSV:
        rows = list(csv.reader(io.StringIO(reply.content.decode())))
        assert reply.content_type.startswith("text/csv")
    else:
        sheet = openpyxl.load_workbook(io.BytesIO(reply.content)).active
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert reply.file_name.endswith(".xlsx")
    assert rows[0][0] == "kpi_code"
    assert {row[0] for row in rows[1:]} == {"SCOR_POF", "FIN_DSO"}
    assert reply.row_count == len(rows) - 1


async def test_validate_formula_points_at_the_unknown_field(kitchen: Kitchen) -> None:
    bad = await kitchen.stub.ValidateFormula(
        calculation_pb2.ValidateFormulaRequest(
            formula="count(ORDER where delivery_at <= promised_at) / count(ORDER)"
        )
    )
    assert not bad.valid
    diagnostic = bad.diagnostics[0]
    assert "delivery_at" in diagnostic.message and diagnostic.found == "delivery_at"
    assert (diagnostic.start.line, diagnostic.start.column) == (1, 19)

    good = await kitchen.stub.ValidateFormula(
        calculation_pb2.ValidateFormulaRequest(formula="sum(ORDER.order_value) / count(ORDER)")
    )
    assert good.valid and list(good.object_model_codes) == ["ORDER"]
    assert good.normalized_formula


async def test_a_dashboard_mixing_cached_and_computed_kpis_matches_a_computed_one(
    kitchen: Kitchen,
) -> None:
    window = span(START + datetime.timedelta(days=7), START + datetime.timedelta(days=12))
    await kitchen.stub.Calculate(calculate("SCOR_POF", time_range=window))

    def dashboard(bypass: bool) -> calculation_pb2.CalculateDashboardRequest:
        return calculation_pb2.CalculateDashboardRequest(
            kpi_codes=["SCOR_POF", "NOPE_KPI", "SALES_DEALS_WON"],
            client_id=CLIENT,
            time_range=window,
            period=types_pb2.PERIOD_DAY,
            bypass_cache=bypass,
            dashboard_id="mixed",
        )

    mixed = await kitchen.stub.CalculateDashboard(dashboard(False), timeout=30)
    computed = await kitchen.stub.CalculateDashboard(dashboard(True), timeout=30)
    assert [r.kpi_code for r in mixed.results] == ["SCOR_POF", "SALES_DEALS_WON"]
    assert [r.from_cache for r in mixed.results] == [True, False]
    assert mixed.stats.cache_hits == 1 and mixed.stats.kpi_count == 3
    assert mixed.dashboard_id == "mixed"
    assert [e.kpi_code for e in mixed.errors] == ["NOPE_KPI"]
    assert mixed.errors[0].status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert mixed.errors == computed.errors
    for served, fresh in zip(mixed.results, computed.results, strict=True):
        # Only when it was computed differs: the values and everything else are the same.
        for result in (served, fresh):
            result.from_cache = False
            for value in (result.total, result.current, *result.series):
                value.ClearField("computed_at")
        assert served == fresh
