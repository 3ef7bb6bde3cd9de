"""Derived fields against a real PostgreSQL: the derived column answers exactly what the comparison
it stands for answers (absent values, equal values, both directions, under NOT), from raw rows and
from the rollups alike; ingest and COPY keep the columns and the rollups right; the migration
brings an existing database's rows and rollups along. Expectations are computed in Python from the
rows' field values, never from the derived column."""

from __future__ import annotations

import datetime
import pathlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from analytics_engine.migrations import apply_migrations
from services.aggregates import query as q
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, ObjectModel
from services.data import store
from services.data.sql_builder import build_statement
from services.errors import InvalidArgument
from tests.fixtures.postgres import migrations_before

UTC = datetime.UTC
DAY0 = datetime.datetime(2026, 3, 2, tzinfo=UTC)
SPAN = q.TimeRange(DAY0, DAY0 + datetime.timedelta(days=8))
HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


@pytest.fixture(scope="module")
def models(catalog: Catalog) -> dict[str, ObjectModel]:
    return {model.code: model for model in catalog.object_models}


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool:
        yield pool


@pytest.fixture
def client() -> str:
    return f"derived-{uuid.uuid4().hex[:10]}"


# Delivery against promise: early, exactly on the promise (<= holds, < does not), late, never.
OFFSETS: tuple[datetime.timedelta | None, ...] = (-HOUR, datetime.timedelta(0), HOUR, None)


def an_order(number: int, delivery: datetime.timedelta | None, **changes: Any) -> dict[str, Any]:
    created = DAY0 + datetime.timedelta(days=number % 7, minutes=number)
    promised = created + datetime.timedelta(days=2)
    row = {
        "order_id": f"SO-{number}",
        "customer_id": "C-1",
        "channel": ("web", "edi")[number % 2],
        "region": "EU",
        "status": "delivered" if delivery is not None else ("open", "shipped")[number % 2],
        "order_value": Decimal(10 + number % 5),
        "created_at": created,
        "promised_at": promised,
        "delivered_at": None if delivery is None else promised + delivery,
        "delivered_in_full": number % 3 != 0,
        "delivered_damage_free": True,
        "documentation_accurate": number % 4 != 0,
    }
    row.update(changes)
    return row


def some_orders(count: int = 60) -> list[dict[str, Any]]:
    return [an_order(n, OFFSETS[n % len(OFFSETS)]) for n in range(count)]


def wire(row: dict[str, Any]) -> dict[str, Any]:
    """The row as a client sends it (JSON values)."""
    return {k: v.isoformat() if isinstance(v, datetime.datetime) else
            str(v) if isinstance(v, Decimal) else v for k, v in row.items()}


def on_time(row: dict[str, Any]) -> bool | None:
    """delivered_at <= promised_at in SQL's three-valued logic, from the field values."""
    if row["delivered_at"] is None or row["promised_at"] is None:
        return None
    return bool(row["delivered_at"] <= row["promised_at"])


def negated(value: bool | None) -> bool | None:
    return None if value is None else not value


def f(name: str) -> q.FieldRef:
    return q.FieldRef(name)


WRITTEN = q.Compare(f("delivered_at"), q.Comparator.LE, f("promised_at"))
MIRRORED = q.Compare(f("promised_at"), q.Comparator.GE, f("delivered_at"))
# What each filter holds for a row, from its field values.
FORMS: list[tuple[str, q.Filter, Callable[[dict[str, Any]], bool | None]]] = [
    ("written", WRITTEN, on_time),
    ("mirrored", MIRRORED, on_time),
    ("not written", q.Not(WRITTEN), lambda row: negated(on_time(row))),
    ("not mirrored", q.Not(MIRRORED), lambda row: negated(on_time(row))),
    ("with dimensions", q.AllOf((WRITTEN, q.Compare(f("status"), q.Comparator.EQ,
                                                     q.Literal("delivered")))),
     lambda row: on_time(row) and row["status"] == "delivered"),
]


Answer = tuple[bool, list[tuple[Any, ...]]]


async def run(pool: asyncpg.Pool, models: dict[str, ObjectModel], client: str,
              query: q.AggregateQuery, *, allow_rollups: bool) -> Answer:
    """Whether the rollups answered, and per day the bucket and each measure."""
    statement = build_statement(query, models, client_id=client, allow_rollups=allow_rollups)
    records = await pool.fetch(statement.sql, *statement.params)
    columns = [f"m{index}" for index in range(len(query.measures))]
    return statement.used_rollups, [
        (r["bucket_start"], *(None if r[c] is None else Decimal(r[c]) for c in columns))
        for r in records
    ]


def per_day(rows: list[dict[str, Any]],
            holds: Callable[[dict[str, Any]], bool | None]) -> list[tuple[Any, ...]]:
    days = Counter(r["created_at"].replace(hour=0, minute=0) for r in rows)
    hits = Counter(r["created_at"].replace(hour=0, minute=0) for r in rows if holds(r) is True)
    return [(day, Decimal(days[day]), Decimal(hits[day])) for day in sorted(days)]


