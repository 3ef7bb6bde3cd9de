"""Distinct counts per bucket read from the counts kept of settled buckets, against a real
PostgreSQL: after every kind of write (ingest into a past day, a changed row, an order's status
moving the copies its lines carry, a bulk load, deleting every row) the series equals the one
counted from the rows, bucket by bucket, in UTC and in zones whose days overlap two UTC days; and
a second read of unchanged data counts nothing."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import settled_plan, store
from services.data.aggregates import READ_SETTINGS, AggregateReader
from services.data.carried_copies import carrying
from tests.integration.test_carried_copies import write

UTC = datetime.UTC
START = datetime.datetime(2026, 6, 1, tzinfo=UTC)
DAYS = 20
RANGE = q.TimeRange(START, START + datetime.timedelta(days=DAYS))
ZONES = ("UTC", "Europe/Berlin", "America/New_York")

ACTIVE = q.Measure(
    "active",
    q.AggregateFunction.COUNT_DISTINCT,
    q.FieldRef("customer_id"),
    q.Compare(q.FieldRef("status"), q.Comparator.NE, q.Literal("cancelled")),
)
VALUE = q.Measure("value", q.AggregateFunction.SUM, q.FieldRef("order_value"))
# Products of lines whose order was cancelled: filters on the copy of the order's status.
CANCELLED_PRODUCTS = q.Measure(
    "cancelled_products",
    q.AggregateFunction.COUNT_DISTINCT,
    q.FieldRef("product_id"),
    q.Compare(q.FieldRef("status", ("order",)), q.Comparator.EQ, q.Literal("cancelled")),
)


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


@dataclass
class Readers:
    pool: asyncpg.Pool
    kept: AggregateReader
    counted: AggregateReader
    spans: list[tuple[datetime.datetime, datetime.datetime]]


@pytest.fixture
async def readers(migrated_db: str, models: dict[str, ObjectModel]) -> AsyncIterator[Readers]:
    async with (
        asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool,
        asyncpg.create_pool(
            migrated_db, min_size=1, max_size=4, server_settings=dict(READ_SETTINGS)
        ) as read_pool,
        asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as write_pool,
    ):
        yield Readers(
            pool,
            AggregateReader(read_pool, models, settled_writes=write_pool),
            AggregateReader(read_pool, models),
            [],
        )


@pytest.fixture(autouse=True)
def counted_spans(
    readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[datetime.datetime, datetime.datetime]]]:
    """Records the spans of time each read counted from the rows."""
    original = settled_plan.runs

    def runs(*args: Any) -> list[tuple[datetime.datetime, datetime.datetime]]:
        spans: list[tuple[datetime.datetime, datetime.datetime]] = original(*args)
        readers.spans.extend(spans)
        return spans

    monkeypatch.setattr(settled_plan, "runs", runs)
    yield readers.spans


@pytest.fixture
def client() -> str:
    return f"settled-{uuid.uuid4().hex[:8]}"


def an_order(
    number: int, moment: datetime.datetime, customer: int, status: str = "open"
) -> dict[str, object]:
    return {
        "order_id": f"o{number}",
        "customer_id": f"c{customer}",
        "channel": "web",
        "region": "EU",
        "status": status,
        "order_value": f"{number}.50",
        "created_at": moment.isoformat(),
        "promised_at": (moment + datetime.timedelta(days=3)).isoformat(),
    }


def a_line(
    number: int, order_number: int, moment: datetime.datetime, product: int
) -> dict[str, object]:
    return {
        "order_line_id": f"l{number}",
        "order_id": f"o{order_number}",
        "line_number": 1,
        "product_id": f"p{product}",
        "quantity": "2",
        "shipped_quantity": "2",
        "unit_price": "2",
        "extended_price": "4",
        "extended_cost": "2",
        "created_at": moment.isoformat(),
        "extended_list_price": "6",
    }


def orders_over_the_range() -> list[dict[str, object]]:
    """Several orders a day, customers ordering more than once a day and on several days, some
    cancelled, and orders near UTC midnight (another day in Berlin or New York)."""
    rows = []
    for number in range(DAYS * 12):
        moment = START + datetime.timedelta(hours=2 * number, minutes=7 * (number % 5))
        status = "cancelled" if number % 7 == 0 else "open"
        rows.append(an_order(number, moment, customer=number % 9, status=status))
    return rows


def series_query(
    code: str, *measures: q.Measure, bucket: q.Period = q.Period.DAY
) -> q.AggregateQuery:
    return q.AggregateQuery("s", code, RANGE, measures, bucket=bucket)


async def assert_same_as_counted(
    readers: Readers, client: str, query: q.AggregateQuery, time_zone: str
) -> dict[datetime.datetime | None, dict[str, float | None]]:
    """The series read with kept counts, and the total over its range asked with it (as a
    calculation asks), equal those counted from the rows, bucket by bucket (row counts and every
    measure), and are not empty. Returns the rows by bucket start, the total's as None."""
    total = dataclasses.replace(query, query_id="total", bucket=None)
    request = q.AggregateRequest(client, (query, total), time_zone)
    kept = await readers.kept.query(request)
    counted = await readers.counted.query(request)
    await readers.kept.settled_write_backs()
    assert [result.rows for result in kept] == [result.rows for result in counted]
    assert kept[0].rows
    return {row.bucket_start: row.measures for result in kept for row in result.rows}


