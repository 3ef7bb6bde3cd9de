"""Lookup joins against a real PostgreSQL: a short read that finds each row's related row by
lookup (within the relationship's usual time window first, then anywhere) answers exactly what
the plain join answers: related rows inside and outside the window, missing ones, and another
client's rows with the same keys."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest

from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import sql_builder, store
from services.data.aggregates import AggregateReader
from services.data.carried_copies import carrying
from tests.fixtures.catalog_variants import without_carried_fields

UTC = datetime.UTC
DAY = datetime.datetime(2026, 9, 30, tzinfo=UTC)


def at(hour: int, minute: int = 0, day_offset: int = 0) -> datetime.datetime:
    return DAY + datetime.timedelta(days=day_offset, hours=hour, minutes=minute)


def order(order_id: str, status: str, created_at: datetime.datetime) -> dict[str, object]:
    return {
        "order_id": order_id,
        "customer_id": "c1",
        "channel": "web",
        "region": "EU",
        "status": status,
        "order_value": Decimal("10.00"),
        "created_at": created_at,
        "promised_at": created_at + datetime.timedelta(days=3),
    }


def line(
    line_id: str, order_id: str, quantity: int, created_at: datetime.datetime
) -> dict[str, object]:
    return {
        "order_line_id": line_id,
        "order_id": order_id,
        "line_number": 1,
        "product_id": "p1",
        "quantity": Decimal(quantity),
        "shipped_quantity": Decimal(quantity),
        "unit_price": Decimal("1.00"),
        "extended_price": Decimal(quantity),
        "extended_cost": Decimal("0.50") * quantity,
        "created_at": created_at,
        "extended_list_price": Decimal("1.25") * quantity,
    }


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(migrated_db, min_size=1, max_size=4)
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


@pytest.fixture(scope="module")
def joined(models: dict[str, ObjectModel]) -> dict[str, ObjectModel]:
    """The catalog without carried fields: order lines read their order's status by joining it
    (the machinery under test), not from the copy they keep (see test_carried_copies)."""
    return without_carried_fields(models)


async def ingest_a_day(pool: asyncpg.Pool, models: dict[str, ObjectModel]) -> str:
    """A client's orders and order lines of DAY (and another client's orders with the same
    keys); returns the client."""
    client, other = f"lookup-{uuid.uuid4().hex[:8]}", f"lookup-other-{uuid.uuid4().hex[:8]}"
    orders, lines = models["ORDER"], models["ORDER_LINE"]
    await store.ingest_rows(
        pool,
        client,
        orders,
        carrying=carrying(orders, models),
        rows=[
            order("o1", "delivered", at(1)),
            order("o2", "cancelled", at(2)),
            # Entered 40 days before its line: outside the relationship's window (7 days
            # before, 1 after), in a partition the day's range does not cover.
            order("o4", "shipped", at(5, day_offset=-40)),
            # Entered after its line, within the window's day after.
            order("o5", "delivered", at(12)),
        ],
    )
    # The other client has the same order keys with other statuses.
    await store.ingest_rows(
        pool,
        other,
        orders,
        [order(oid, "open", at(1)) for oid in ("o1", "o2", "o3", "o4", "o6")],
        carrying=carrying(orders, models),
    )
    await store.ingest_rows(
        pool,
        client,
        lines,
        carrying=carrying(lines, models),
        rows=[
            line("l1", "o1", 5, at(3)),
            line("l2", "o1", 7, at(4)),
            line("l3", "o2", 11, at(4)),
            line("l4", "o3", 13, at(5)),  # no such order for this client
            line("l5", "o4", 17, at(6)),
            line("l6", "o5", 19, at(11)),
            line("l7", "o6", 23, at(12)),  # o6 exists only for the other client
        ],
    )
    return client


async def test_lookup_join_answers_what_the_plain_join_answers(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], joined: dict[str, ObjectModel],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await ingest_a_day(pool, models)
    status = q.FieldRef("status", ("order",))
    request = q.AggregateRequest(
        client,
        (
            q.AggregateQuery(
                "lines",
                "ORDER_LINE",
                q.TimeRange(DAY, DAY + datetime.timedelta(days=1)),
                (
                    q.Measure("n", q.AggregateFunction.COUNT),
                    q.Measure(
                        "kept",
                        q.AggregateFunction.SUM,
                        q.FieldRef("quantity"),
                        q.Compare(status, q.Comparator.NE, q.Literal("cancelled")),
                    ),
                ),
                group_by=(q.Dimension("status", status),),
            ),
        ),
    )
    reader = AggregateReader(pool, joined)

    def answer_of(result: q.AggregateResult) -> dict[object, tuple[object, object]]:
        return {
            row.dimensions["status"]: (row.measures["n"], row.measures["kept"])
            for row in result.rows
        }

    window = models["ORDER_LINE"].relationship("order")
    assert window is not None and window.target_time_window is not None
    built = sql_builder.build_statement(request.queries[0], joined, client_id=client)
    assert "LEFT JOIN LATERAL" in built.sql
    (by_lookup,) = await reader.query(request)
    monkeypatch.setattr(sql_builder, "LOOKUP_JOIN_MAX_SPAN", datetime.timedelta(0))
    plain = sql_builder.build_statement(request.queries[0], joined, client_id=client)
    assert "LATERAL" not in plain.sql
    (by_hash,) = await reader.query(request)

    expected = {
        "delivered": (3, 31.0),  # l1, l2 (o1) and l6 (o5, entered after its line)
        "cancelled": (1, None),  # l3: counted, its quantity filtered out
        "shipped": (1, 17.0),  # l5: its order lies outside the window, found anyway
        None: (2, None),  # l4, l7: no order of this client (NULL <> 'cancelled' is not true)
    }
    assert answer_of(by_lookup) == answer_of(by_hash)
    # The copies the lines keep of their order's status answer the same, joining nothing.
    copied = sql_builder.build_statement(request.queries[0], models, client_id=client)
    assert "JOIN" not in copied.sql.replace("JOIN generate_series", "")
    (by_copy,) = await AggregateReader(pool, models).query(request)
    assert answer_of(by_copy) == answer_of(by_lookup)
    assert {
        key: (int(n), None if kept is None else float(kept))
        for key, (n, kept) in answer_of(by_lookup).items()
    } == expected


async def test_distinct_counts_of_a_total_through_lookup_and_hash_joins(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], joined: dict[str, ObjectModel],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A total's distinct counts run in a subquery of their own, with their own joins: by
    lookup for a short read, by hash for a long one, the same answer."""
    client = await ingest_a_day(pool, models)
    status = q.FieldRef("status", ("order",))
    query = q.AggregateQuery(
        "lines",
        "ORDER_LINE",
        q.TimeRange(DAY, DAY + datetime.timedelta(days=1)),
        (
            q.Measure("n", q.AggregateFunction.COUNT),
            q.Measure(
                "orders_kept",
                q.AggregateFunction.COUNT_DISTINCT,
                q.FieldRef("order_id"),
                q.Compare(status, q.Comparator.NE, q.Literal("cancelled")),
            ),
            # The value itself through the relationship; lines without an order have none.
            q.Measure("statuses", q.AggregateFunction.COUNT_DISTINCT, status),
        ),
    )
    request = q.AggregateRequest(client, (query,))
    reader = AggregateReader(pool, joined)
    built = sql_builder.build_statement(query, joined, client_id=client)
    assert "distinct_values" in built.sql and "LEFT JOIN LATERAL" in built.sql
    (by_lookup,) = await reader.query(request)
    monkeypatch.setattr(sql_builder, "LOOKUP_JOIN_MAX_SPAN", datetime.timedelta(0))
    assert "LATERAL" not in sql_builder.build_statement(query, joined, client_id=client).sql
    (by_hash,) = await reader.query(request)
    # o1 (l1, l2), o4 (outside the window) and o5 (after its line); o2 is cancelled, o3 and o6
    # are not this client's. Statuses: delivered, cancelled, shipped.
    expected = {"n": 7, "orders_kept": 3, "statuses": 3}
    assert by_lookup.rows[0].measures == by_hash.rows[0].measures == expected


