"""Demo data: generate and load N rows (all 23 object models) into PostgreSQL.

    python bench/demo_load.py [--rows 10000000] [--days 30] [--generate-only]

Uses DATABASE_URL when set, otherwise starts an embedded PostgreSQL in a temporary folder and
applies the migrations. The volume per day is chosen so the whole load is about `--rows` rows
(fitted from two small pilot runs of the generator). Prints progress, rows per model, total time
and rows/s, then the time settling the loaded range's distinct counts took (as after every load);
`--generate-only` measures the generator alone (no database).
Target (issue 3): 10M rows in minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import database  # noqa: E402

from analytics_engine.demo import ProgressPrinter  # noqa: E402
from services.catalog.catalog_files import load_catalog_files  # noqa: E402
from services.catalog.domain import ObjectModel  # noqa: E402
from services.demo.generator import generate  # noqa: E402
from services.demo.loader import load_demo_data  # noqa: E402
from services.demo.settling import settle_after_load  # noqa: E402

UTC = datetime.UTC
END = datetime.datetime(2026, 10, 1, tzinfo=UTC)
PILOT_ROWS_PER_DAY = 200
SEED = 7


def rows_per_day_for(models: list[ObjectModel], rows: int, days: int) -> int:
    """Orders per day that make about `rows` rows over `days` days. The row count is linear in
    the daily volume plus a part that does not grow with it (reference data such as products
    and sales reps), so two small pilot runs fix both; scaling one pilot alone overcounts what
    each order brings and fell 10 % short of 10M rows."""
    start = END - datetime.timedelta(days=days)

    def pilot(per_day: int) -> int:
        return sum(
            len(batch.rows) for batch in generate(models, "pilot", start, END, per_day, SEED)
        )

    low, high = PILOT_ROWS_PER_DAY // 2, PILOT_ROWS_PER_DAY
    low_rows, high_rows = pilot(low), pilot(high)
    per_order = (high_rows - low_rows) / (high - low)
    if per_order <= 0:
        return max(1, round(high * rows / high_rows))
    fixed = high_rows - per_order * high
    return max(1, round((rows - fixed) / per_order))


def generate_only(models: list[ObjectModel], start: datetime.datetime, rows_per_day: int) -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    counts: collections.Counter[str] = collections.Counter()
    for batch in generate(models, "bench", start, END, rows_per_day, SEED):
        counts[batch.object_model_code] += len(batch.rows)
    elapsed = time.perf_counter() - started
    total = sum(counts.values())
    print(
        f"generated {total:,} rows in {elapsed:.1f} s: {total / elapsed:,.0f} rows/s "
        f"(generator alone; {time.process_time() - cpu_started:.1f} s of CPU)"
    )


async def load(models: list[ObjectModel], start: datetime.datetime, rows_per_day: int) -> None:
    by_code = {model.code: model for model in models}
    cpu_started = time.process_time()
    async with database() as url:
        async with asyncpg.create_pool(url, min_size=1, max_size=2) as pool:
            summary = await load_demo_data(
                pool,
                by_code,
                "bench",
                start,
                END,
                rows_per_day,
                SEED,
                ProgressPrinter(sys.stdout),
                replace_existing=True,
            )
        print("rows per object model:")
        for model in sorted(summary.models, key=lambda m: -m.row_count):
            rate = model.row_count / model.seconds if model.seconds else 0
            print(
                f"  {model.object_model_code:<20} {model.row_count:>12,}  {model.seconds:7.1f} s"
                f"  {rate:>9,.0f} rows/s"
            )
        print(
            f"loaded {summary.total_rows:,} rows in {summary.elapsed_seconds:.1f} s: "
            f"{summary.rows_per_second:,.0f} rows/s (generation + COPY + rollup rebuild); "
            f"{time.process_time() - cpu_started:.1f} s of CPU in this process (the database's "
            "own work not counted): on a shared machine, compare CPU as well as wall time"
        )
        # As after every load: the distinct counts per day of the loaded range are counted once
        # and kept (the data service does it in the background; timed apart from the load).
        settled = await settle_after_load(url, load_catalog_files(), "bench", start, END)
        if settled is not None:
            print(f"then settled the distinct counts per day in {settled.seconds:.1f} s "
                  f"({settled.reads} reads)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000, help="total rows (10M)")
    parser.add_argument("--days", type=int, default=30, help="days of data (30)")
    parser.add_argument("--generate-only", action="store_true", help="no database")
    args = parser.parse_args()
    models = list(load_catalog_files().object_models)
    rows_per_day = rows_per_day_for(models, args.rows, args.days)
    start = END - datetime.timedelta(days=args.days)
    print(
        f"target {args.rows:,} rows over {args.days} days: {rows_per_day:,} orders/day", flush=True
    )
    if args.generate_only:
        generate_only(models, start, rows_per_day)
    else:
        asyncio.run(load(models, start, rows_per_day))
    return 0


if __name__ == "__main__":
    sys.exit(main())
