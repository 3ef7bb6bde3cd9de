"""Migrations against a real PostgreSQL: applied once and recorded, refused when edited, and
time-series tables that are partitioned when TimescaleDB is absent."""

from __future__ import annotations

import asyncio
import datetime
import pathlib
import shutil
import uuid

import asyncpg
import pytest

from analytics_engine.migrations import (
    DEFAULT_SQL_DIR,
    MigrationError,
    apply_migrations,
    read_migrations,
)

SHIPPED = [migration.file_name for migration in read_migrations(DEFAULT_SQL_DIR)]
DOMAIN_SCHEMAS = {"catalog", "config", "analytics", "archive", "scor_data", "crm_data",
                  "sales_data", "financial_data"}


@pytest.fixture
def sql_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    """A private copy of sql/ that a test may edit."""
    return pathlib.Path(shutil.copytree(DEFAULT_SQL_DIR, tmp_path / "sql"))


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch(query, *args)
    finally:
        await connection.close()


async def test_apply_records_every_file_then_does_nothing(fresh_database: str) -> None:
    assert await apply_migrations(fresh_database) == SHIPPED
    assert await apply_migrations(fresh_database) == []
    rows = await fetch(fresh_database, "SELECT version, name, checksum, applied_at "
                                       "FROM public.schema_migrations ORDER BY version")
    assert [f"{row['version']:04d}_{row['name']}.sql" for row in rows] == SHIPPED
    checksums = {m.version: m.checksum for m in read_migrations(DEFAULT_SQL_DIR)}
    assert all(row["checksum"] == checksums[row["version"]] for row in rows)


async def test_schemas_exist(migrated_db: str) -> None:
    rows = await fetch(migrated_db, "SELECT nspname FROM pg_namespace")
    assert DOMAIN_SCHEMAS <= {row["nspname"] for row in rows}


async def test_edited_migration_is_refused(fresh_database: str, sql_copy: pathlib.Path) -> None:
    await apply_migrations(fresh_database, sql_copy)
    edited = sql_copy / "0001_schemas.sql"
    edited.write_text(edited.read_text() + "\nCREATE SCHEMA IF NOT EXISTS extra;\n")
    with pytest.raises(MigrationError, match=r"0001_schemas\.sql was changed after it was applied"):
        await apply_migrations(fresh_database, sql_copy)


async def test_only_new_files_are_applied(fresh_database: str, sql_copy: pathlib.Path) -> None:
    await apply_migrations(fresh_database, sql_copy)
    (sql_copy / "0999_probe.sql").write_text("CREATE TABLE config.probe (id int PRIMARY KEY);")
    assert await apply_migrations(fresh_database, sql_copy) == ["0999_probe.sql"]