async def kept_buckets(pool: asyncpg.Pool, client: str) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM analytics.settled_distinct_counts WHERE client_id = $1", client
        )
    )


@pytest.mark.parametrize("time_zone", ZONES)
async def test_a_kept_count_is_never_read_after_its_rows_changed(
    readers: Readers, client: str, models: dict[str, ObjectModel], time_zone: str
) -> None:
    orders = orders_over_the_range()
    await write(readers.pool, client, models, "ORDER", orders)
    query = series_query("ORDER", VALUE, ACTIVE)

    first = await assert_same_as_counted(readers, client, query, time_zone)
    # Every whole bucket was kept (the range's first bucket is partial outside UTC).
    assert await kept_buckets(readers.pool, client) >= DAYS - 1
    # The distinct count is right, not merely the same both ways: in UTC, checked here.
    if time_zone == "UTC":
        for day in range(DAYS):
            start = START + datetime.timedelta(days=day)
            customers = {
                o["customer_id"] for o in orders
                if o["status"] != "cancelled"
                and start <= datetime.datetime.fromisoformat(str(o["created_at"]))
                < start + datetime.timedelta(days=1)
            }
            assert first[start]["active"] == len(customers)
        everyone = {o["customer_id"] for o in orders if o["status"] != "cancelled"}
        assert first[None]["active"] == len(everyone)

    # Read again: the whole buckets and the total come from the kept counts, only partial
    # buckets are counted.
    readers.spans.clear()
    assert await assert_same_as_counted(readers, client, query, time_zone) == first
    whole = [
        span for span in readers.spans
        if (span[1] - span[0]) >= datetime.timedelta(hours=23)
    ]
    assert whole == []

    # A new customer ordering late on a past day, and a stored order cancelled on another.
    late = START + datetime.timedelta(days=5, hours=23, minutes=30)
    cancelled = dict(orders[40], status="cancelled")
    await write(readers.pool, client, models, "ORDER", [an_order(9000, late, 99), cancelled])
    readers.spans.clear()
    second = await assert_same_as_counted(readers, client, query, time_zone)
    assert second != first
    assert second[None] != first[None]
    # Only the buckets over the days written were counted again, and the total.
    assert (RANGE.start, RANGE.end) in readers.spans
    readers.spans.remove((RANGE.start, RANGE.end))
    counted = sum((end - start for start, end in readers.spans), datetime.timedelta())
    counted_days = counted / datetime.timedelta(days=1)
    assert 0 < counted_days <= 6


