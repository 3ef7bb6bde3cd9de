"""The aggregate path against a real PostgreSQL: hand-inserted rows, answers checked against plain
Python computed over the same rows, rollups against raw rows, limits, and the gRPC surface."""

from __future__ import annotations

import asyncio
import datetime
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
from analytics.data.v1 import data_pb2, data_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.aggregates import query as q
from services.aggregates import wire
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import aggregates, store
from services.data.aggregates import AggregateReader
from services.data.app import DataSettings, build
from services.data.sql_builder import build_statement
from services.errors import InvalidArgument, NotFound, ResourceExhausted
from tests.fixtures.grpc_servers import running_service

UTC = datetime.UTC
NEW_YORK = "America/New_York"
MARCH = q.TimeRange(
    datetime.datetime(2024, 3, 1, tzinfo=UTC), datetime.datetime(2024, 4, 1, tzinfo=UTC)
)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime.datetime:
    return datetime.datetime(2024, month, day, hour, minute, tzinfo=UTC)


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    channel: str
    region: str
    status: str
    order_value: Decimal
    created_at: datetime.datetime
    promised_at: datetime.datetime
    shipped_at: datetime.datetime | None
    delivered_at: datetime.datetime | None
    delivered_in_full: bool | None


# New York switches to daylight time on 10 March 2024 at 07:00 UTC.
ORDERS = [
    Order(
        "o1",
        "c1",
        "web",
        "EU",
        "delivered",
        Decimal("100.00"),
        at(1, 10),
        at(5),
        at(2, 10),
        at(4, 10),
        True,
    ),
    # 23:30 UTC on 1 March is 18:30 in New York: the same day in both zones.
    Order(
        "o2",
        "c1",
        "web",
        "EU",
        "delivered",
        Decimal("50.50"),
        at(1, 23, 30),
        at(3),
        at(1, 23, 30),
        at(4, 23, 30),
        False,
    ),
    # 03:00 UTC on 2 March is still 1 March in New York.
    Order(
        "o3", "c2", "edi", "US", "shipped", Decimal("200.00"), at(2, 3), at(6), at(3, 3), None, None
    ),
    Order(
        "o4",
        "c2",
        "sales_rep",
        "US",
        "cancelled",
        Decimal("0.00"),
        at(5, 12),
        at(9),
        None,
        None,
        None,
    ),
    # 06:30 UTC on 10 March is 01:30 EST; 12:00 UTC is 08:00 EDT.
    Order(
        "o5",
        "c3",
        "marketplace",
        "EU",
        "open",
        Decimal("75.25"),
        at(10, 6, 30),
        at(14),
        None,
        None,
        None,
    ),
    Order(
        "o6",
        "c3",
        "web",
        "APAC",
        "delivered",
        Decimal("20.00"),
        at(10, 12),
        at(12),
        at(10, 18),
        at(11, 12),
        True,
    ),
    # The end of the range is exclusive.
    Order(
        "o7",
        "c1",
        "web",
        "EU",
        "open",
        Decimal("999.00"),
        at(1, month=4),
        at(5, month=4),
        None,
        None,
        None,
    ),
]
CUSTOMERS = {"c1": "enterprise", "c2": "smb", "c3": "smb"}
# order_id, shipment_id, carrier, status, damaged
SHIPMENTS = [
    ("o1", "s1", "DHL", "delivered", False),
    ("o1", "s2", "UPS", "delivered", False),
    ("o3", "s3", "DHL", "in_transit", True),
    ("o6", "s4", "UPS", "delivered", False),
]


@dataclass(frozen=True)
class Data:
    pool: asyncpg.Pool
    models: dict[str, ObjectModel]
    client: str
    other: str

    def reader(self, **options: Any) -> AggregateReader:
        return AggregateReader(self.pool, self.models, **options)

    async def ask(
        self,
        *queries: q.AggregateQuery,
        time_zone: str = "UTC",
        client: str | None = None,
        options: tuple[wire.QueryOptions, ...] = (),
    ) -> tuple[q.AggregateResult, ...]:
        request = q.AggregateRequest(client or self.client, queries, time_zone)
        return await self.reader().query(request, options)

    async def one(self, *measures: q.Measure, **changes: Any) -> dict[str, float | None]:
        """The single row of an unbucketed, ungrouped query over March."""
        (result,) = await self.ask(query(*measures, **changes))
        (row,) = result.rows
        return row.measures


def query(*measures: q.Measure, **changes: Any) -> q.AggregateQuery:
    base = q.AggregateQuery("q", "ORDER", MARCH, measures or (count(),))
    return q.AggregateQuery(**{**base.__dict__, **changes})


def count(measure_id: str = "n", where: q.Filter | None = None) -> q.Measure:
    return q.Measure(measure_id, q.AggregateFunction.COUNT, filter=where)


def f(name: str, *path: str) -> q.FieldRef:
    return q.FieldRef(name, tuple(path))


def eq(ref: q.RowExpression, value: q.Scalar) -> q.Compare:
    return q.Compare(ref, q.Comparator.EQ, q.Literal(value))


async def insert_orders(connection: asyncpg.Connection, client: str, orders: list[Order]) -> None:
    await connection.executemany(
        "INSERT INTO scor_data.orders (client_id, order_id, customer_id, channel, region, status,"
        " order_value, created_at, promised_at, shipped_at, delivered_at, delivered_in_full)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            (
                client,
                o.order_id,
                o.customer_id,
                o.channel,
                o.region,
                o.status,
                o.order_value,
                o.created_at,
                o.promised_at,
                o.shipped_at,
                o.delivered_at,
                o.delivered_in_full,
            )
            for o in orders
        ],
    )


