"""After a demo load through the data service (real catalog, data and calculation services over
real gRPC, a real PostgreSQL and Redis), the distinct counts of the loaded range are settled in
the background in the client's time zone: the first calculation of a distinct-count KPI per day
over the loaded range counts nothing, and answers what counting the rows answers."""

from __future__ import annotations

import asyncio
import datetime
import uuid
import zoneinfo
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.type.v1 import types_pb2

from services.data import settled_plan
from services.demo import settling
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.kitchen import kitchen_services

ZONE = "Europe/Berlin"
BERLIN = zoneinfo.ZoneInfo(ZONE)
# Whole days in the client's zone, long past: every day of the range is settled.
START = datetime.datetime(2026, 3, 2, tzinfo=BERLIN)
END = datetime.datetime(2026, 3, 23, tzinfo=BERLIN)
DAYS = 21
# Active customers per day, revenue per active customer, freight per distinct order shipped.
DISTINCT_KPIS = ("CRM_ACTIVE_CUSTOMERS", "CRM_ARPA", "SCOR_FREIGHT_COST_PER_ORDER")

Span = tuple[datetime.datetime, datetime.datetime]


@dataclass
class Services:
    data: data_pb2_grpc.DataInternalServiceStub
    calculation: calculation_pb2_grpc.CalculationServiceStub
    pool: asyncpg.Pool


@pytest.fixture
async def services(migrated_db: str, redis_url: str) -> AsyncIterator[Services]:
    admin = local_tokens().admin()
    async with (
        asyncpg.create_pool(migrated_db, min_size=1, max_size=2) as pool,
        kitchen_services(migrated_db, redis_url) as running,
        channel_with(running.data.address, admin) as data_channel,
        channel_with(running.calculation.address, admin) as calculation_channel,
    ):
        yield Services(
            data_pb2_grpc.DataInternalServiceStub(data_channel),
            calculation_pb2_grpc.CalculationServiceStub(calculation_channel),
            pool,
        )


@pytest.fixture
def settlings(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.Task[settling.Settled | None]]:
    """The settlings the data service starts (it runs in this process)."""
    started: list[asyncio.Task[settling.Settled | None]] = []
    original = settling.DistinctCountSettler.settle_in_background

    def recorded(
        self: settling.DistinctCountSettler, *args: Any
    ) -> asyncio.Task[settling.Settled | None]:
        task = original(self, *args)
        started.append(task)
        return task

    monkeypatch.setattr(settling.DistinctCountSettler, "settle_in_background", recorded)
    return started


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Span]]:
    """The spans of time reads counted distinct values of from the rows."""
    spans: list[Span] = []
    original = settled_plan.runs

    def runs(*args: Any) -> list[Span]:
        found: list[Span] = original(*args)
        spans.extend(found)
        return found

    monkeypatch.setattr(settled_plan, "runs", runs)
    yield spans


def time_range(start: datetime.datetime, end: datetime.datetime) -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(start)
    message.end.FromDatetime(end)
    return message


async def per_day(services: Services, client: str, code: str) -> list[tuple[Any, ...]]:
    reply = await services.calculation.Calculate(
        calculation_pb2.CalculateRequest(
            kpi_code=code,
            client_id=client,
            time_range=time_range(START, END),
            period=types_pb2.PERIOD_DAY,
            time_zone=ZONE,
            bypass_cache=True,
        ),
        timeout=60,
    )
    result = reply.result
    values = [result.total, *result.series]
    return [
        (value.bucket_start.ToDatetime() if value.HasField("bucket_start") else None,
         value.value if value.HasField("value") else None, value.no_value_reason)
        for value in values
    ]


async def test_the_first_read_after_a_load_counts_nothing(
    services: Services,
    settlings: list[asyncio.Task[settling.Settled | None]],
    counted: list[Span],
) -> None:
    client = f"settle-{uuid.uuid4().hex[:8]}"
    await services.pool.execute(
        "INSERT INTO config.clients (client_id, name, time_zone) VALUES ($1, $1, $2)",
        client, ZONE,
    )
    request = data_pb2.GenerateDemoRowsRequest(
        client_id=client, time_range=time_range(START, END), rows_per_day=30, seed=5
    )
    loaded = await services.data.GenerateDemoRows(request, timeout=120)
    assert loaded.total_row_count > 0
    # The load answered before settling ended; it settles in the client's zone.
    (settlement,) = settlings
    settled = await asyncio.wait_for(settlement, 60)
    assert settled is not None and settled.time_zone == ZONE
    assert {"ORDER", "SHIPMENT"} <= set(settled.measures)
    kept = {
        (record["object_model_code"], record["time_zone"], record["period"]): record["buckets"]
        for record in await services.pool.fetch(
            "SELECT object_model_code, time_zone, period, count(*) AS buckets"
            " FROM analytics.settled_distinct_counts WHERE client_id = $1 GROUP BY 1, 2, 3",
            client,
        )
    }
    # Every day of the range, and the total over it (kept without a zone), of both models.
    for model in ("ORDER", "SHIPMENT"):
        assert kept[(model, ZONE, "day")] == DAYS
        assert kept[(model, "", "range")] == 1

    counted.clear()
    first = {code: await per_day(services, client, code) for code in DISTINCT_KPIS}
    assert counted == []
    assert all(
        any(value is not None for _, value, _ in series[1:]) for series in first.values()
    )

    # The same counted from the rows (nothing kept): the same answers.
    await services.pool.execute(
        "DELETE FROM analytics.settled_distinct_counts WHERE client_id = $1", client
    )
    plain = {code: await per_day(services, client, code) for code in DISTINCT_KPIS}
    assert counted, "reading without kept counts counts the rows"
    assert first == plain


async def test_a_failed_settling_fails_no_load(
    services: Services,
    settlings: list[asyncio.Task[settling.Settled | None]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(pool: asyncpg.Pool, client_id: str) -> str:
        raise ConnectionError("the database went away")

    monkeypatch.setattr(settling, "client_time_zone", broken)
    client = f"settle-{uuid.uuid4().hex[:8]}"
    request = data_pb2.GenerateDemoRowsRequest(
        client_id=client, time_range=time_range(START, START + datetime.timedelta(days=3)),
        rows_per_day=5, seed=5,
    )
    loaded = await services.data.GenerateDemoRows(request, timeout=120)
    assert loaded.total_row_count > 0
    (settlement,) = settlings
    assert await asyncio.wait_for(settlement, 60) is None
