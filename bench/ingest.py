"""Ingest throughput with the per-minute rollups kept current, and bulk-load throughput.

    python bench/ingest.py [--batches 20] [--bulk-rows 1000000]

Uses DATABASE_URL when set, otherwise starts an embedded PostgreSQL in a temporary folder and
applies the migrations. Measures `services.data.store.ingest_rows` end to end (validation of
JSON-like dicts, the batch sent column by column in one statement that inserts new keys, replaces
changed rows and folds the rollup delta, version bump, outbox, commit) on ORDER rows for batches
of 1000, 2500 and 5000 rows (--sizes): new rows, then the same keys re-sent with changed
values (updates move rows between rollup groups), then several clients writing at once; once for
a dense live stream and once for a sparse backfill (the rollup's size follows the number of
(minute, dimension values) groups, not the number of rows). Then
`bulk_load` (COPY plus one rollup rebuild). Prints rows/s per case (medians over the batches).
Target: >= 100k rows/s for ingest with rollups kept current.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import database  # noqa: E402

from services.catalog.catalog_files import load_catalog_files  # noqa: E402
from services.catalog.domain import ObjectModel  # noqa: E402
from services.data import store  # noqa: E402
from services.data.ingest import validate_rows  # noqa: E402

UTC = datetime.UTC
CHANNELS = ("web", "edi", "sales_rep", "marketplace")
STATUSES = ("open", "allocated", "shipped", "delivered", "cancelled")


def order_rows(first: int, count: int, rng: random.Random, start: datetime.datetime,
               spacing: datetime.timedelta) -> list[dict[str, object]]:
    """JSON-like rows as IngestRows receives them, `spacing` apart in time."""
    rows: list[dict[str, object]] = []
    for number in range(first, first + count):
        created = start + spacing * number
        rows.append({
            "order_id": f"SO-{number}", "customer_id": f"CUST-{rng.randint(1, 50_000)}",
            "channel": rng.choice(CHANNELS), "region": rng.choice(("EMEA", "AMER", "APAC")),
            "status": rng.choice(STATUSES), "order_value": round(rng.uniform(5, 5000), 2),
            "created_at": created.isoformat(),
            "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
            "delivered_in_full": rng.choice((True, False, None)),
        })
    return rows


def typed_orders(count: int, seed: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    base = datetime.datetime(2025, 1, 1, tzinfo=UTC)
    for number in range(count):
        created = base + datetime.timedelta(seconds=number * 7)
        yield (f"SO-{number}", f"CUST-{rng.randint(1, 50_000)}", rng.choice(CHANNELS), "EMEA",
               rng.choice(STATUSES), Decimal(rng.randint(100, 500_000)) / 100, created,
               created + datetime.timedelta(days=3), rng.choice((True, False, None)))


async def time_batch(pool: asyncpg.Pool, client: str, model: ObjectModel,
                     batch: list[dict[str, object]]) -> float:
    began = time.perf_counter()
    await store.ingest_rows(pool, client, model, batch)
    return len(batch) / (time.perf_counter() - began)


async def bench_ingest(pool: asyncpg.Pool, model: ObjectModel, batch_count: int,
                       spacing: datetime.timedelta, sizes: tuple[int, ...]) -> None:
    rng = random.Random(1)
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    print(f"-- ORDER rows {spacing.total_seconds() * 1000:g} ms apart "
          f"({60 / spacing.total_seconds():,.0f} rows per minute)")
    for size in sizes:
        client = f"bench-{uuid.uuid4().hex[:8]}"
        # Batches are made just before they are sent, as a server holds only the requests in
        # flight (a heap of pending batches would make the garbage collector the bottleneck).
        inserts, updates, validations = [], [], []
        for index in range(batch_count):
            batch = order_rows(index * size, size, rng, start, spacing)
            began = time.perf_counter()
            validate_rows(model, batch)
            validations.append(size / (time.perf_counter() - began))
            inserts.append(await time_batch(pool, client, model, batch))
        for index in range(batch_count):
            batch = order_rows(index * size, size, rng, start, spacing)  # same keys, new values
            updates.append(await time_batch(pool, client, model, batch))
        print(f"ingest_rows, batches of {size:>4}: new rows {statistics.median(inserts):>9,.0f}"
              f" rows/s, updated rows {statistics.median(updates):>9,.0f} rows/s"
              f"  (validation alone {statistics.median(validations):,.0f} rows/s)")
    await bench_parallel(pool, model, batch_count, rng, start, spacing)


async def bench_parallel(pool: asyncpg.Pool, model: ObjectModel, batch_count: int,
                         rng: random.Random, start: datetime.datetime,
                         spacing: datetime.timedelta) -> None:
    writers, size = 4, 5000

    async def writer(client: str) -> None:
        for index in range(batch_count):
            await store.ingest_rows(
                pool, client, model, order_rows(index * size, size, rng, start, spacing))

    began = time.perf_counter()
    await asyncio.gather(*(writer(f"bench-{uuid.uuid4().hex[:8]}") for _ in range(writers)))
    total = writers * batch_count * size
    print(f"ingest_rows, {writers} clients at once, batches of {size}: "
          f"{total / (time.perf_counter() - began):>9,.0f} rows/s overall (rows made in the loop)")


async def bench_bulk(pool: asyncpg.Pool, model: ObjectModel, rows: int) -> None:
    client = f"bench-{uuid.uuid4().hex[:8]}"
    columns = ("order_id", "customer_id", "channel", "region", "status", "order_value",
               "created_at", "promised_at", "delivered_in_full")
    began = time.perf_counter()
    loaded = await store.bulk_load(pool, client, model, typed_orders(rows, seed=3), columns)
    elapsed = time.perf_counter() - began
    groups = await pool.fetchval(
        f"SELECT count(*) FROM {store.rollup_table(model)} WHERE client_id = $1", client)
    print(f"bulk_load of {loaded:,} rows (COPY + rollup rebuild of {groups:,} groups): "
          f"{elapsed:.1f} s, {loaded / elapsed:,.0f} rows/s")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20, help="batches per case")
    parser.add_argument("--bulk-rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000],
                        help="rows per batch")
    arguments = parser.parse_args()
    model = load_catalog_files().object_model("ORDER")
    assert model is not None
    async with database() as url, asyncpg.create_pool(url, min_size=1, max_size=8) as pool:
        # A live stream (rows 10 ms apart: a minute holds many rows per rollup group), then a
        # sparse backfill (rows 3 s apart: nearly every row is a rollup group of its own).
        for spacing_ms in (10, 3000):
            await bench_ingest(pool, model, arguments.batches,
                               datetime.timedelta(milliseconds=spacing_ms),
                               tuple(arguments.sizes))
        await bench_bulk(pool, model, arguments.bulk_rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