def counted(where: q.Filter) -> q.AggregateQuery:
    return q.AggregateQuery(
        "q", "ORDER", SPAN,
        (q.Measure("n", q.AggregateFunction.COUNT),
         q.Measure("hit", q.AggregateFunction.COUNT, filter=where)),
        bucket=q.Period.DAY,
    )


async def test_the_derived_column_answers_exactly_what_the_comparison_does(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], client: str
) -> None:
    rows = some_orders()
    await store.ingest_rows(pool, client, models["ORDER"], [wire(r) for r in rows])
    for name, where, holds in FORMS:
        expected = per_day(rows, holds)
        assert any(hit for _, _, hit in expected), name
        for allow_rollups in (True, False):
            used, answer = await run(pool, models, client, counted(where),
                                     allow_rollups=allow_rollups)
            assert used is allow_rollups, name
            assert answer == expected, (name, allow_rollups)
    # The comparison itself, in plain SQL over the fields, agrees as well.
    plain = await pool.fetchval(
        "SELECT count(*) FILTER (WHERE NOT (delivered_at <= promised_at)) FROM scor_data.orders "
        "WHERE client_id = $1", client)
    used, answer = await run(pool, models, client, counted(q.Not(WRITTEN)), allow_rollups=True)
    assert used and sum(hit for _, _, hit in answer) == plain


async def test_scor_pof_from_the_rollups_equals_the_raw_rows(
    pool: asyncpg.Pool, catalog: Catalog, models: dict[str, ObjectModel], client: str
) -> None:
    rows = some_orders(120)
    await store.ingest_rows(pool, client, models["ORDER"], [wire(r) for r in rows])
    compiled = compile_kpi("SCOR_POF", FormulaCatalog.from_catalog(catalog))
    query = q.AggregateQuery("q", "ORDER", SPAN, compiled.measures["ORDER"],
                             bucket=q.Period.DAY)
    rolled_used, rolled = await run(pool, models, client, query, allow_rollups=True)
    raw_used, raw = await run(pool, models, client, query, allow_rollups=False)
    assert rolled_used and not raw_used
    assert rolled == raw
    perfect = Counter(
        r["created_at"].replace(hour=0, minute=0) for r in rows
        if r["status"] == "delivered" and on_time(r) and r["delivered_in_full"]
        and r["delivered_damage_free"] and r["documentation_accurate"]
    )
    expected = [Decimal(perfect[day]) for day, *_ in rolled]
    assert any(expected), "some order is perfect"
    # One of the formula's measures is the count of perfect orders, day by day.
    assert expected in [[row[index] for row in rolled] for index in range(1, len(rolled[0]))]


async def test_ingest_keeps_derived_columns_and_rollups_right_through_updates(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], client: str
) -> None:
    order = models["ORDER"]
    rows = some_orders(40)
    await store.ingest_rows(pool, client, order, [wire(r) for r in rows])
    # Every row moves: early -> late, on the promise -> never delivered, late -> early, never
    # delivered -> on the promise.
    moved = [shifted(r) for r in rows]
    result = await store.ingest_rows(pool, client, order, [wire(r) for r in moved])
    assert result.accepted_row_count == len(rows)
    # A re-send changes nothing.
    again = await store.ingest_rows(pool, client, order, [wire(r) for r in moved])
    assert again.duplicate_row_count == len(rows)
    await assert_derived_state(pool, order, client, moved)


def shifted(row: dict[str, Any]) -> dict[str, Any]:
    delivered = row["delivered_at"]
    offset = None if delivered is None else delivered - row["promised_at"]
    new = OFFSETS[(OFFSETS.index(offset) + 2) % len(OFFSETS)]
    return {**row, "delivered_at": None if new is None else row["promised_at"] + new,
            "status": "shipped" if new is None else "delivered"}


async def test_bulk_load_computes_derived_columns_and_their_rollups(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], client: str
) -> None:
    order = models["ORDER"]
    rows = some_orders(200)
    columns = [field.name for field in order.fields if field.name in rows[0]]
    loaded = await store.bulk_load(pool, client, order,
                                   [[r[c] for c in columns] for r in rows], columns)
    assert loaded == len(rows)
    await assert_derived_state(pool, order, client, rows)


async def assert_derived_state(pool: asyncpg.Pool, order: ObjectModel, client: str,
                               rows: list[dict[str, Any]]) -> None:
    stored = {r["order_id"]: r["delivered_on_time"] for r in await pool.fetch(
        "SELECT order_id, delivered_on_time FROM scor_data.orders WHERE client_id = $1", client)}
    assert stored == {r["order_id"]: on_time(r) for r in rows}
    assert set(stored.values()) == {True, False, None}
    # The rollup, grouped by minute, status and on-time-ness (other dimensions summed away).
    expected = Counter(
        (r["created_at"].replace(second=0), r["status"], on_time(r)) for r in rows
    )
    rollup = await pool.fetch(
        "SELECT bucket, status, delivered_on_time, sum(row_count)::bigint AS n "
        "FROM scor_data.orders__minute WHERE client_id = $1 GROUP BY 1, 2, 3",
        client)
    assert {(r["bucket"], r["status"], r["delivered_on_time"]): r["n"] for r in rollup} == dict(
        expected)


