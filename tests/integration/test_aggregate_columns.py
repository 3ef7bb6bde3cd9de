"""The columnar answer of the data service is the row answer, column by column: read from
PostgreSQL by the reader and through the gRPC service, with buckets, groups, time zones, NULL
measures and totals derived from series."""

from __future__ import annotations

import asyncio
import dataclasses
import math

import grpc
import pytest
from analytics.data.v1 import data_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.aggregates import columnar_wire, columns, wire
from services.aggregates import query as q
from services.data.app import DataSettings, build
from tests.fixtures.grpc_servers import running_service
from tests.integration.test_aggregates import (
    NEW_YORK,
    ROLLUP_QUERIES,
    Data,
    count,
    data,  # noqa: F401  (the fixture, shared with the row tests)
    eq,
    f,
    query,
    read_path,  # noqa: F401  (every test both ways, as the row tests)
)

F = q.AggregateFunction
MIXED = query(
    count(),
    q.Measure("s", F.SUM, f("order_value")),
    q.Measure("lo", F.MIN, f("order_value"), eq(f("channel"), "no-such-channel")),
    q.Measure("avg", F.AVG, f("order_value")),
    q.Measure("dhl", F.COUNT, filter=eq(f("carrier", "shipments"), "DHL")),
    bucket=q.Period.DAY,
)
# Asked with MIXED: a total of counts, sums and minima is derived from MIXED's rows.
DERIVED_TOTAL = dataclasses.replace(
    MIXED,
    query_id="total",
    bucket=None,
    measures=tuple(m for m in MIXED.measures if m.function is not F.AVG),
)
DERIVED_SERIES = dataclasses.replace(DERIVED_TOTAL, query_id="series", bucket=q.Period.DAY)


def same_rows(got: q.AggregateColumns, expected: tuple[q.AggregateRow, ...]) -> None:
    assert len(got) == len(expected)
    for row, want in zip(columns.rows(got), expected, strict=True):
        assert (row.bucket_start, row.dimensions, row.row_count) == (
            want.bucket_start,
            want.dimensions,
            want.row_count,
        )
        assert row.measures.keys() == want.measures.keys()
        for name, value in row.measures.items():
            wanted = want.measures[name]
            assert (value is None) == (wanted is None), name
            if value is not None and wanted is not None:
                assert math.isclose(value, wanted, rel_tol=1e-12), name


@pytest.mark.parametrize("time_zone", ["UTC", NEW_YORK])
async def test_columns_equal_rows_for_every_query_shape(data: Data, time_zone: str) -> None:  # noqa: F811
    shapes = (*ROLLUP_QUERIES, MIXED)
    request = q.AggregateRequest(
        data.client,
        tuple(dataclasses.replace(s, query_id=str(i)) for i, s in enumerate(shapes)),
        time_zone,
    )
    reader = data.reader()
    as_rows = await reader.query(request)
    as_columns = await reader.query_columns(request)
    for row_result, column_result in zip(as_rows, as_columns, strict=True):
        assert column_result.query_id == row_result.query_id
        assert (
            column_result.data_version,
            column_result.watermark,
            column_result.used_rollups,
            column_result.truncated,
        ) == (
            row_result.data_version,
            row_result.watermark,
            row_result.used_rollups,
            row_result.truncated,
        )
        same_rows(column_result.columns, row_result.rows)


async def test_a_total_derived_from_a_series_is_the_same_in_columns(data: Data) -> None:  # noqa: F811
    request = q.AggregateRequest(data.client, (DERIVED_SERIES, DERIVED_TOTAL))
    reader = data.reader()
    _, row_total = await reader.query(request)
    _, column_total = await reader.query_columns(request)
    same_rows(column_total.columns, row_total.rows)
    assert column_total.columns.measures["lo"] == [None]


async def test_columns_over_grpc(data: Data, migrated_db: str, redis_url: str) -> None:  # noqa: F811
    settings = DataSettings(
        service_name="data",
        listen="127.0.0.1:0",
        database_url=migrated_db,
        redis_url=redis_url,
        dependency_check_seconds=0.1,
    )
    queries = (
        MIXED,
        dataclasses.replace(MIXED, query_id="g", group_by=(q.Dimension("channel", f("channel")),)),
        DERIVED_TOTAL,
    )
    request = q.AggregateRequest(data.client, queries, NEW_YORK)
    expected = await data.reader().query(request)
    async with running_service(build, settings) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            for _ in range(100):
                if (
                    await health.Check(health_pb2.HealthCheckRequest())
                ).status == health_pb2.HealthCheckResponse.SERVING:
                    break
                await asyncio.sleep(0.05)
            stub = data_pb2_grpc.DataInternalServiceStub(channel)
            reply = await stub.QueryAggregates(
                wire.request_message(request, columnar=True), timeout=10
            )
            assert all(not result.rows for result in reply.results)
            got = columnar_wire.response_value(reply, queries)
            for result, want in zip(got, expected, strict=True):
                same_rows(result.columns, want.rows)
            # The row form still answers the callers that ask for it.
            rows_reply = await stub.QueryAggregates(wire.request_message(request), timeout=10)
            assert wire.response_value(rows_reply, queries) == expected
