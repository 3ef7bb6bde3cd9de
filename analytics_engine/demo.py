"""`analytics-engine demo [load]`: generate demo data for a client and load it into the running
stack's database (or DATABASE_URL), printing progress as it goes.

`analytics-engine demo feed`: send live rows to the running stack's data service until Ctrl-C (or
`--duration`), printing counts every few seconds; first loads a few days of history for a client
that has no demo data, so the live rows' customers, products and reps exist.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import asyncpg

from analytics_engine import state as stack_state
from analytics_engine.credentials import TokenSource
from services.catalog.catalog_files import load_catalog_files
from services.data import tables
from services.demo.feed import DEFAULT_RATE, DEFAULT_SPEEDUP, FeedSpec, LiveFeed
from services.demo.feeder import Feeder, FeederSettings, FeederStats
from services.demo.loader import LoadSummary, Progress, load_demo_data
from services.demo.settling import Settled, settle_after_load
from services.errors import DomainError

EXIT_NOT_RUNNING = 3
# Progress lines while a model loads, at most this often (a line per finished model always).
PROGRESS_INTERVAL_SECONDS = 2.0


def add_arguments(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """The options of `demo` (= `demo load`). With `inherited`, an option left out keeps the
    value the `demo` parser gave it, so `demo --client x load` and `demo load --client x` agree."""
    add_shared_arguments(parser, inherited=inherited)
    parser.add_argument("--days", type=int, default=_default(30, inherited),
                        help="days of data ending now (30)")
    parser.add_argument("--append", action="store_true", default=_default(False, inherited),
                        help="keep the client's existing rows (default: replace them)")


def add_shared_arguments(parser: argparse.ArgumentParser, *, inherited: bool = False) -> None:
    """Options `demo load` and `demo feed` share: whose data, and which world it comes from."""
    parser.add_argument("--client", default=_default("demo", inherited),
                        help="client id (default: demo)")
    parser.add_argument("--rows-per-day", type=int, default=_default(1_000, inherited),
                        help="customer orders per average day; other models scale from it "
                             "(1000; the feed must use the volume the history was loaded with)")
    parser.add_argument("--seed", type=int, default=_default(7, inherited),
                        help="same seed, same rows (7)")


def add_feed_arguments(parser: argparse.ArgumentParser) -> None:
    add_shared_arguments(parser, inherited=True)
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE,
                        help=f"new records per second per model that starts a process (orders, "
                             f"tickets, leads, ...); the rows that follow come with them "
                             f"({DEFAULT_RATE:g})")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: run until Ctrl-C)")
    parser.add_argument("--history-days", type=int, default=7,
                        help="days of history loaded first when the client has no demo data "
                             "(7; 0 never loads)")
    parser.add_argument("--address", default=None,
                        help="the data service's host:port (default: the running stack's)")
    parser.add_argument("--speedup", type=float, default=DEFAULT_SPEEDUP,
                        help="how much faster than real life orders ship, tickets get answered, "
                             f"invoices get paid ({DEFAULT_SPEEDUP:g}: an hour per second)")


def _default(value: object, inherited: bool) -> object:
    return argparse.SUPPRESS if inherited else value


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
    return _run_load(url, args, out)


def _run_load(url: str, args: argparse.Namespace, out: TextIO) -> int:
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
    # As the data service does after a load: the first read of a year of active customers per
    # day then reads counts kept instead of counting them.
    settled = asyncio.run(_settle(url, args.client, start, end))
    if settled is None:
        print("Distinct counts not settled (see the log); first reads count them.", file=out)
    else:
        print(f"Settled the distinct counts per day in {settled.time_zone} in "
              f"{settled.seconds:.1f} s.", file=out, flush=True)
    return 0


async def _settle(url: str, client_id: str, start: datetime.datetime,
                  end: datetime.datetime) -> Settled | None:
    catalog = await asyncio.to_thread(load_catalog_files)
    return await settle_after_load(url, catalog, client_id, start, end)


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


async def has_demo_data(url: str, client_id: str) -> bool:
    """Whether the client has customers (what the live feed's rows refer to)."""
    catalog = await asyncio.to_thread(load_catalog_files)
    customer = next(model for model in catalog.object_models if model.code == "CUSTOMER")
    connection = await asyncpg.connect(url)
    try:
        found = await connection.fetchval(
            f"SELECT EXISTS (SELECT 1 FROM {tables.raw_table(customer)} WHERE client_id = $1)",
            client_id)
    finally:
        await connection.close()
    return bool(found)


def load_history(url: str, client_id: str, days: int, rows_per_day: int, seed: int,
                 out: TextIO) -> int:
    """`demo load` of `days` days for the client (replacing whatever it has); its exit code."""
    args = argparse.Namespace(client=client_id, days=days, rows_per_day=rows_per_day, seed=seed,
                              append=False)
    return _run_load(url, args, out)


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


# -- demo feed ---------------------------------------------------------------------------------

# A line of counts at most this often while feeding.
FEED_PROGRESS_SECONDS = 5.0


def data_dir_of(state_file: Path) -> Path:
    """The data directory a stack's `run/stack.json` lives in (its key pair is there too)."""
    return state_file.parent.parent


def data_service_address(state_file: Path) -> str | None:
    """host:port of the data service of the stack running for this data dir."""
    record = stack_state.read(state_file)
    if record is None or not record.supervisor.ref().alive():
        return None
    entry = record.process("data")
    return entry.address if entry is not None else None


def run_feed(args: argparse.Namespace, state_file: Path, out: TextIO = sys.stdout) -> int:
    address = args.address or data_service_address(state_file)
    if address is None:
        print("Analytics Engine is not running (and no --address was given); "
              "start it with `analytics-engine up`.", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.duration is not None and args.duration <= 0:
        print("--duration must be positive", file=sys.stderr)
        return 2
    try:
        spec = FeedSpec(args.client, args.seed, args.rate, args.rows_per_day, args.speedup)
    except ValueError as error:
        print(f"cannot feed: {error}", file=sys.stderr)
        return 2
    if args.history_days > 0:
        code = _ensure_history(args, state_file, out)
        if code != 0:
            return code
    models = {model.code: model for model in load_catalog_files().object_models}
    feed = LiveFeed(spec, models, datetime.datetime.now(datetime.UTC))
    print(f"Feeding live rows for client {spec.client_id!r} to the data service at {address}: "
          f"{spec.rate:g} new records/s per process model, lifecycles {spec.speedup:g}x real "
          f"time (seed {spec.seed}); {', '.join(feed.object_model_codes)}. "
          + ("Ctrl-C stops." if args.duration is None else f"Stops after {args.duration:g} s."),
          file=out, flush=True)
    # The feed writes for any client it is told to: it acts as an admin of this stack.
    credentials = TokenSource(data_dir_of(state_file))
    feeder = Feeder(feed, FeederSettings(address, credentials=credentials.metadata))
    stats = asyncio.run(_feed(feeder, args.duration, FeedPrinter(out)))
    print(f"Sent {stats.sent_rows:,} rows in {stats.elapsed:.1f} s: {_per_model(stats)}"
          + (f"; {stats.dropped_rows:,} rows dropped" if stats.dropped_rows else "")
          + (f"; {stats.queued_rows:,} rows not sent" if stats.queued_rows else "") + ".",
          file=out, flush=True)
    return 0


def _ensure_history(args: argparse.Namespace, state_file: Path, out: TextIO) -> int:
    url = database_url(state_file)
    if url is None:
        print("No database to look for the client's history in (DATABASE_URL is not set and no "
              "local stack runs for this data dir); feeding without loading history.",
              file=out, flush=True)
        return 0
    if asyncio.run(has_demo_data(url, args.client)):
        return 0
    print(f"Client {args.client!r} has no demo data yet; loading {args.history_days} days of "
          "history first.", file=out, flush=True)
    return load_history(url, args.client, args.history_days, args.rows_per_day, args.seed, out)


async def _feed(feeder: Feeder, duration: float | None, printer: FeedPrinter) -> FeederStats:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = (signal.SIGINT, signal.SIGTERM)
    for signum in handled:
        loop.add_signal_handler(signum, stop.set)
    try:
        return await feeder.run(stop, duration=duration, on_tick=printer)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def _per_model(stats: FeederStats) -> str:
    return ", ".join(f"{code} {counts.sent_rows:,}" for code, counts in sorted(stats.models.items())
                     if counts.sent_rows) or "nothing yet"


class FeedPrinter:
    """A line of counts every few seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._last = time.monotonic()

    def __call__(self, stats: FeederStats) -> None:
        now = time.monotonic()
        if now - self._last < FEED_PROGRESS_SECONDS:
            return
        self._last = now
        waiting = ""
        if stats.waiting_since is not None:
            waiting = f"  waiting for the data service for {now - stats.waiting_since:.0f} s"
        print(f"  {stats.elapsed:7.1f} s  {stats.sent_rows:>9,} rows  "
              f"{stats.sent_rows / max(stats.elapsed, 1e-9):6.1f} rows/s  "
              f"queued {stats.queued_rows:,}{waiting}  [{_per_model(stats)}]",
              file=self.out, flush=True)