async def test_clients_never_send_derived_fields(
    pool: asyncpg.Pool, models: dict[str, ObjectModel], client: str
) -> None:
    order = models["ORDER"]
    sent = {**wire(an_order(1, HOUR)), "delivered_on_time": True}
    with pytest.raises(InvalidArgument) as refused:
        await store.ingest_rows(pool, client, order, [sent])
    assert [v.field for v in refused.value.violations] == ["rows[0].delivered_on_time"]
    columns = ["order_id", "customer_id", "channel", "region", "status", "order_value",
               "created_at", "promised_at", "delivered_on_time"]
    with pytest.raises(InvalidArgument) as refused:
        await store.bulk_load(pool, client, order, [], columns)
    assert [v.field for v in refused.value.violations] == ["columns"]
    assert await pool.fetchval(
        "SELECT count(*) FROM scor_data.orders WHERE client_id = $1", client) == 0


# -- the migration ----------------------------------------------------------------------------


async def test_the_migration_brings_existing_rows_and_rollups_along(
    fresh_database: str, tmp_path: pathlib.Path
) -> None:
    # A database as it was before derived fields: migrations up to 0010.
    await apply_migrations(fresh_database, migrations_before("0011", tmp_path / "sql"))
    rows = some_orders(50)
    connection = await asyncpg.connect(fresh_database)
    try:
        names = list(rows[0])
        await connection.executemany(
            f"INSERT INTO scor_data.orders (client_id, {', '.join(names)}) VALUES "
            f"({', '.join(f'${n}' for n in range(1, len(names) + 2))})",
            [("old", *r.values()) for r in rows],
        )
        await connection.execute(
            "INSERT INTO scor_data.orders__minute (client_id, bucket, channel, status, "
            "delivered_in_full, delivered_damage_free, documentation_accurate, row_count, "
            "sum__order_value) SELECT client_id, date_trunc('minute', created_at), channel, "
            "status, delivered_in_full, delivered_damage_free, documentation_accurate, count(*), "
            "sum(order_value) FROM scor_data.orders GROUP BY 1, 2, 3, 4, 5, 6, 7")
        applied = await apply_migrations(fresh_database)
        assert "0012_derived_field_columns.sql" in applied
        stored = {r["order_id"]: r["delivered_on_time"] for r in await connection.fetch(
            "SELECT order_id, delivered_on_time FROM scor_data.orders")}
        assert stored == {r["order_id"]: on_time(r) for r in rows}
        expected = Counter((r["created_at"].replace(second=0), r["channel"], r["status"],
                            r["delivered_in_full"], r["documentation_accurate"], on_time(r))
                           for r in rows)
        rollup = await connection.fetch(
            "SELECT bucket, channel, status, delivered_in_full, documentation_accurate, "
            "delivered_on_time, row_count FROM scor_data.orders__minute")
        assert {tuple(r.values())[:-1]: r["row_count"] for r in rollup} == dict(expected)
    finally:
        await connection.close()


async def test_a_month_moved_out_of_the_default_partition_keeps_its_derived_column(
    fresh_database: str,
) -> None:
    await apply_migrations(fresh_database)
    far = datetime.datetime.now(UTC).replace(day=1, hour=12, minute=0, second=0,
                                             microsecond=0) + datetime.timedelta(days=200)
    row = an_order(3, -HOUR, created_at=far, promised_at=far + datetime.timedelta(days=2))
    row["delivered_at"] = row["promised_at"] - HOUR
    connection = await asyncpg.connect(fresh_database)
    try:
        names = list(row)
        await connection.execute(
            f"INSERT INTO scor_data.orders (client_id, {', '.join(names)}) VALUES "
            f"({', '.join(f'${n}' for n in range(1, len(names) + 2))})", "c", *row.values())
        home = "SELECT tableoid::regclass::text FROM scor_data.orders WHERE order_id = 'SO-3'"
        assert await connection.fetchval(home) == "scor_data.orders_default"
        created = await connection.fetchval(
            "SELECT public.ensure_time_series_partitions('scor_data', 'orders', 0, 9)")
        assert created > 0
        assert await connection.fetchval(home) == f"scor_data.orders_p{far:%Y%m}"
        assert await connection.fetchval(
            "SELECT delivered_on_time FROM scor_data.orders WHERE order_id = 'SO-3'") is True
        # The moved month's partition computes the column for new rows too.
        late = {**row, "order_id": "SO-4", "delivered_at": row["promised_at"] + HOUR}
        await connection.execute(
            f"INSERT INTO scor_data.orders (client_id, {', '.join(names)}) VALUES "
            f"({', '.join(f'${n}' for n in range(1, len(names) + 2))})", "c", *late.values())
        assert await connection.fetchval(
            "SELECT delivered_on_time FROM scor_data.orders WHERE order_id = 'SO-4'") is False
    finally:
        await connection.close()
