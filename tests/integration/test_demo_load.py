"""Demo data loaded into a real PostgreSQL through the data store's bulk load: every model's rows
land with the counts the generator produced, rollups agree with the raw rows, a reload replaces
the rows, and GenerateDemoRows answers as the contract says."""

from __future__ import annotations

import argparse
import collections
import datetime
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from analytics.data.v1 import data_pb2

from analytics_engine import demo
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import tables
from services.demo import rpc
from services.demo.generator import generate
from services.demo.loader import Progress, load_demo_data
from services.errors import AlreadyExists

UTC = datetime.UTC
START = datetime.datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
END = datetime.datetime(2026, 9, 11, tzinfo=UTC)
ROWS_PER_DAY = 40


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool:
        yield pool


def expected_counts(models: dict[str, ObjectModel], client_id: str) -> dict[str, int]:
    counts: collections.Counter[str] = collections.Counter()
    for batch in generate(models.values(), client_id, START, END, ROWS_PER_DAY, 7):
        counts[batch.object_model_code] += len(batch.rows)
    return dict(counts)


async def stored_count(pool: asyncpg.Pool, model: ObjectModel, client_id: str) -> int:
    value = await pool.fetchval(
        f"SELECT count(*) FROM {tables.raw_table(model)} WHERE client_id = $1", client_id)
    return int(value)


async def test_every_model_loads_with_rollups_and_versions(
    pool: asyncpg.Pool, models: dict[str, ObjectModel],
) -> None:
    client_id = f"demo-{uuid.uuid4().hex[:8]}"
    seen: list[Progress] = []
    summary = await load_demo_data(pool, models, client_id, START, END, ROWS_PER_DAY, 7,
                                   seen.append)
    expected = expected_counts(models, client_id)
    assert {m.object_model_code: m.row_count for m in summary.models} == expected
    assert summary.total_rows == sum(expected.values())
    for code, count in expected.items():
        model = models[code]
        assert await stored_count(pool, model, client_id) == count, code
        rolled = await pool.fetchval(
            f"SELECT coalesce(sum(row_count), 0) FROM {tables.rollup_table(model)} "
            "WHERE client_id = $1", client_id)
        assert rolled == count, code
    order = models["ORDER"]
    sums = await pool.fetchrow(
        f"SELECT (SELECT sum(order_value) FROM {tables.raw_table(order)} WHERE client_id = $1) "
        f"AS raw, (SELECT sum(sum__order_value) FROM {tables.rollup_table(order)} "
        "WHERE client_id = $1) AS rolled", client_id)
    assert sums is not None
    assert sums["raw"] == sums["rolled"] and sums["raw"] > 0
    assert all(m.data_version >= 1 for m in summary.models)
    finished = [p.object_model_code for p in seen if p.model_finished]
    assert sorted(finished) == sorted(expected)
    totals = [p.total_rows for p in seen]
    assert totals == sorted(totals) and totals[-1] == summary.total_rows


async def test_a_reload_needs_replace_and_then_replaces(
    pool: asyncpg.Pool, models: dict[str, ObjectModel],
) -> None:
    client_id = f"demo-{uuid.uuid4().hex[:8]}"
    scope = ("ORDER_LINE",)
    first = await load_demo_data(pool, models, client_id, START, END, ROWS_PER_DAY, 7,
                                 object_model_codes=scope)
    loaded = {m.object_model_code for m in first.models}
    # Lines bring the models they reference, so every reference points at a loaded row.
    assert loaded == {"ORDER_LINE", "ORDER", "PRODUCT", "CUSTOMER", "SALES_REP"}
    with pytest.raises(AlreadyExists):
        await load_demo_data(pool, models, client_id, START, END, ROWS_PER_DAY, 7,
                             object_model_codes=scope)
    again = await load_demo_data(pool, models, client_id, START, END, ROWS_PER_DAY, 7,
                                 object_model_codes=scope, replace_existing=True)
    for model in again.models:
        assert await stored_count(pool, models[model.object_model_code], client_id) == \
            model.row_count
        before = next(m for m in first.models if m.object_model_code == model.object_model_code)
        assert model.row_count == before.row_count and model.data_version > before.data_version
    orphans = await pool.fetchval(
        "SELECT count(*) FROM scor_data.order_lines l WHERE l.client_id = $1 AND NOT EXISTS "
        "(SELECT 1 FROM scor_data.orders o WHERE o.client_id = l.client_id "
        "AND o.order_id = l.order_id)", client_id)
    assert orphans == 0


async def test_generate_demo_rows_answers_per_model(
    pool: asyncpg.Pool, models: dict[str, ObjectModel],
) -> None:
    request = data_pb2.GenerateDemoRowsRequest(
        client_id=f"demo-{uuid.uuid4().hex[:8]}", object_model_codes=["SUPPORT_TICKET"],
        rows_per_day=ROWS_PER_DAY, seed=3)
    request.time_range.start.FromDatetime(START)
    request.time_range.end.FromDatetime(END)
    response = await rpc.generate_demo_rows(pool, models, request)
    codes = [m.object_model_code for m in response.object_models]
    assert codes == sorted(codes) == ["CUSTOMER", "SALES_REP", "SUPPORT_TICKET"]
    assert response.total_row_count == sum(m.row_count for m in response.object_models) > 0
    assert all(m.data_version == 1 for m in response.object_models)
    assert response.elapsed.ToTimedelta() > datetime.timedelta(0)


def test_the_cli_loads_into_database_url_and_prints_progress(
    migrated_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_db)
    client = f"demo-{uuid.uuid4().hex[:8]}"
    out = io.StringIO()
    args = argparse.Namespace(client=client, days=2, rows_per_day=10, seed=7, append=False)
    assert demo.run(args, tmp_path / "stack.json", out) == 0
    text = out.getvalue()
    assert f"client {client!r}" in text
    assert "ORDER " in text and "done" in text and "rows/s" in text
    # Then the loaded range's distinct counts are settled, as after every load.
    assert "Settled the distinct counts per day in UTC" in text
    # Again: the default replaces the client's rows instead of failing on existing keys.
    assert demo.run(args, tmp_path / "stack.json", io.StringIO()) == 0
    monkeypatch.delenv("DATABASE_URL")
    assert demo.run(args, tmp_path / "stack.json", io.StringIO()) == demo.EXIT_NOT_RUNNING