async def fill_order_rollup(connection: asyncpg.Connection, client: str) -> None:
    """The per-minute rollup of the client's orders, computed here from the raw rows."""
    await connection.execute("DELETE FROM scor_data.orders__minute WHERE client_id = $1", client)
    await connection.execute(
        """
        INSERT INTO scor_data.orders__minute (client_id, bucket, channel, status, delivered_in_full,
            delivered_damage_free, documentation_accurate, delivered_on_time, row_count,
            sum__order_value)
        SELECT client_id, date_trunc('minute', created_at), channel, status, delivered_in_full,
               delivered_damage_free, documentation_accurate, delivered_at <= promised_at,
               count(*), coalesce(sum(order_value), 0)
        FROM scor_data.orders WHERE client_id = $1
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        """,
        client,
    )
    # And the hour rollup, summed from those minutes as ingest keeps it.
    await connection.execute("DELETE FROM scor_data.orders__hour WHERE client_id = $1", client)
    await connection.execute(
        """
        INSERT INTO scor_data.orders__hour (client_id, bucket, channel, status, delivered_in_full,
            delivered_damage_free, documentation_accurate, delivered_on_time, row_count,
            sum__order_value)
        SELECT client_id, date_trunc('hour', bucket), channel, status, delivered_in_full,
               delivered_damage_free, documentation_accurate, delivered_on_time,
               sum(row_count), sum(sum__order_value)
        FROM scor_data.orders__minute WHERE client_id = $1
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
        """,
        client,
    )