async def test_a_client_without_related_rows_finds_none_by_lookup(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], joined: dict[str, ObjectModel],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookups are kept within the span of the client's related rows; a client that has
    none (its lines stream in, its orders were never loaded) finds none, as the plain join
    does, while another client's orders have the same keys."""
    client, other = f"lookup-{uuid.uuid4().hex[:8]}", f"lookup-other-{uuid.uuid4().hex[:8]}"
    await store.ingest_rows(
        pool, other, models["ORDER"], [order("o1", "open", at(1))],
        carrying=carrying(models["ORDER"], models),
    )
    await store.ingest_rows(
        pool,
        client,
        models["ORDER_LINE"],
        [line("l1", "o1", 5, at(3)), line("l2", "o2", 7, at(4))],
        carrying=carrying(models["ORDER_LINE"], models),
    )
    status = q.FieldRef("status", ("order",))
    query = q.AggregateQuery(
        "lines",
        "ORDER_LINE",
        q.TimeRange(DAY, DAY + datetime.timedelta(days=1)),
        (
            q.Measure("n", q.AggregateFunction.COUNT),
            q.Measure("found", q.AggregateFunction.COUNT, None, q.Not(q.IsNull(status))),
        ),
        bucket=q.Period.HOUR,
    )
    request = q.AggregateRequest(client, (query,))
    reader = AggregateReader(pool, joined)
    built = sql_builder.build_statement(query, joined, client_id=client)
    assert "LEFT JOIN LATERAL" in built.sql and "AS MATERIALIZED" in built.sql
    (by_lookup,) = await reader.query(request)
    monkeypatch.setattr(sql_builder, "LOOKUP_JOIN_MAX_SPAN", datetime.timedelta(0))
    (by_hash,) = await reader.query(request)

    def answer_of(result: q.AggregateResult) -> list[tuple[object, object, object]]:
        return [(r.bucket_start, r.measures["n"], r.measures["found"]) for r in result.rows]

    assert answer_of(by_lookup) == answer_of(by_hash) == [(at(3), 1, 0), (at(4), 1, 0)]
