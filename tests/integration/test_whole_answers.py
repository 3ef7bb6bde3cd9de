"""Whole answers: a dashboard or batch asked again is answered whole from the cache, marked as
cached and equal to the computed one, and never after new data has landed in what it reads."""

from __future__ import annotations

import datetime

from analytics.calculation.v1 import calculation_pb2
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2

from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.kitchen import CLIENT, START, Kitchen

# A window no other test asks about, so the first answer below is computed.
WINDOW_START = START + datetime.timedelta(days=31)
WINDOW_END = WINDOW_START + datetime.timedelta(days=6)
CODES = ["SALES_DEALS_WON", "SCOR_POF", "SALES_REVENUE"]


def window() -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(WINDOW_START)
    message.end.FromDatetime(WINDOW_END)
    return message


def dashboard(**changes: object) -> calculation_pb2.CalculateDashboardRequest:
    fields: dict[str, object] = {
        "kpi_codes": CODES,
        "client_id": CLIENT,
        "time_range": window(),
        "period": types_pb2.PERIOD_HOUR,
        "dashboard_id": "whole",
    }
    fields.update(changes)
    return calculation_pb2.CalculateDashboardRequest(**fields)  # type: ignore[arg-type]


def without_provenance(result: calculation_pb2.KpiResult) -> calculation_pb2.KpiResult:
    copy = calculation_pb2.KpiResult()
    copy.CopyFrom(result)
    copy.from_cache = False
    return copy


async def land_a_won_deal(kitchen: Kitchen) -> None:
    won = struct_pb2.Struct()
    won.update(
        {
            "opportunity_id": "OPP-WHOLE-ANSWER-1",
            "customer_id": "CUST-00001",
            "owner_id": "REP-001",
            "stage": "closed_won",
            "amount": 777.0,
            "source": "inbound",
            "product_line": "platform",
            "created_at": (WINDOW_START + datetime.timedelta(days=1)).isoformat(),
            "close_date": (WINDOW_START + datetime.timedelta(days=2)).date().isoformat(),
        }
    )
    async with channel_with(kitchen.data_address, local_tokens().admin()) as channel:
        await data_pb2_grpc.DataServiceStub(channel).IngestRows(
            data_pb2.IngestRowsRequest(
                object_model_code="OPPORTUNITY", client_id=CLIENT, rows=[won]
            )
        )


async def test_a_repeated_dashboard_is_answered_whole_until_new_data_lands(
    kitchen: Kitchen,
) -> None:
    first = await kitchen.stub.CalculateDashboard(dashboard(), timeout=60)
    assert not first.errors and [r.kpi_code for r in first.results] == CODES
    assert not any(r.from_cache for r in first.results)

    again = await kitchen.stub.CalculateDashboard(dashboard(dashboard_id="again"), timeout=60)
    assert all(r.from_cache for r in again.results)
    assert again.stats.cache_hits == again.stats.kpi_count == len(CODES)
    assert again.stats.scan_count == 0 and again.dashboard_id == "again"
    assert [without_provenance(r) for r in again.results] == list(first.results)

    # The same request as a batch: its results go in a field of its own, and are the same.
    batch = await kitchen.stub.CalculateBatch(
        calculation_pb2.CalculateBatchRequest(
            kpi_codes=CODES, client_id=CLIENT, time_range=window(), period=types_pb2.PERIOD_HOUR
        ),
        timeout=60,
    )
    assert [without_provenance(r) for r in batch.results] == list(first.results)

    await land_a_won_deal(kitchen)
    after = await kitchen.stub.CalculateDashboard(dashboard(), timeout=60)
    by_code = {r.kpi_code: r for r in after.results}
    before = {r.kpi_code: r for r in first.results}
    # The KPIs over opportunities are computed again and include the deal ...
    assert not by_code["SALES_DEALS_WON"].from_cache
    assert by_code["SALES_DEALS_WON"].total.value == before["SALES_DEALS_WON"].total.value + 1
    assert not by_code["SALES_REVENUE"].from_cache
    # ... while the one over orders, whose data did not move, still comes from the cache.
    assert by_code["SCOR_POF"].from_cache
    assert after.stats.cache_hits == 1


async def test_an_answer_with_errors_is_never_kept_whole(kitchen: Kitchen) -> None:
    request = dashboard(kpi_codes=["SALES_DEALS_WON", "NOT_A_KPI"], period=types_pb2.PERIOD_DAY)
    await kitchen.stub.CalculateDashboard(request, timeout=60)
    again = await kitchen.stub.CalculateDashboard(request, timeout=60)
    assert [e.kpi_code for e in again.errors] == ["NOT_A_KPI"]
    # The valid KPI is served from its own cache entry; the error is worked out again.
    assert [r.from_cache for r in again.results] == [True]
    assert again.stats.kpi_count == 2 and again.stats.cache_hits == 1
