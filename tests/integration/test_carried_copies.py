"""Carried copies against a real PostgreSQL: order lines keep a copy of their order's status,
looked up when a line is written and moved when its order arrives late, changes status, is bulk
loaded or deleted. After every step the copies equal the orders' statuses (checked with a join
here), the rollups equal the raw rows grouped in Python, the order lines' data version and
outbox record the moves, and a fill-rate query answers from the rollups exactly what the join
answers."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from analytics_engine.migrations import apply_migrations
from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import store
from services.data.aggregates import AggregateReader
from services.data.carried_copies import carrying, writers_lock_code
from tests.fixtures.catalog_variants import without_carried_fields
from tests.integration.test_data_store import assert_rollup_matches_raw

UTC = datetime.UTC
START = datetime.datetime(2026, 9, 1, 8, tzinfo=UTC)


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool:
        yield pool


@pytest.fixture
def client() -> str:
    return f"carried-{uuid.uuid4().hex[:8]}"


def order(number: int, status: str, days: float = 0) -> dict[str, object]:
    created = START + datetime.timedelta(days=days, minutes=number)
    return {
        "order_id": f"o{number}",
        "customer_id": "c1",
        "channel": "web",
        "region": "EU",
        "status": status,
        "order_value": "10.00",
        "created_at": created.isoformat(),
        "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
    }


def line(number: int, order_number: int, quantity: int, shipped: int) -> dict[str, object]:
    return {
        "order_line_id": f"l{number}",
        "order_id": f"o{order_number}",
        "line_number": 1,
        "product_id": "p1",
        "quantity": str(quantity),
        "shipped_quantity": str(shipped),
        "unit_price": "2",
        "extended_price": str(2 * quantity),
        "extended_cost": str(quantity),
        "created_at": (START + datetime.timedelta(hours=number)).isoformat(),
        "extended_list_price": str(3 * quantity),
    }


async def write(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel], code: str,
    rows: list[dict[str, object]],
) -> None:
    model = models[code]
    await store.ingest_rows(pool, client, model, rows, carrying=carrying(model, models))


async def assert_copies_right(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel]
) -> dict[str, str | None]:
    """Each line's copy equals its order's status (NULL without one), and the rollups equal
    the raw rows; returns the copies by line."""
    rows = await pool.fetch(
        """
        SELECT l.order_line_id, l.order__status,
               (SELECT o.status FROM scor_data.orders AS o
                WHERE o.client_id = l.client_id AND o.order_id = l.order_id LIMIT 1) AS joined
        FROM scor_data.order_lines AS l WHERE l.client_id = $1
        """,
        client,
    )
    assert [(r["order_line_id"], r["order__status"]) for r in rows] == [
        (r["order_line_id"], r["joined"]) for r in rows
    ]
    await assert_rollup_matches_raw(pool, models["ORDER_LINE"], client)
    return {r["order_line_id"]: r["order__status"] for r in rows}


async def line_version(pool: asyncpg.Pool, client: str) -> int:
    version = await pool.fetchval(
        "SELECT version FROM analytics.data_versions WHERE client_id = $1 "
        "AND object_model_code = 'ORDER_LINE'",
        client,
    )
    return int(version or 0)


def test_orders_and_their_lines_share_one_writers_lock(models: dict[str, ObjectModel]) -> None:
    assert writers_lock_code(models["ORDER_LINE"]) == writers_lock_code(models["ORDER"]) == "ORDER"
    assert writers_lock_code(models["SHIPMENT"]) == "SHIPMENT"


async def test_copies_follow_their_orders_through_every_write(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel]
) -> None:
    await write(pool, client, models, "ORDER", [order(1, "open"), order(2, "open")])
    # l1 and l2 find their orders; l3 and l4 arrive before theirs.
    await write(pool, client, models, "ORDER_LINE",
                [line(1, 1, 10, 10), line(2, 2, 8, 5), line(3, 3, 6, 6), line(4, 4, 4, 0)])
    assert await assert_copies_right(pool, client, models) == {
        "l1": "open", "l2": "open", "l3": None, "l4": None}
    version = await line_version(pool, client)

    # Order 3 arrives (its line was waiting), order 1 ships, order 2 is re-sent unchanged.
    await write(pool, client, models, "ORDER",
                [order(1, "shipped"), order(2, "open"), order(3, "cancelled")])
    assert await assert_copies_right(pool, client, models) == {
        "l1": "shipped", "l2": "open", "l3": "cancelled", "l4": None}
    assert await line_version(pool, client) == version + 1
    outbox = await pool.fetchrow(
        "SELECT range_start, range_end, row_count FROM analytics.change_outbox "
        "WHERE client_id = $1 AND object_model_code = 'ORDER_LINE' ORDER BY id DESC LIMIT 1",
        client,
    )
    assert outbox is not None and outbox["row_count"] == 2  # l1 and l3 moved
    assert outbox["range_start"] <= START + datetime.timedelta(hours=1)
    assert outbox["range_end"] > START + datetime.timedelta(hours=3)

    # A line re-sent keeps its copy; nothing moves when no copied field changes.
    await write(pool, client, models, "ORDER_LINE", [line(1, 1, 10, 9)])
    await write(pool, client, models, "ORDER", [order(2, "open")])
    assert (await assert_copies_right(pool, client, models))["l1"] == "shipped"

    # The orders are deleted: every copy is cleared, the rollups follow.
    await store.delete_client_rows(
        pool, client, models["ORDER"], carrying=carrying(models["ORDER"], models)
    )
    assert set((await assert_copies_right(pool, client, models)).values()) == {None}


async def test_bulk_loads_fill_the_copies_either_way_round(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel]
) -> None:
    lines_model, orders_model = models["ORDER_LINE"], models["ORDER"]
    line_columns = ("order_line_id", "order_id", "line_number", "product_id", "quantity",
                    "shipped_quantity", "unit_price", "extended_price", "extended_cost",
                    "created_at", "extended_list_price")

    def typed_line(number: int, order_number: int) -> tuple[object, ...]:
        return (f"l{number}", f"o{order_number}", 1, "p1", Decimal(5), Decimal(4), Decimal(1),
                Decimal(5), Decimal(3), START + datetime.timedelta(hours=number), Decimal(6))

    # Lines first: orders 1 and 2 do not exist yet.
    await store.bulk_load(pool, client, lines_model, [typed_line(1, 1), typed_line(2, 2)],
                          line_columns, carrying=carrying(lines_model, models))
    assert set((await assert_copies_right(pool, client, models)).values()) == {None}
    order_columns = ("order_id", "customer_id", "channel", "region", "status", "order_value",
                     "created_at", "promised_at")
    await store.bulk_load(
        pool, client, orders_model,
        [(f"o{n}", "c1", "web", "EU", status, Decimal(1), START, START) for n, status in
         ((1, "delivered"), (2, "cancelled"))],
        order_columns, carrying=carrying(orders_model, models),
    )
    assert await assert_copies_right(pool, client, models) == {"l1": "delivered",
                                                                "l2": "cancelled"}
    # Then lines of existing orders.
    await store.bulk_load(pool, client, lines_model, [typed_line(3, 1)], line_columns,
                          carrying=carrying(lines_model, models))
    assert (await assert_copies_right(pool, client, models))["l3"] == "delivered"


async def test_a_fill_rate_over_months_reads_the_rollups_and_equals_the_join(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel]
) -> None:
    statuses = ["open", "shipped", "delivered", "cancelled"]
    await write(pool, client, models, "ORDER",
                [order(n, statuses[n % 4], days=n % 40) for n in range(60)])
    await write(pool, client, models, "ORDER_LINE",
                [line(n, n % 70, 10 + n % 7, 10 + n % 7 - n % 3) for n in range(200)])
    await write(pool, client, models, "ORDER",
                [order(n, "delivered", days=n % 40) for n in range(0, 60, 4)])
    await assert_copies_right(pool, client, models)

    status = q.FieldRef("status", ("order",))
    kept = q.Compare(status, q.Comparator.NE, q.Literal("cancelled"))
    shipped = q.InList(status, ("shipped", "delivered"))
    short = q.Compare(q.FieldRef("shipped_quantity"), q.Comparator.LT, q.FieldRef("quantity"))
    query = q.AggregateQuery(
        "fill", "ORDER_LINE",
        q.TimeRange(START - datetime.timedelta(days=1), START + datetime.timedelta(days=60)),
        (
            q.Measure("shipped", q.AggregateFunction.SUM, q.FieldRef("shipped_quantity"), kept),
            q.Measure("ordered", q.AggregateFunction.SUM, q.FieldRef("quantity"), kept),
            q.Measure("backordered", q.AggregateFunction.COUNT, None, q.AllOf((shipped, short))),
            q.Measure("lines", q.AggregateFunction.COUNT, None, shipped),
        ),
        bucket=q.Period.DAY,
        group_by=(q.Dimension("status", status),),
    )
    request = q.AggregateRequest(client, (query,))
    (copied,) = await AggregateReader(pool, models).query(request)
    assert copied.used_rollups
    (joined,) = await AggregateReader(pool, without_carried_fields(models)).query(request)
    assert not joined.used_rollups
    assert copied.rows == joined.rows
    assert sum(row.row_count for row in copied.rows) == 200


def invoice(number: int, issued: datetime.date, due: datetime.date) -> dict[str, object]:
    return {"invoice_id": f"i{number}", "customer_id": "c1", "status": "open",
            "amount": "100.00", "currency": "USD", "issue_date": issued.isoformat(),
            "due_date": due.isoformat()}


def payment(number: int, invoice_number: int, credited: datetime.date) -> dict[str, object]:
    received = START + datetime.timedelta(hours=number)
    return {"payment_id": f"p{number}", "invoice_id": f"i{invoice_number}",
            "amount": f"{10 * number}.00", "method": "wire", "received_at": received.isoformat(),
            "value_date": credited.isoformat()}


async def test_payments_flags_and_weighted_days_move_with_their_invoices_dates(
    pool: asyncpg.Pool, client: str, models: dict[str, ObjectModel]
) -> None:
    """The values derived from copies (on time, days to collect weighted by amount) move with
    the copies, in the rows and in the rollups."""
    assert writers_lock_code(models["PAYMENT"]) == "INVOICE"
    day = START.date()

    async def derived() -> dict[str, tuple[object, ...]]:
        await assert_rollup_matches_raw(pool, models["PAYMENT"], client)
        rows = await pool.fetch(
            "SELECT payment_id, collected_on_time, amount_seconds_to_collect / 86400 AS days,"
            " amount_seconds_past_due / 86400 AS late FROM financial_data.payments"
            " WHERE client_id = $1 ORDER BY payment_id", client)
        return {r["payment_id"]: (r["collected_on_time"], r["days"], r["late"]) for r in rows}

    await write(pool, client, models, "INVOICE",
                [invoice(1, day - datetime.timedelta(days=30), day)])
    # p2 arrives before its invoice: nothing is derived until it does.
    await write(pool, client, models, "PAYMENT", [payment(1, 1, day), payment(2, 2, day)])
    assert await derived() == {"p1": (True, 300, 0), "p2": (None, None, None)}

    await write(pool, client, models, "INVOICE", [
        invoice(2, day - datetime.timedelta(days=10), day - datetime.timedelta(days=2))])
    assert await derived() == {"p1": (True, 300, 0), "p2": (False, 200, 40)}

    # Invoice 1's due date moves back a day: p1 turns late.
    await write(pool, client, models, "INVOICE", [
        invoice(1, day - datetime.timedelta(days=30), day - datetime.timedelta(days=1))])
    assert await derived() == {"p1": (False, 300, 10), "p2": (False, 200, 40)}


async def test_plans_made_on_empty_partitions_still_probe_one_row_per_row_sent(
    fresh_database: str, models: dict[str, ObjectModel]
) -> None:
    # A connection keeps its ingest statements' generic plans; a plan made while a partition was
    # empty (a new month) must still find each row's stored row and related order through the
    # natural-key index once the partition fills, not scan the partition or the orders of the
    # window again for every row sent.
    await apply_migrations(fresh_database)
    client, batches, size = "filling", 4, 150
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=1) as one_connection:
        for batch in range(batches):
            numbers = range(batch * size, (batch + 1) * size)
            await write(one_connection, client, models, "ORDER",
                        [order(number, "open", days=number / 1000) for number in numbers])
            # The lines' plan is made with the first batch, before any line is stored.
            await write(one_connection, client, models, "ORDER_LINE",
                        [_line_of(number) for number in numbers])
        await one_connection.execute("SELECT pg_stat_force_next_flush()")
        lines_written = batches * size
        before = await _scan_counters(one_connection, client, lines_written)
        for batch in range(batches):  # the same lines again, changed: each finds its stored row
            numbers = range(batch * size, (batch + 1) * size)
            await write(one_connection, client, models, "ORDER_LINE",
                        [_line_of(number, shipped=1) for number in numbers])
        await one_connection.execute("SELECT pg_stat_force_next_flush()")
        after = await _scan_counters(one_connection, client, 2 * lines_written)
        await assert_copies_right(one_connection, client, models)
    # Probing by natural key reads a row or two per row sent; a scan per row sent would read
    # every stored row again for each (here hundreds of times as many). The lines' lookups of
    # their orders ran before `before`, their updates (the stored rows' probes) after it.
    assert before["orders_by_time_read"] < lines_written
    assert after["lines_seq_read"] - before["lines_seq_read"] < lines_written
    assert after["lines_other_index_read"] - before["lines_other_index_read"] < lines_written


def _line_of(number: int, shipped: int = 0) -> dict[str, object]:
    row = line(number, number, 5, 5 - shipped)
    row["created_at"] = (START + datetime.timedelta(days=number / 1000)).isoformat()
    return row


async def _scan_counters(
    pool: asyncpg.Pool, client: str, lines_expected: int = 0
) -> dict[str, int]:
    """Rows read by sequential scans of order lines, through the orders' (client, time) index
    and through the order lines' indexes other than their natural key, once the statistics
    show `lines_expected` line writes (inserts and updates)."""
    async with pool.acquire() as reader:
        for _ in range(100):
            await reader.execute("SELECT pg_stat_clear_snapshot()")
            counters = await reader.fetchrow(
                """
                SELECT COALESCE(sum(t.seq_tup_read) FILTER (WHERE t.relname LIKE 'order_lines_p%'),
                                0) AS lines_seq_read,
                       COALESCE(sum(t.n_tup_ins + t.n_tup_upd)
                                FILTER (WHERE t.relname LIKE 'order_lines_p%'), 0) AS lines_written,
                       (SELECT COALESCE(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes AS i
                        WHERE i.relname LIKE 'orders_p%' AND i.indexrelname LIKE $1
                       ) AS orders_by_time_read,
                       (SELECT COALESCE(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes AS i
                        WHERE i.relname LIKE 'order_lines_p%' AND i.indexrelname NOT LIKE $2
                       ) AS lines_other_index_read
                FROM pg_stat_user_tables AS t WHERE t.schemaname = 'scor_data'
                """,
                "%client_id_created_at%",
                "%order_line_id%",
            )
            assert counters is not None
            if counters["lines_written"] >= lines_expected:
                return {key: int(value) for key, value in counters.items()}
            await asyncio.sleep(0.1)
    raise AssertionError(f"the statistics never showed {lines_expected} line writes of {client}")