async def test_moved_copies_and_deletions_renew_the_stamps(
    readers: Readers, client: str, models: dict[str, ObjectModel]
) -> None:
    orders = [an_order(n, START + datetime.timedelta(hours=5 * n), customer=n) for n in range(60)]
    await write(readers.pool, client, models, "ORDER", orders)
    await write(
        readers.pool, client, models, "ORDER_LINE",
        [a_line(n, n, START + datetime.timedelta(hours=5 * n, minutes=5), n % 4)
         for n in range(60)],
    )
    query = series_query("ORDER_LINE", CANCELLED_PRODUCTS)
    before = await assert_same_as_counted(readers, client, query, "UTC")
    assert all(values["cancelled_products"] == 0 for values in before.values())

    # Cancelling orders moves the copies of their status on their lines (other days' lines).
    await write(
        readers.pool, client, models, "ORDER",
        [dict(orders[n], status="cancelled") for n in (3, 4, 30)],
    )
    after = await assert_same_as_counted(readers, client, query, "UTC")
    # Orders 3, 4 and 30 are on three days; their lines' products p3, p0 and p2.
    assert after.pop(None) == {"cancelled_products": 3}
    assert sum(values["cancelled_products"] or 0 for values in after.values()) == 3

    # Every row deleted: nothing kept answers any more.
    for code in ("ORDER_LINE", "ORDER"):
        model = models[code]
        await store.delete_client_rows(
            readers.pool, client, model, carrying=carrying(model, models)
        )
    request = q.AggregateRequest(client, (query,), "UTC")
    (emptied,) = await readers.kept.query(request)
    assert emptied.rows == ()


async def test_a_bulk_load_renews_the_stamps_of_its_days(
    readers: Readers, client: str, models: dict[str, ObjectModel]
) -> None:
    await write(readers.pool, client, models, "ORDER", orders_over_the_range()[:100])
    query = series_query("ORDER", ACTIVE, bucket=q.Period.HOUR)
    await assert_same_as_counted(readers, client, query, "Europe/Berlin")

    columns = ["order_id", "customer_id", "channel", "region", "status", "order_value",
               "created_at", "promised_at"]
    loaded = [
        (f"b{n}", f"c{100 + n}", "web", "EU", "open", Decimal("1.00"),
         START + datetime.timedelta(days=2, minutes=13 * n),
         START + datetime.timedelta(days=5))
        for n in range(30)
    ]
    order = models["ORDER"]
    await store.bulk_load(
        readers.pool, client, order, loaded, columns, carrying=carrying(order, models)
    )
    readers.spans.clear()
    await assert_same_as_counted(readers, client, query, "Europe/Berlin")
    assert readers.spans


async def test_only_measures_of_the_row_itself_are_kept(
    readers: Readers, client: str, models: dict[str, ObjectModel]
) -> None:
    await write(readers.pool, client, models, "ORDER", orders_over_the_range()[:50])
    # A filter on the customer's segment reads another model's rows: counted every time.
    by_segment = q.Measure(
        "smb_customers", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("customer_id"),
        q.Compare(q.FieldRef("segment", ("customer",)), q.Comparator.EQ, q.Literal("smb")),
    )
    await assert_same_as_counted(readers, client, series_query("ORDER", by_segment), "UTC")
    # A short range is counted from its rows.
    short = dataclasses.replace(
        series_query("ORDER", ACTIVE, bucket=q.Period.HOUR),
        time_range=q.TimeRange(START, START + datetime.timedelta(hours=30)),
    )
    await assert_same_as_counted(readers, client, short, "UTC")
    assert await kept_buckets(readers.pool, client) == 0


@pytest.mark.parametrize("time_zone", ["America/New_York", "Europe/Berlin"])
async def test_date_placed_rows_in_a_zone(
    readers: Readers, client: str, models: dict[str, ObjectModel], time_zone: str
) -> None:
    def snapshot(day: int, product: int, quantity: int) -> dict[str, object]:
        return {
            "snapshot_date": (START.date() + datetime.timedelta(days=day)).isoformat(),
            "product_id": f"p{product}", "location_id": "w1",
            "on_hand_quantity": str(quantity), "on_hand_value": str(2 * quantity),
            "safety_stock_quantity": "5",
        }

    await write(
        readers.pool, client, models, "INVENTORY_SNAPSHOT",
        [snapshot(day, product, day + product)
         for day in range(DAYS) for product in range(day % 4)],
    )
    low_products = q.Measure(
        "low", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("product_id"),
        q.Compare(q.FieldRef("on_hand_quantity"), q.Comparator.LT,
                  q.FieldRef("safety_stock_quantity")),
    )
    query = series_query("INVENTORY_SNAPSHOT", low_products)
    first = await assert_same_as_counted(readers, client, query, time_zone)
    assert await kept_buckets(readers.pool, client) > 0
    # A product of a past day runs low.
    await write(readers.pool, client, models, "INVENTORY_SNAPSHOT", [snapshot(9, 0, 1)])
    assert await assert_same_as_counted(readers, client, query, time_zone) != first