@pytest.fixture(autouse=True, params=["statement by statement", "in one statement"])
def read_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test both ways: the reader answers short requests in one statement and longer ones
    statement by statement; moving the line makes every answer below check both."""
    longest = datetime.timedelta(days=100_000) if request.param == "in one statement" else None
    monkeypatch.setattr(aggregates, "ONE_STATEMENT_MAX_SPAN", longest or datetime.timedelta(0))
    return str(request.param)


@pytest.fixture(scope="module")
async def data(migrated_db: str) -> AsyncIterator[Data]:
    models = {m.code: m for m in load_catalog_files().object_models}
    client, other = f"agg-{uuid.uuid4().hex[:8]}", f"agg-other-{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(migrated_db, min_size=1, max_size=6)
    async with pool.acquire() as connection:
        await insert_orders(connection, client, ORDERS)
        # The other client reuses the same keys with other values: a missing client_id condition
        # anywhere (main table, join, EXISTS) changes the answers below.
        await insert_orders(
            connection,
            other,
            [
                Order(
                    o.order_id,
                    o.customer_id,
                    "web",
                    "EU",
                    "open",
                    Decimal("1000000"),
                    o.created_at,
                    o.promised_at,
                    None,
                    None,
                    None,
                )
                for o in ORDERS
            ],
        )
        for owner in (client, other):
            await connection.executemany(
                "INSERT INTO crm_data.customers (client_id, customer_id, name, segment, country,"
                " acquisition_channel, acquired_at) VALUES ($1, $2, $3, $4, 'DE', 'organic', $5)",
                [
                    (
                        owner,
                        customer,
                        customer.upper(),
                        segment if owner == client else "consumer",
                        at(1, month=1),
                    )
                    for customer, segment in CUSTOMERS.items()
                ],
            )
        await connection.executemany(
            "INSERT INTO scor_data.shipments (client_id, shipment_id, order_id, carrier, status,"
            " shipped_at, freight_cost, damaged) VALUES ($1, $2, $3, $4, $5, $6, 10, $7)",
            [
                (client, sid, oid, carrier, status, at(3), damaged)
                for oid, sid, carrier, status, damaged in SHIPMENTS
            ]
            + [(other, "s9", "o2", "DHL", "delivered", at(3), True)],
        )
        await fill_order_rollup(connection, client)
        await fill_order_rollup(connection, other)
        await connection.execute(
            "INSERT INTO analytics.data_versions (client_id, object_model_code, version, watermark)"
            " VALUES ($1, 'ORDER', 7, $2)",
            client,
            at(1, month=4),
        )
    try:
        yield Data(pool, models, client, other)
    finally:
        await pool.close()


IN_MARCH = [o for o in ORDERS if MARCH.start <= o.created_at < MARCH.end]


def percentile_cont(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def days(start: datetime.datetime, end: datetime.datetime) -> float:
    return (end - start).total_seconds() / 86_400


# -- aggregate functions and filters --------------------------------------------------------


async def test_every_aggregate_function(data: Data) -> None:
    value = f("order_value")
    measures = await data.one(
        count("rows"),
        q.Measure("delivered", q.AggregateFunction.COUNT, f("delivered_at")),
        q.Measure("sum", q.AggregateFunction.SUM, value),
        q.Measure("avg", q.AggregateFunction.AVG, value),
        q.Measure("min", q.AggregateFunction.MIN, value),
        q.Measure("max", q.AggregateFunction.MAX, value),
        q.Measure("customers", q.AggregateFunction.COUNT_DISTINCT, f("customer_id")),
        q.Measure("median", q.AggregateFunction.PERCENTILE, value, percentile=0.5),
        q.Measure("p90", q.AggregateFunction.PERCENTILE, value, percentile=0.9),
    )
    values = [float(o.order_value) for o in IN_MARCH]
    assert measures["rows"] == len(IN_MARCH) == 6
    assert measures["delivered"] == sum(o.delivered_at is not None for o in IN_MARCH)
    assert measures["sum"] == pytest.approx(sum(values))
    assert measures["avg"] == pytest.approx(statistics.fmean(values))
    assert measures["min"] == min(values) and measures["max"] == max(values)
    assert measures["customers"] == len({o.customer_id for o in IN_MARCH})
    assert measures["median"] == pytest.approx(percentile_cont(values, 0.5))
    assert measures["p90"] == pytest.approx(percentile_cont(values, 0.9))


async def test_distinct_counts_of_totals_series_and_groups(data: Data) -> None:
    """A total's distinct count runs as a subquery of its own, a series' and a group's inside the
    scan: each must count the distinct present values of exactly its rows."""
    not_cancelled = q.Compare(f("status"), q.Comparator.NE, q.Literal("cancelled"))
    smb = eq(f("segment", "customer"), "smb")
    dhl = eq(f("carrier", "shipments"), "DHL")
    measures = (
        count(),
        q.Measure("active", q.AggregateFunction.COUNT_DISTINCT, f("customer_id"), not_cancelled),
        q.Measure("smb", q.AggregateFunction.COUNT_DISTINCT, f("customer_id"), smb),
        q.Measure("dhl", q.AggregateFunction.COUNT_DISTINCT, f("customer_id"), dhl),
        # The other client's orders all have the value 1000000: a subquery reading them counts it.
        q.Measure("values", q.AggregateFunction.COUNT_DISTINCT, f("order_value")),
        # Absent values are not counted.
        q.Measure("delivered", q.AggregateFunction.COUNT_DISTINCT, f("delivered_at")),
    )
    shipped_by_dhl = {oid for oid, _, carrier, *_ in SHIPMENTS if carrier == "DHL"}

    def expected(orders: list[Order]) -> dict[str, float | None]:
        return {
            "n": len(orders),
            "active": len({o.customer_id for o in orders if o.status != "cancelled"}),
            "smb": len({o.customer_id for o in orders if CUSTOMERS[o.customer_id] == "smb"}),
            "dhl": len({o.customer_id for o in orders if o.order_id in shipped_by_dhl}),
            "values": len({o.order_value for o in orders}),
            "delivered": len({o.delivered_at for o in orders if o.delivered_at is not None}),
        }

    eu = eq(f("region"), "EU")
    total, eu_total, empty = await data.ask(
        query(*measures),
        query(*measures, row_filter=eu, query_id="eu"),
        query(*measures, time_range=q.TimeRange(at(20), at(21)), query_id="empty"),
    )
    assert total.rows[0].measures == expected(IN_MARCH)
    # The row count comes from the rollup, the distinct values from the raw rows: the same
    # answer as from raw rows alone.
    (raw_total,) = await data.ask(
        query(*measures), options=(wire.QueryOptions(disable_rollups=True),)
    )
    assert total.used_rollups and not raw_total.used_rollups
    assert raw_total.rows == total.rows
    assert eu_total.rows[0].measures == expected([o for o in IN_MARCH if o.region == "EU"])
    assert empty.rows[0].measures == expected([])

    # Per New York day and per channel: c1's two orders of 1 March count once that day, and c2,
    # ordering on two days, counts on each (the total is not the sum of the days).
    import zoneinfo

    new_york = zoneinfo.ZoneInfo(NEW_YORK)
    (daily,) = await data.ask(query(*measures, bucket=q.Period.DAY), time_zone=NEW_YORK)
    by_day: dict[datetime.datetime, list[Order]] = {}
    for order in IN_MARCH:
        local = order.created_at.astimezone(new_york)
        start = datetime.datetime(local.year, local.month, local.day, tzinfo=new_york)
        by_day.setdefault(start.astimezone(UTC), []).append(order)
    assert {row.bucket_start: row.measures for row in daily.rows} == {
        day: expected(orders) for day, orders in by_day.items()
    }
    assert sum(row.measures["smb"] or 0 for row in daily.rows) > total.rows[0].measures["smb"]
    (by_channel,) = await data.ask(
        query(*measures, group_by=(q.Dimension("channel", f("channel")),))
    )
    assert {row.dimensions["channel"]: row.measures for row in by_channel.rows} == {
        channel: expected([o for o in IN_MARCH if o.channel == channel])
        for channel in {o.channel for o in IN_MARCH}
    }


async def test_filters(data: Data) -> None:
    delivered_at, promised_at = f("delivered_at"), f("promised_at")
    measures = await data.one(
        count("web", eq(f("channel"), "web")),
        count("not_web", q.Compare(f("channel"), q.Comparator.NE, q.Literal("web"))),
        count("big", q.Compare(f("order_value"), q.Comparator.GE, q.Literal(Decimal("75.25")))),
        count("in", q.InList(f("region"), ("US", "APAC", "it's not a region"))),
        count("in_nothing", q.InList(f("region"), ())),
        count("between", q.Between(f("order_value"), 20, Decimal("100"))),
        count("undelivered", q.IsNull(delivered_at)),
        count("late", q.Compare(delivered_at, q.Comparator.GT, promised_at)),
        count("eu_or_cancelled", q.AnyOf((eq(f("region"), "EU"), eq(f("status"), "cancelled")))),
        count("web_and_full", q.AllOf((eq(f("channel"), "web"), eq(f("delivered_in_full"), True)))),
        count("not_eu", q.Not(eq(f("region"), "EU"))),
        count("hostile", eq(f("region"), "EU' OR '1'='1")),
        count("in_window", q.Between(f("created_at"), at(1), datetime.date(2024, 3, 2))),
    )
    assert measures == {
        "web": sum(o.channel == "web" for o in IN_MARCH),
        "not_web": sum(o.channel != "web" for o in IN_MARCH),
        "big": sum(o.order_value >= Decimal("75.25") for o in IN_MARCH),
        "in": sum(o.region in ("US", "APAC") for o in IN_MARCH),
        "in_nothing": 0,
        "between": sum(20 <= o.order_value <= 100 for o in IN_MARCH),
        "undelivered": sum(o.delivered_at is None for o in IN_MARCH),
        "late": sum(
            o.delivered_at is not None and o.delivered_at > o.promised_at for o in IN_MARCH
        ),
        "eu_or_cancelled": sum(o.region == "EU" or o.status == "cancelled" for o in IN_MARCH),
        "web_and_full": sum(o.channel == "web" and o.delivered_in_full is True for o in IN_MARCH),
        "not_eu": sum(o.region != "EU" for o in IN_MARCH),
        "hostile": 0,
        "in_window": sum(at(1) <= o.created_at <= at(2) for o in IN_MARCH),
    }
    assert measures["late"] == 1 and measures["in_window"] == 2


async def test_row_filter_applies_to_every_measure_and_the_row_count(data: Data) -> None:
    (result,) = await data.ask(
        query(
            count(),
            q.Measure("s", q.AggregateFunction.SUM, f("order_value")),
            row_filter=eq(f("region"), "EU"),
        )
    )
    eu = [o for o in IN_MARCH if o.region == "EU"]
    assert result.rows[0].row_count == len(eu)
    assert result.rows[0].measures == {
        "n": len(eu),
        "s": pytest.approx(float(sum(o.order_value for o in eu))),
    }


async def test_many_to_one_path_joins_within_the_client(data: Data) -> None:
    (result,) = await data.ask(
        query(
            count(),
            count("smb", eq(f("segment", "customer"), "smb")),
            group_by=(q.Dimension("segment", f("segment", "customer")),),
        )
    )
    by_segment = {row.dimensions["segment"]: row.measures for row in result.rows}
    expected: dict[str, int] = {}
    for order in IN_MARCH:
        segment = CUSTOMERS[order.customer_id]
        expected[segment] = expected.get(segment, 0) + 1
    # The other client's customers are all "consumer": a join without client_id would show them.
    assert {segment: m["n"] for segment, m in by_segment.items()} == expected
    assert by_segment["smb"]["smb"] == expected["smb"] and by_segment["enterprise"]["smb"] == 0


async def test_one_to_many_path_means_some_related_row(data: Data) -> None:
    measures = await data.one(
        count("dhl", eq(f("carrier", "shipments"), "DHL")),
        count("damaged", eq(f("damaged", "shipments"), True)),
        count(
            "unshipped", q.Not(q.Compare(f("carrier", "shipments"), q.Comparator.NE, q.Literal("")))
        ),
        # Each leaf is its own "some shipment ...": o1 has a DHL shipment but no damaged one.
        count(
            "dhl_damaged",
            q.AllOf((eq(f("carrier", "shipments"), "DHL"), eq(f("damaged", "shipments"), True))),
        ),
    )
    shipped = {oid for oid, *_ in SHIPMENTS}
    assert measures == {
        "dhl": len({oid for oid, _, carrier, *_ in SHIPMENTS if carrier == "DHL"}),  # o1 once, o3
        "damaged": 1,  # o3; the other client's damaged shipment of o2 does not count
        "unshipped": sum(o.order_id not in shipped for o in IN_MARCH),
        "dhl_damaged": 1,  # o3 only: o1 has a DHL shipment but no damaged one
    }


async def test_durations_and_row_arithmetic(data: Data) -> None:
    lead_days = q.Duration(f("created_at"), f("delivered_at"), q.DurationUnit.DAYS)
    lead_hours = q.Duration(f("created_at"), f("delivered_at"), q.DurationUnit.HOURS)
    ship_days = q.Duration(f("created_at"), f("shipped_at"), q.DurationUnit.DAYS)
    measures = await data.one(
        q.Measure("avg_days", q.AggregateFunction.AVG, lead_days),
        q.Measure("max_hours", q.AggregateFunction.MAX, lead_hours),
        count("slow", q.Compare(lead_days, q.Comparator.GT, q.Literal(2.5))),
        q.Measure(
            "value_days",
            q.AggregateFunction.SUM,
            q.Arithmetic(q.ArithmeticOperator.MULTIPLY, f("order_value"), lead_days),
        ),
        # o2 shipped the minute it was created: its row divides by zero and has no value.
        q.Measure(
            "value_per_ship_day",
            q.AggregateFunction.SUM,
            q.Arithmetic(q.ArithmeticOperator.DIVIDE, f("order_value"), ship_days),
        ),
        q.Measure(
            "per_zero",
            q.AggregateFunction.SUM,
            q.Arithmetic(q.ArithmeticOperator.DIVIDE, f("order_value"), q.Literal(0)),
        ),
        q.Measure(
            "avg_nothing", q.AggregateFunction.AVG, f("order_value"), eq(f("region"), "nowhere")
        ),
    )
    delivered = [o for o in IN_MARCH if o.delivered_at is not None]
    lead = [days(o.created_at, o.delivered_at) for o in delivered if o.delivered_at]
    assert measures["avg_days"] == pytest.approx(statistics.fmean(lead))
    assert measures["max_hours"] == pytest.approx(max(lead) * 24)
    assert measures["slow"] == sum(value > 2.5 for value in lead)
    assert measures["value_days"] == pytest.approx(
        sum(
            float(o.order_value) * days(o.created_at, o.delivered_at)
            for o in delivered
            if o.delivered_at
        )
    )
    expected_ratio = [
        float(o.order_value) / days(o.created_at, o.shipped_at)
        for o in IN_MARCH
        if o.shipped_at is not None and o.shipped_at != o.created_at
    ]
    assert measures["value_per_ship_day"] == pytest.approx(sum(expected_ratio))
    assert measures["per_zero"] is None
    assert measures["avg_nothing"] is None


# -- buckets, groups, client scoping ---------------------------------------------------------


async def test_day_buckets_in_utc_and_in_new_york(data: Data) -> None:
    daily = query(count(), bucket=q.Period.DAY)
    (utc,) = await data.ask(daily)
    (new_york,) = await data.ask(daily, time_zone=NEW_YORK)

    def expected(zone: str) -> dict[datetime.datetime, int]:
        import zoneinfo

        tz = zoneinfo.ZoneInfo(zone)
        counts: dict[datetime.datetime, int] = {}
        for order in IN_MARCH:
            local = order.created_at.astimezone(tz)
            start = datetime.datetime(local.year, local.month, local.day, tzinfo=tz).astimezone(UTC)
            counts[start] = counts.get(start, 0) + 1
        return counts

    assert {row.bucket_start: row.measures["n"] for row in utc.rows} == expected("UTC")
    assert {row.bucket_start: row.measures["n"] for row in new_york.rows} == expected(NEW_YORK)
    starts = [row.bucket_start for row in new_york.rows]
    assert starts == sorted(starts)
    # o3 (03:00 UTC on 2 March) belongs to 1 March in New York, whose day starts at 05:00 UTC.
    assert {row.bucket_start: row.measures["n"] for row in new_york.rows}[at(1, 5)] == 3
    # Across the DST switch the 10 March bucket still starts at local midnight (EST, 05:00 UTC).
    assert at(10, 5) in starts


async def test_group_by_with_buckets_and_max_groups(data: Data) -> None:
    grouped = query(
        count(),
        q.Measure("s", q.AggregateFunction.SUM, f("order_value")),
        bucket=q.Period.MONTH,
        group_by=(q.Dimension("channel", f("channel")), q.Dimension("region", f("region"))),
    )
    (result,) = await data.ask(grouped)
    expected: dict[tuple[str, str], int] = {}
    for order in IN_MARCH:
        key = (order.channel, order.region)
        expected[key] = expected.get(key, 0) + 1
    assert {
        (r.dimensions["channel"], r.dimensions["region"]): r.row_count for r in result.rows
    } == expected
    assert all(r.bucket_start == at(1) for r in result.rows) and not result.truncated

    (cut,) = await data.ask(grouped, options=(wire.QueryOptions(max_groups=1),))
    assert cut.truncated
    (largest,) = cut.rows
    assert (largest.dimensions["channel"], largest.dimensions["region"]) == ("web", "EU")
    assert largest.row_count == 2


async def test_another_clients_rows_are_never_counted(data: Data) -> None:
    mine = await data.one(count(), q.Measure("s", q.AggregateFunction.SUM, f("order_value")))
    assert mine["n"] == len(IN_MARCH)
    assert mine["s"] == pytest.approx(float(sum(o.order_value for o in IN_MARCH)))
    (theirs,) = await data.ask(
        query(count(), count("dhl", eq(f("carrier", "shipments"), "DHL"))), client=data.other
    )
    assert theirs.rows[0].measures == {"n": len(IN_MARCH), "dhl": 1}
    (nobody,) = await data.ask(query(count()), client="no-such-client")
    assert nobody.rows[0].measures == {"n": 0} and nobody.data_version == 0


async def test_results_carry_data_version_and_watermark(data: Data) -> None:
    (result,) = await data.ask(query(count()))
    assert (result.data_version, result.watermark) == (7, at(1, month=4))
    versions = await data.reader().data_versions(data.client, ["ORDER", "CUSTOMER"])
    assert [(v.object_model_code, v.version) for v in versions] == [("CUSTOMER", 0), ("ORDER", 7)]
    with pytest.raises(NotFound):
        await data.reader().data_versions(data.client, ["NOPE"])


# -- rollups ----------------------------------------------------------------------------------


ROLLUP_QUERIES = [
    query(
        count(),
        count("web", eq(f("channel"), "web")),
        q.Measure("s", q.AggregateFunction.SUM, f("order_value")),
        q.Measure(
            "a",
            q.AggregateFunction.AVG,
            f("order_value"),
            q.InList(f("status"), ("delivered", "open")),
        ),
        q.Measure(
            "full", q.AggregateFunction.SUM, f("order_value"), eq(f("delivered_in_full"), True)
        ),
        # A comparison ORDER declares as a derived field (delivered_on_time), mirrored.
        count("late", q.Not(q.Compare(f("promised_at"), q.Comparator.GE, f("delivered_at")))),
        bucket=bucket,
        group_by=group_by,
        row_filter=q.Not(eq(f("status"), "cancelled")),
    )
    for bucket in (None, q.Period.MINUTE, q.Period.HOUR, q.Period.DAY, q.Period.WEEK)
    for group_by in ((), (q.Dimension("channel", f("channel")),))
]


@pytest.mark.parametrize("rollup_query", ROLLUP_QUERIES)
@pytest.mark.parametrize("time_zone", ["UTC", NEW_YORK, "Asia/Kolkata"])
async def test_rollup_answer_equals_raw_answer(
    data: Data, rollup_query: q.AggregateQuery, time_zone: str
) -> None:
    (rolled,) = await data.ask(rollup_query, time_zone=time_zone)
    (raw,) = await data.ask(
        rollup_query, time_zone=time_zone, options=(wire.QueryOptions(disable_rollups=True),)
    )
    assert rolled.used_rollups and not raw.used_rollups
    assert _comparable(rolled) == _comparable(raw)
    assert rolled.rows


def _comparable(result: q.AggregateResult) -> list[tuple[Any, ...]]:
    return [
        (
            row.bucket_start,
            tuple(sorted(row.dimensions.items())),
            row.row_count,
            tuple((k, None if v is None else round(v, 9)) for k, v in sorted(row.measures.items())),
        )
        for row in result.rows
    ]


# -- limits and validation --------------------------------------------------------------------


async def test_limits_are_enforced_before_any_sql(data: Data) -> None:
    closed = await asyncpg.create_pool(data.pool._connect_args[0], min_size=0, max_size=1)  # noqa: SLF001
    await closed.close()
    reader = AggregateReader(closed, data.models)
    year = q.TimeRange(at(1, month=1), at(1, month=1) + datetime.timedelta(days=366))
    for bad, field in [
        (query(bucket=q.Period.MINUTE, time_range=year), "queries[0].time_range"),
        (
            query(
                bucket=q.Period.HOUR,
                time_range=q.TimeRange(at(1), at(1) + datetime.timedelta(days=3000)),
            ),
            "queries[0].time_range",
        ),
        (query(time_range=q.TimeRange(at(2), at(1))), "queries[0].time_range"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            await reader.query(q.AggregateRequest(data.client, (bad,)))
        assert refused.value.violations[0].field == field
    with pytest.raises(InvalidArgument) as bad_zone:
        await reader.query(q.AggregateRequest(data.client, (query(),), "Mars/Phobos"))
    assert bad_zone.value.violations[0].field == "time_zone"
    # 31 days of minutes is allowed (and answered by the real pool).
    month_of_minutes = query(
        bucket=q.Period.MINUTE, time_range=q.TimeRange(at(1), at(1) + datetime.timedelta(days=31))
    )
    (result,) = await data.ask(month_of_minutes)
    assert sum(row.measures["n"] or 0 for row in result.rows) == len(IN_MARCH)


async def test_row_limit_refuses_instead_of_truncating(data: Data) -> None:
    request = q.AggregateRequest(data.client, (query(bucket=q.Period.DAY),))
    with pytest.raises(ResourceExhausted):
        await data.reader(row_limit=2).query(request)
    (result,) = await data.reader(row_limit=10).query(request)
    assert len(result.rows) == 4


async def test_a_query_the_database_cannot_compute_is_named(data: Data) -> None:
    huge = q.Literal(Decimal("1E+100000"))
    overflowing = q.Arithmetic(
        q.ArithmeticOperator.MULTIPLY,
        q.Arithmetic(q.ArithmeticOperator.MULTIPLY, f("order_value"), huge),
        huge,
    )
    hour = q.TimeRange(at(1, 10), at(1, 11))
    request = q.AggregateRequest(
        data.client,
        (
            query(time_range=hour),
            query(q.Measure("s", q.AggregateFunction.SUM, overflowing), time_range=hour),
        ),
    )
    with pytest.raises(InvalidArgument) as refused:
        await data.reader().query_columns(request)
    assert refused.value.violations[0].field == "queries[1]"
    assert "cannot be computed" in refused.value.violations[0].description


async def test_a_statement_over_the_row_limit_is_named(data: Data) -> None:
    day = q.TimeRange(at(1), at(2))
    request = q.AggregateRequest(
        data.client,
        (query(time_range=day), query(bucket=q.Period.HOUR, time_range=day)),
    )
    with pytest.raises(ResourceExhausted, match=r"queries\[1\]"):
        await data.reader(row_limit=1).query(request)


async def test_a_statement_is_reused_only_for_the_same_key_client_and_zone(
    data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    original = aggregates.sql_builder.build_statement

    def counting(query: q.AggregateQuery, *args: Any, **kwargs: Any) -> Any:
        built.append(query.query_id)
        return original(query, *args, **kwargs)

    monkeypatch.setattr(aggregates.sql_builder, "build_statement", counting)
    reader = data.reader()
    orders = query(count(), q.Measure("s", q.AggregateFunction.SUM, f("order_value")))
    message = wire.query_message(orders)
    key = message.SerializeToString()

    async def ask(client: str, time_zone: str = "UTC") -> float | None:
        request = q.AggregateRequest(client, (orders,), time_zone)
        (result,) = await reader.query(request, keys=(key,))
        return result.rows[0].measures["s"]

    first = await ask(data.client)
    assert await ask(data.client) == first and built == ["q"]
    # Another client or zone is another statement, never the first one's answer.
    assert await ask(data.other) != first and built == ["q", "q"]
    await ask(data.client, NEW_YORK)
    assert built == ["q", "q", "q"]
    # Without keys nothing is reused.
    await reader.query(q.AggregateRequest(data.client, (orders,)))
    assert len(built) == 4


async def test_a_recurring_combined_statement_is_kept_prepared_with_the_same_answers(
    data: Data, migrated_db: str, read_path: str
) -> None:
    if read_path != "in one statement":
        pytest.skip("only combined reads are kept prepared")
    short = await asyncpg.create_pool(
        migrated_db,
        min_size=1,
        max_size=1,
        server_settings=dict(aggregates.READ_SETTINGS),
        statement_cache_size=aggregates.COMBINED_KEPT,
        max_cacheable_statement_size=aggregates.LONGEST_COMBINED_KEPT,
    )
    try:
        reader = data.reader(short_reads=short)
        series = query(
            count(),
            q.Measure("s", q.AggregateFunction.SUM, f("order_value")),
            q.Measure("c", q.AggregateFunction.COUNT_DISTINCT, f("customer_id")),
            query_id="series",
            bucket=q.Period.DAY,
        )
        grouped = query(count(), query_id="grouped", group_by=(q.Dimension("s", f("status")),))
        request = q.AggregateRequest(data.client, (series, grouped))
        expected = await data.reader().query(request)

        async def kept() -> int:
            async with short.acquire() as connection:
                found: int = await connection.fetchval(
                    "SELECT count(*) FROM pg_prepared_statements"
                    " WHERE statement LIKE 'SELECT ARRAY(%'"
                )
            return found

        assert await reader.query(request) == expected
        # Seen once: prepared for that run only, nothing kept in the session.
        assert await kept() == 0
        # Seen again: kept, and run from it, always with the same answers.
        for _ in range(8):
            assert await reader.query(request) == expected
        assert await kept() == 1
        # Another client's read is the same statement with other parameters: its own answer.
        other = q.AggregateRequest(data.other, (series, grouped))
        assert await reader.query(other) == await data.reader().query(other)
        assert await reader.query(other) != expected
    finally:
        await short.close()


# -- the gRPC surface -------------------------------------------------------------------------


async def test_query_aggregates_over_grpc(data: Data, migrated_db: str, redis_url: str) -> None:
    settings = DataSettings(
        service_name="data",
        listen="127.0.0.1:0",
        database_url=migrated_db,
        redis_url=redis_url,
        dependency_check_seconds=0.1,
    )
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
            queries = (
                query(
                    count(),
                    q.Measure("avg", q.AggregateFunction.AVG, f("order_value")),
                    bucket=q.Period.DAY,
                ),
                query(count("dhl", eq(f("carrier", "shipments"), "DHL"))),
            )
            request = wire.request_message(q.AggregateRequest(data.client, queries, NEW_YORK))
            reply = await stub.QueryAggregates(request, timeout=10)
            daily, dhl = wire.response_value(reply, queries)
            assert daily.used_rollups and daily.data_version == 7
            assert sum(row.row_count for row in daily.rows) == len(IN_MARCH)
            assert dhl.rows[0].measures == {"dhl": 2} and dhl.rows[0].bucket_start is None
            assert reply.results[1].rows[0].bucket_start.ToDatetime(tzinfo=UTC) == MARCH.start

            versions = await stub.GetDataVersions(
                data_pb2.GetDataVersionsRequest(
                    client_id=data.client, object_model_codes=["ORDER"]
                ),
                timeout=10,
            )
            assert [(v.object_model_code, v.version) for v in versions.versions] == [("ORDER", 7)]

            bad = wire.request_message(
                q.AggregateRequest(
                    data.client,
                    (query(bucket=q.Period.MINUTE, time_range=q.TimeRange(at(1, month=1), at(1))),),
                )
            )
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.QueryAggregates(bad, timeout=10)
            assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "time_range" in (refused.value.details() or "")

            # Demo generation is wired in: a request without a range is refused, naming it.
            with pytest.raises(grpc.aio.AioRpcError) as no_range:
                await stub.GenerateDemoRows(
                    data_pb2.GenerateDemoRowsRequest(client_id="x"), timeout=10
                )
            assert no_range.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "time_range" in (no_range.value.details() or "")


# -- one scan, 30 measures, rollup vs raw -----------------------------------------------------

BENCH_ROWS = int(os.environ.get("AE_AGGREGATE_BENCH_ROWS", "200000"))


async def test_thirty_measures_in_one_statement_rollup_vs_raw(data: Data) -> None:
    """BENCH_ROWS orders spread over 30 days (AE_AGGREGATE_BENCH_ROWS=1000000 for the figures in
    the report); 30 rollup-answerable measures in one statement, per day in New York."""
    client = f"bench-{uuid.uuid4().hex[:8]}"
    start = at(1, month=5)
    async with data.pool.acquire() as connection:
        await connection.execute(
            """
            INSERT INTO scor_data.orders (client_id, order_id, customer_id, channel, region, status,
                order_value, created_at, promised_at, delivered_in_full)
            SELECT $1, 'o' || n, 'c' || (n % 5000),
                   (ARRAY['web', 'edi', 'sales_rep', 'marketplace'])[1 + n % 4],
                   (ARRAY['EU', 'US', 'APAC'])[1 + n % 3],
                   (ARRAY['open', 'allocated', 'shipped', 'delivered', 'cancelled'])[1 + n % 5],
                   round((n % 997)::numeric * 1.37, 2),
                   $2::timestamptz + (n % 43200) * interval '1 minute'
                       + (n % 60) * interval '1 second',
                   $2::timestamptz + interval '40 days',
                   CASE WHEN n % 7 = 0 THEN NULL ELSE n % 3 = 0 END
            FROM generate_series(1, $3::int) AS n
            """,
            client,
            start,
            BENCH_ROWS,
        )
        await fill_order_rollup(connection, client)
        await connection.execute("ANALYZE scor_data.orders")
        rollup_rows = await connection.fetchval(
            "SELECT count(*) FROM scor_data.orders__minute WHERE client_id = $1", client
        )
    channels, statuses = (
        ("web", "edi", "sales_rep", "marketplace"),
        ("open", "allocated", "shipped", "delivered", "cancelled"),
    )
    measures: list[q.Measure] = [count()]
    for channel in channels:
        measures.append(count(f"n_{channel}", eq(f("channel"), channel)))
        measures.append(
            q.Measure(
                f"s_{channel}", q.AggregateFunction.SUM, f("order_value"), eq(f("channel"), channel)
            )
        )
        measures.append(
            q.Measure(
                f"a_{channel}", q.AggregateFunction.AVG, f("order_value"), eq(f("channel"), channel)
            )
        )
    for status in statuses:
        measures.append(count(f"n_{status}", eq(f("status"), status)))
        measures.append(
            q.Measure(
                f"s_{status}", q.AggregateFunction.SUM, f("order_value"), eq(f("status"), status)
            )
        )
    measures.append(count("full", eq(f("delivered_in_full"), True)))
    measures.append(count("unknown", q.IsNull(f("delivered_in_full"))))
    measures.append(
        q.Measure(
            "s_full", q.AggregateFunction.SUM, f("order_value"), eq(f("delivered_in_full"), True)
        )
    )
    measures.append(q.Measure("avg", q.AggregateFunction.AVG, f("order_value")))
    measures.append(
        q.Measure(
            "s_web_edi",
            q.AggregateFunction.SUM,
            f("order_value"),
            q.InList(f("channel"), ("web", "edi")),
        )
    )
    measures.append(count("n_not_open", q.Not(eq(f("status"), "open"))))
    measures.append(q.Measure("s", q.AggregateFunction.SUM, f("order_value")))
    assert len(measures) == 30
    bench = query(
        *measures,
        time_range=q.TimeRange(start, start + datetime.timedelta(days=30)),
        bucket=q.Period.DAY,
    )

    async def timed(disable_rollups: bool) -> tuple[float, q.AggregateResult]:
        samples, result = [], None
        for _ in range(5):
            began = time.perf_counter()
            (result,) = await data.ask(
                bench,
                time_zone=NEW_YORK,
                client=client,
                options=(wire.QueryOptions(disable_rollups=disable_rollups),),
            )
            samples.append(time.perf_counter() - began)
        assert result is not None
        return statistics.median(samples), result

    raw_seconds, raw = await timed(True)
    rollup_seconds, rolled = await timed(False)
    print(
        f"\n30 measures over {BENCH_ROWS} rows ({rollup_rows} rollup rows), 30 daily buckets "
        "(New York): "
        f"raw {raw_seconds * 1000:.1f} ms, rollup {rollup_seconds * 1000:.1f} ms (medians of 5)"
    )
    assert rolled.used_rollups and not raw.used_rollups
    assert sum(row.row_count for row in raw.rows) == BENCH_ROWS
    assert _comparable(rolled) == _comparable(raw)
    assert rollup_seconds < raw_seconds


async def test_distinct_snapshot_dates_are_read_from_the_rollups(data: Data) -> None:
    """count_distinct of a date-placed model's own date (the days that have snapshots) is the
    count of distinct rollup buckets: equal to the raw rows' answer per day, week, month and in
    total, with a filter on a dimension, in the minute and hour rollups alike."""
    model = data.models["INVENTORY_SNAPSHOT"]
    client = f"agg-dates-{uuid.uuid4().hex[:8]}"
    days = [datetime.date(2024, 3, 1) + datetime.timedelta(days=n) for n in range(40)]
    rows = [
        {
            "snapshot_date": day.isoformat(),
            "product_id": f"SKU-{product}",
            "location_id": "DC-1",
            "on_hand_quantity": str(10 * product + n % 5),
            "on_hand_value": "10.50",
            "safety_stock_quantity": "25",
        }
        for n, day in enumerate(days)
        if n % 6 != 5  # days without any snapshot
        for product in range(1 + n % 3)
    ]
    await store.ingest_rows(data.pool, client, model, rows)
    below = eq(f("below_safety_stock"), True)
    measures = (
        q.Measure("days", q.AggregateFunction.COUNT_DISTINCT, f("snapshot_date")),
        q.Measure("short", q.AggregateFunction.COUNT_DISTINCT, f("snapshot_date"), below),
        count(),
    )
    spans = (
        q.TimeRange(at(1), at(1, month=4)),
        # Whole minutes but not whole hours: the minute rollup answers.
        q.TimeRange(at(1), at(30, 23, 59)),
    )
    for span in spans:
        for bucket in (None, q.Period.DAY, q.Period.WEEK, q.Period.MONTH):
            asked = q.AggregateQuery("d", "INVENTORY_SNAPSHOT", span, measures, bucket=bucket)
            (rolled,) = await data.ask(asked, client=client)
            (raw,) = await data.ask(
                asked, client=client, options=(wire.QueryOptions(disable_rollups=True),)
            )
            assert rolled.used_rollups and not raw.used_rollups
            assert rolled.rows == raw.rows, (span, bucket)
    (total,) = await data.ask(
        q.AggregateQuery("d", "INVENTORY_SNAPSHOT", spans[0], measures), client=client
    )
    in_march = {row["snapshot_date"] for row in rows if row["snapshot_date"] < "2024-04-01"}
    short = {
        row["snapshot_date"]
        for row in rows
        if row["snapshot_date"] < "2024-04-01" and int(row["on_hand_quantity"]) < 25
    }
    assert total.rows[0].measures["days"] == len(in_march)
    assert total.rows[0].measures["short"] == len(short)


async def test_long_series_read_the_hour_rollup_and_match_the_raw_rows(data: Data) -> None:
    """Ranges longer than a day and a half group by the series of bucket starts; in a zone with
    DST and one offset by half an hour alike, the hour rollup, the minute rollup and the raw rows
    give the same buckets."""
    measures = (count(), q.Measure("v", q.AggregateFunction.SUM, f("order_value")))
    year = q.TimeRange(at(1, month=1), datetime.datetime(2024, 12, 31, tzinfo=UTC))
    for zone, level in (("UTC", "hour"), ("Europe/Berlin", "hour"), ("Asia/Kolkata", "minute")):
        for bucket in (q.Period.HOUR, q.Period.DAY, q.Period.WEEK, q.Period.MONTH):
            asked = query(*measures, time_range=year, bucket=bucket)
            (rolled,) = await data.ask(asked, time_zone=zone)
            (raw,) = await data.ask(
                asked, time_zone=zone, options=(wire.QueryOptions(disable_rollups=True),)
            )
            assert rolled.used_rollups and not raw.used_rollups
            assert rolled.rows == raw.rows, (zone, bucket)
            statement = build_statement(asked, data.models, client_id="c", time_zone=zone)
            assert statement.rollup_level == level and "generate_series" in statement.sql
            assert sum(row.row_count for row in rolled.rows) == len(
                [o for o in ORDERS if year.start <= o.created_at < year.end]
            )


async def test_derived_durations_are_summed_in_the_rollups_through_ingest(data: Data) -> None:
    """Orders ingested, then re-sent delivered (the duration appears) or with a new delivery time
    (it changes): the average and total fulfillment time per day and hour read from the rollups
    equal the raw rows' and Python's, and rows without a duration are not counted."""
    model = data.models["ORDER"]
    client = f"agg-durations-{uuid.uuid4().hex[:8]}"

    def an_order(number: int, delivered_hours: float | None) -> dict[str, object]:
        created = at(1) + datetime.timedelta(hours=5 * number, minutes=number % 7)
        return {
            "order_id": f"o{number}",
            "customer_id": f"c{number % 3}",
            "channel": "web",
            "region": "EU",
            "status": "delivered" if delivered_hours is not None else "open",
            "order_value": "10",
            "created_at": created.isoformat(),
            "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
            "delivered_at": None
            if delivered_hours is None
            else (created + datetime.timedelta(hours=delivered_hours)).isoformat(),
        }

    first = [an_order(n, None if n % 3 == 0 else 10.5 + n) for n in range(60)]
    await store.ingest_rows(data.pool, client, model, first)
    # Half of the open orders are delivered now; some delivered ones were delivered later.
    second = [an_order(n, 30.25) for n in range(0, 60, 6)] + [
        an_order(n, 50 + n / 4) for n in range(1, 60, 5)
    ]
    await store.ingest_rows(data.pool, client, model, second)
    final = {row["order_id"]: row for row in first} | {row["order_id"]: row for row in second}

    fulfillment = q.Duration(f("created_at"), f("delivered_at"), q.DurationUnit.DAYS)
    delivered = eq(f("status"), "delivered")
    measures = (
        q.Measure("avg", q.AggregateFunction.AVG, fulfillment, delivered),
        q.Measure("sum", q.AggregateFunction.SUM, fulfillment),
        q.Measure(
            "hours",
            q.AggregateFunction.AVG,
            q.Duration(f("created_at"), f("delivered_at"), q.DurationUnit.HOURS),
        ),
    )
    span = q.TimeRange(at(1), at(1, month=4))
    for bucket in (None, q.Period.HOUR, q.Period.DAY, q.Period.MONTH):
        asked = query(*measures, time_range=span, bucket=bucket)
        (rolled,) = await data.ask(asked, client=client)
        (raw,) = await data.ask(
            asked, client=client, options=(wire.QueryOptions(disable_rollups=True),)
        )
        assert rolled.used_rollups and not raw.used_rollups
        assert rolled.rows == raw.rows, bucket
    (total,) = await data.ask(query(*measures, time_range=span), client=client)
    hours = [
        (
            datetime.datetime.fromisoformat(str(row["delivered_at"]))
            - datetime.datetime.fromisoformat(str(row["created_at"]))
        ).total_seconds()
        / 3600
        for row in final.values()
        if row["delivered_at"] is not None
    ]
    measured = total.rows[0].measures
    assert measured["hours"] == pytest.approx(sum(hours) / len(hours))
    assert measured["avg"] == pytest.approx(sum(hours) / len(hours) / 24)
    assert measured["sum"] == pytest.approx(sum(hours) / 24)
    # No delivered order in the range: no total (as SUM over no value gives), no average.
    (empty,) = await data.ask(
        query(*measures, time_range=q.TimeRange(at(1, month=5), at(1, month=6))), client=client
    )
    assert empty.rows[0].measures == {"avg": None, "sum": None, "hours": None}
