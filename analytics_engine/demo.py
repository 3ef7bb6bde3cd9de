"""`analytics-engine demo`: generate demo data for a client and load it into the running stack's
database (or DATABASE_URL), printing progress as it goes."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
import time
from pathlib import Path
from typing import TextIO

import asyncpg

from analytics_engine import state as stack_state
from services.catalog.catalog_files import load_catalog_files
from services.demo.loader import LoadSummary, Progress, load_demo_data
from services.errors import DomainError

EXIT_NOT_RUNNING = 3
# Progress lines while a model loads, at most this often (a line per finished model always).
PROGRESS_INTERVAL_SECONDS = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client", default="demo", help="client id (default: demo)")
    parser.add_argument("--days", type=int, default=30, help="days of data ending now (30)")
    parser.add_argument("--rows-per-day", type=int, default=1_000,
                        help="customer orders per average day; other models scale from it")
    parser.add_argument("--seed", type=int, default=7, help="same seed, same rows (7)")
    parser.add_argument("--append", action="store_true",
                        help="keep the client's existing rows (default: replace them)")


def database_url(state_file: Path) -> str | None:
    """DATABASE_URL when set, else the database of the stack running for this data dir."""
    external = os.environ.get("DATABASE_URL")
    if external:
        return external
    record = stack_state.read(state_file)
    if record is not None and record.database_url and record.supervisor.ref().alive():
        return record.database_url
    return None


def run(args: argparse.Namespace, state_file: Path, out: TextIO = sys.stdout) -> int:
    url = database_url(state_file)
    if url is None:
        print("Analytics Engine is not running and DATABASE_URL is not set; "
              "start it with `analytics-engine up`.", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.days < 1 or args.rows_per_day < 1:
        print("--days and --rows-per-day must be at least 1", file=sys.stderr)
        return 2
    end = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
    start = end - datetime.timedelta(days=args.days)
    print(f"Generating {args.days} days of demo data for client {args.client!r} "
          f"({args.rows_per_day:,} orders/day, seed {args.seed}) "
          f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC", file=out, flush=True)
    try:
        summary = asyncio.run(_load(url, args, start, end, ProgressPrinter(out)))
    except (DomainError, ValueError) as error:
        print(f"demo data not loaded: {error}", file=sys.stderr)
        return 1
    print(f"Loaded {summary.total_rows:,} rows into {len(summary.models)} object models in "
          f"{summary.elapsed_seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s).",
          file=out, flush=True)
    return 0


async def _load(url: str, args: argparse.Namespace, start: datetime.datetime,
                end: datetime.datetime, printer: ProgressPrinter) -> LoadSummary:
    catalog = await asyncio.to_thread(load_catalog_files)
    models = {model.code: model for model in catalog.object_models}
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    try:
        return await load_demo_data(pool, models, args.client, start, end, args.rows_per_day,
                                    args.seed, printer, replace_existing=not args.append)
    finally:
        await pool.close()


class ProgressPrinter:
    """Prints a line when a model is done, and meanwhile every few seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last = time.monotonic()

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if not progress.model_finished and now - self._last < PROGRESS_INTERVAL_SECONDS:
            return
        self._last = now
        state = "done" if progress.model_finished else "..."
        print(f"  {progress.object_model_code:<20} {progress.model_rows:>12,} rows {state:<4} "
              f"total {progress.total_rows:>12,}  {progress.rows_per_second:>9,.0f} rows/s  "
              f"{progress.elapsed_seconds:7.1f} s", file=self.out, flush=True)
