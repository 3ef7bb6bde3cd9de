"""A field added to an object model whose tables already hold rows: the migration gives the stored
rows a value and the rollups the field's sums, against a real PostgreSQL."""

from __future__ import annotations

import datetime
import pathlib
from decimal import Decimal

import asyncpg

from analytics_engine.migrations import DEFAULT_SQL_DIR, apply_migrations
from tests.fixtures.postgres import migrations_before

ADDING = "0017_order_line_list_value.sql"
AT = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC)


async def test_order_lines_stored_before_the_list_value_get_it_from_their_product(
    fresh_database: str, tmp_path: pathlib.Path
) -> None:
    await apply_migrations(fresh_database, migrations_before(ADDING, tmp_path / "sql"))
    connection = await asyncpg.connect(fresh_database)
    try:
        # p1 was repriced: the lines are valued at its latest list price. p9 is unknown.
        await connection.executemany(
            'INSERT INTO scor_data.products (client_id, product_id, name, category, unit_cost,'
            ' list_price, active, created_at) VALUES ($1, $2, $2, $3, 1, $4, true, $5)',
            [("c1", "p1", "tools", Decimal("10"), AT - datetime.timedelta(days=90)),
             ("c1", "p1", "tools", Decimal("12"), AT - datetime.timedelta(days=30)),
             ("c2", "p1", "tools", Decimal("99"), AT - datetime.timedelta(days=30))],
        )
        await connection.executemany(
            'INSERT INTO scor_data.order_lines (client_id, order_line_id, order_id, line_number,'
            ' product_id, quantity, shipped_quantity, unit_price, extended_price, extended_cost,'
            ' created_at) VALUES ($1, $2, $3, 1, $4, $5::numeric, $5::numeric, 9,'
            ' $5::numeric * 9, $5::numeric, $6)',
            [("c1", "l1", "o1", "p1", Decimal(3), AT),
             ("c1", "l2", "o2", "p9", Decimal(4), AT + datetime.timedelta(seconds=20)),
             ("c1", "l3", "o3", "p1", Decimal(5), AT + datetime.timedelta(hours=1))],
        )
        applied = await apply_migrations(fresh_database, DEFAULT_SQL_DIR)
        assert applied[0] == ADDING
        lines = await connection.fetch(
            "SELECT order_line_id, extended_list_price FROM scor_data.order_lines")
        values = {line["order_line_id"]: line["extended_list_price"] for line in lines}
        assert values == {"l1": Decimal(36), "l2": Decimal(36), "l3": Decimal(60)}
        column = await connection.fetchval(
            "SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'scor_data'"
            " AND table_name = 'order_lines' AND column_name = 'extended_list_price'")
        assert column == "NO"
        minutes = await connection.fetch(
            "SELECT bucket, sum(row_count) AS n, sum(sum__extended_list_price) AS listed"
            " FROM scor_data.order_lines__minute GROUP BY bucket ORDER BY bucket")
        assert [(m["bucket"], m["n"], m["listed"]) for m in minutes] == [
            (AT, 2, Decimal(72)), (AT + datetime.timedelta(hours=1), 1, Decimal(60))]
        hours = await connection.fetch(
            "SELECT bucket, sum(sum__extended_list_price) AS listed"
            " FROM scor_data.order_lines__hour GROUP BY bucket ORDER BY bucket")
        assert [(h["bucket"], h["listed"]) for h in hours] == [
            (AT.replace(minute=0), Decimal(72)), (AT.replace(minute=0, hour=10), Decimal(60))]
    finally:
        await connection.close()