async def test_failing_migration_leaves_nothing_behind(
    fresh_database: str, sql_copy: pathlib.Path
) -> None:
    (sql_copy / "0999_broken.sql").write_text(
        "CREATE TABLE config.half_done (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(MigrationError, match=r"0999_broken\.sql failed: .*no_such_function"):
        await apply_migrations(fresh_database, sql_copy)
    rows = await fetch(fresh_database, "SELECT to_regclass('config.half_done') AS t, "
                                       "(SELECT max(version) FROM public.schema_migrations) AS v")
    assert rows[0]["t"] is None
    assert rows[0]["v"] == read_migrations(DEFAULT_SQL_DIR)[-1].version


async def test_concurrent_callers_apply_once(fresh_database: str) -> None:
    results = await asyncio.gather(apply_migrations(fresh_database),
                                   apply_migrations(fresh_database))
    assert sorted(results, key=len) == [[], SHIPPED]


async def test_database_ahead_of_the_code_is_refused(
    fresh_database: str, sql_copy: pathlib.Path
) -> None:
    await apply_migrations(fresh_database, sql_copy)
    (sql_copy / SHIPPED[-1]).unlink()
    with pytest.raises(MigrationError, match="this code is older than the database"):
        await apply_migrations(fresh_database, sql_copy)


def test_badly_named_file_is_refused(sql_copy: pathlib.Path) -> None:
    (sql_copy / "5_extra.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake_case"):
        read_migrations(sql_copy)


async def test_kpi_values_is_partitioned_by_month(migrated_db: str) -> None:
    timescale = await fetch(migrated_db, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    if timescale:
        pytest.skip("TimescaleDB is installed: kpi_values is a hypertable")
    (table,) = await fetch(migrated_db, "SELECT relkind FROM pg_class "
                                        "WHERE oid = 'analytics.kpi_values'::regclass")
    assert table["relkind"] == b"p"
    partitions = await fetch(
        migrated_db, "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
                     "WHERE inhparent = 'analytics.kpi_values'::regclass")
    names = {row["name"] for row in partitions}
    this_month = datetime.datetime.now(datetime.UTC).strftime("%Y%m")
    assert f"analytics.kpi_values_p{this_month}" in names
    assert "analytics.kpi_values_default" in names
    assert len(names) == 24 + 1 + 3 + 1  # 24 months back, this month, 3 ahead, DEFAULT
    (registered,) = await fetch(migrated_db, "SELECT storage, time_column FROM "
                                             "public.time_series_tables WHERE table_name = "
                                             "'kpi_values'")
    assert (registered["storage"], registered["time_column"]) == ("partitioned", "bucket_start")


async def test_kpi_value_rows_land_in_their_month(migrated_db: str) -> None:
    client = f"test-{uuid.uuid4().hex[:8]}"
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    far_future = now + datetime.timedelta(days=3 * 366)
    connection = await asyncpg.connect(migrated_db)
    try:
        upsert = """
            INSERT INTO analytics.kpi_values (client_id, kpi_code, period, bucket_start, value,
                                              watermark, dimensions, security_context)
            VALUES ($3, 'SCOR_POF', 'day', $1, $2, $1, '{"region": "emea"}', 'role:analyst')
            ON CONFLICT (client_id, kpi_code, period, security_context, dimensions, bucket_start)
            DO UPDATE SET value = EXCLUDED.value, computed_at = now()
        """
        await connection.execute(upsert, now, 93.5, client)
        await connection.execute(upsert, now, 94.1, client)
        await connection.execute(upsert, far_future, 90.0, client)
        rows = await connection.fetch(
            "SELECT tableoid::regclass::text AS partition, bucket_start, value "
            "FROM analytics.kpi_values WHERE client_id = $1 ORDER BY bucket_start", client)
    finally:
        await connection.close()
    assert [(r["partition"], r["bucket_start"], r["value"]) for r in rows] == [
        (f"analytics.kpi_values_p{now:%Y%m}", now, 94.1),
        ("analytics.kpi_values_default", far_future, 90.0),
    ]


async def test_time_series_helper_handles_date_columns_and_rolls_forward(
    fresh_database: str,
) -> None:
    await apply_migrations(fresh_database)
    connection = await asyncpg.connect(fresh_database)
    try:
        # A session in another time zone must not shift the UTC month boundaries.
        await connection.execute("SET TIME ZONE 'America/Los_Angeles'")
        create = ("SELECT public.create_time_series_table('scor_data', 'probe', "
                  "'client_id text NOT NULL, day date NOT NULL, n int, "
                  "PRIMARY KEY (client_id, day)', 'day', 0, 0)")
        assert await connection.fetchval(create) == "partitioned"
        assert await connection.fetchval(create) == "partitioned"  # idempotent
        today = datetime.datetime.now(datetime.UTC).date()
        first = today.replace(day=1)
        next_month = (first + datetime.timedelta(days=32)).replace(day=1)
        await connection.execute("INSERT INTO scor_data.probe VALUES ('acme', $1, 1), "
                                 "('acme', $2, 2), ('acme', $3, 3)",
                                 first, next_month, next_month + datetime.timedelta(days=1))
        where = "SELECT tableoid::regclass::text FROM scor_data.probe WHERE n = $1"
        assert await connection.fetchval(where, 1) == f"scor_data.probe_p{first:%Y%m}"
        assert await connection.fetchval(where, 2) == "scor_data.probe_default"

        # The next month's partition is created and the rows waiting in DEFAULT move into it.
        created = await connection.fetchval(
            "SELECT public.ensure_time_series_partitions('scor_data', 'probe', 0, 1)")
        assert created == 1
        for n in (2, 3):
            assert await connection.fetchval(where, n) == f"scor_data.probe_p{next_month:%Y%m}"
        assert await connection.fetchval("SELECT count(*) FROM scor_data.probe") == 3
    finally:
        await connection.close()
