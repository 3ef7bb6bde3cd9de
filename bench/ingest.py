"""Ingest throughput with the per-minute rollups kept current, and bulk-load throughput.

    python bench/ingest.py [--batches 20] [--sizes 1000 2500 5000] [--writers 2 4]
                           [--bulk-rows 1000000] [--rpc-only]

Uses DATABASE_URL when set, otherwise starts an embedded PostgreSQL in a temporary folder and
applies the migrations. Measures `services.data.store.ingest_rows` end to end (validation of
JSON-like dicts, then one transaction: one statement that inserts new keys, replaces changed rows,
folds the rollup delta, bumps the data version and records the outbox change and the batch, then
the commit) on ORDER rows for batches of 1000, 2500 and 5000 rows (--sizes): new rows, then the
same keys re-sent with changed values (updates move rows between rollup groups); ORDER_LINE
batches the same way, each after its orders (every line copies its order's status); then 1000-row
batches of several clients written at once (--writers: that many concurrent writers); then the
unary IngestRows RPC end to end (the batch over gRPC to the data service's servicer in this
process, with its token check, conversion, validation and ingest), with the rows as protobuf
Structs and as typed columns (IngestColumns); and, per batch size, one StreamIngestRows client
stream of batches, which the servicer pipelines (a batch read and validated while the ones before
it commit).
Once for a dense live stream and once for a sparse backfill (the rollup's size follows the number of
(minute, dimension values) groups, not the number of rows). Then `bulk_load` (COPY plus one
rollup rebuild). Rows are made before each batch is timed. Prints rows/s per case (medians over
the batches; overall rows/s for concurrent writers); for the ingest_rows cases also the CPU time
a row costs, in this process (validation and encoding) and in the PostgreSQL server (all its
processes, read from /proc when it runs on this machine): on a machine shared with other work,
rows/s follow the load, CPU time per row much less so.
Target: >= 100k rows/s for ingest with rollups kept current.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics.data.v1 import data_pb2, data_pb2_grpc  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402
from harness import database  # noqa: E402

from analytics_engine.credentials import (  # noqa: E402
    bearer_metadata,
    channel_with,
    mint_for_data_dir,
)
from services.catalog.catalog_files import load_catalog_files  # noqa: E402
from services.catalog.domain import ObjectModel  # noqa: E402
from services.data import store, tables  # noqa: E402
from services.data.carried_copies import carrying  # noqa: E402
from services.data.column_batches import columns_message  # noqa: E402
from services.data.ingest import validate_rows  # noqa: E402
from services.data.ingest_servicer import IngestServicer  # noqa: E402
from services.runtime.server import ServiceWiring, serve  # noqa: E402
from services.runtime.settings import ServiceSettings  # noqa: E402
from services.security.keys import KeyFiles  # noqa: E402

UTC = datetime.UTC
CHANNELS = ("web", "edi", "sales_rep", "marketplace")
STATUSES = ("open", "allocated", "shipped", "delivered", "cancelled")
# The whole catalog: writing orders keeps the copies order lines hold of them (carried fields),
# as the data service does.
MODELS = {model.code: model for model in load_catalog_files().object_models}


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


def line_rows(orders: list[dict[str, object]], shipped_short: int = 0) -> list[dict[str, object]]:
    """Two lines per order, at the order's time (each copies its order's status on write)."""
    rows: list[dict[str, object]] = []
    for order in orders:
        for number in (1, 2):
            quantity = 2 + number
            rows.append({
                "order_line_id": f"{order['order_id']}-{number}", "order_id": order["order_id"],
                "line_number": number, "product_id": f"SKU-{number}", "quantity": quantity,
                "shipped_quantity": quantity - shipped_short, "unit_price": 9.5,
                "extended_price": 9.5 * quantity, "extended_cost": 6.25 * quantity,
                "extended_list_price": 10.0 * quantity, "created_at": order["created_at"],
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


class ServerCpu:
    """CPU time used by the PostgreSQL server's processes, from /proc/<pid>/schedstat (only when
    the server runs on this machine; otherwise nothing is reported)."""

    def __init__(self, pids: list[int]) -> None:
        self._pids = [pid for pid in pids if Path(f"/proc/{pid}/schedstat").exists()]

    @classmethod
    async def of(cls, pool: asyncpg.Pool) -> ServerCpu:
        # Only this server's processes: a process of another server on the machine is not in
        # its pg_stat_activity.
        rows = await pool.fetch("SELECT pid FROM pg_stat_activity")
        return cls([row["pid"] for row in rows])

    def sample(self) -> dict[int, int]:
        times: dict[int, int] = {}
        for pid in self._pids:
            with contextlib.suppress(OSError, ValueError, IndexError):
                times[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
        return times

    @staticmethod
    def used(before: dict[int, int], after: dict[int, int]) -> float | None:
        """Seconds of CPU between two samples, over the processes in both."""
        common = before.keys() & after.keys()
        return sum(after[pid] - before[pid] for pid in common) / 1e9 if common else None


@dataclasses.dataclass
class BatchCosts:
    """Per batch: rows/s, and CPU seconds per row here and in the server."""

    rates: list[float] = dataclasses.field(default_factory=list)
    client_cpu: list[float] = dataclasses.field(default_factory=list)
    server_cpu: list[float] = dataclasses.field(default_factory=list)

    def cpu_note(self) -> str:
        if not self.client_cpu:
            return ""
        note = f"CPU/row {statistics.median(self.client_cpu) * 1e6:.1f} us here"
        if self.server_cpu:
            note += f" + {statistics.median(self.server_cpu) * 1e6:.1f} us PostgreSQL"
        return note


async def time_batch(pool: asyncpg.Pool, client: str, model: ObjectModel,
                     batch: list[dict[str, object]], costs: BatchCosts | None = None) -> float:
    server = await ServerCpu.of(pool) if costs is not None else None
    before = server.sample() if server else {}
    cpu = time.process_time()
    began = time.perf_counter()
    await store.ingest_rows(pool, client, model, batch, carrying=carrying(model, MODELS))
    rate = len(batch) / (time.perf_counter() - began)
    if costs is not None and server is not None:
        costs.rates.append(rate)
        costs.client_cpu.append((time.process_time() - cpu) / len(batch))
        used = ServerCpu.used(before, server.sample())
        if used is not None:
            costs.server_cpu.append(used / len(batch))
    return rate


async def bench_ingest(pool: asyncpg.Pool, url: str, model: ObjectModel, batch_count: int,
                       spacing: datetime.timedelta, sizes: tuple[int, ...],
                       writer_counts: tuple[int, ...], rpc_only: bool) -> None:
    rng = random.Random(1)
    start = datetime.datetime(2026, 10, 1, tzinfo=UTC)
    print(f"-- ORDER rows {spacing.total_seconds() * 1000:g} ms apart "
          f"({60 / spacing.total_seconds():,.0f} rows per minute)")
    if rpc_only:
        await bench_rpc(url, model, batch_count, rng, start, spacing, sizes)
        return
    for size in sizes:
        client = f"bench-{uuid.uuid4().hex[:8]}"
        # Batches are made just before they are sent, as a server holds only the requests in
        # flight (a heap of pending batches would make the garbage collector the bottleneck).
        inserts, updates, validations = BatchCosts(), BatchCosts(), []
        for index in range(batch_count):
            batch = order_rows(index * size, size, rng, start, spacing)
            began = time.perf_counter()
            validate_rows(model, batch)
            validations.append(size / (time.perf_counter() - began))
            await time_batch(pool, client, model, batch, inserts)
        for index in range(batch_count):
            batch = order_rows(index * size, size, rng, start, spacing)  # same keys, new values
            await time_batch(pool, client, model, batch, updates)
        print(f"ingest_rows, batches of {size:>4}: new rows"
              f" {statistics.median(inserts.rates):>9,.0f} rows/s, updated rows"
              f" {statistics.median(updates.rates):>9,.0f} rows/s"
              f"  (validation alone {statistics.median(validations):,.0f} rows/s)\n"
              f"    new: {inserts.cpu_note()}; updated: {updates.cpu_note()}")
    for size in sizes:
        await bench_lines(pool, batch_count, rng, start, spacing, size)
    for writers in writer_counts:
        await bench_writers(pool, model, writers, batch_count, rng, start, spacing)
    await bench_rpc(url, model, batch_count, rng, start, spacing, sizes)


async def bench_lines(pool: asyncpg.Pool, batch_count: int, rng: random.Random,
                      start: datetime.datetime, spacing: datetime.timedelta, size: int) -> None:
    """ORDER_LINE batches of `size` rows, each after its orders were written (untimed): every
    line looks its order's status up; then the same lines again, shipped short (updates)."""
    client = f"bench-{uuid.uuid4().hex[:8]}"
    model, orders_model = MODELS["ORDER_LINE"], MODELS["ORDER"]
    inserts, updates = BatchCosts(), BatchCosts()
    sent = []
    for index in range(batch_count):
        orders = order_rows(index * size // 2, size // 2, rng, start, spacing)
        await store.ingest_rows(pool, client, orders_model, orders,
                                carrying=carrying(orders_model, MODELS))
        sent.append(orders)
        await time_batch(pool, client, model, line_rows(orders), inserts)
    for orders in sent:
        await time_batch(pool, client, model, line_rows(orders, shipped_short=1), updates)
    print(f"ingest_rows ORDER_LINE (order status copied), batches of {size:>4}: new rows "
          f"{statistics.median(inserts.rates):>9,.0f} rows/s, updated rows "
          f"{statistics.median(updates.rates):>9,.0f} rows/s\n"
          f"    new: {inserts.cpu_note()}; updated: {updates.cpu_note()}")


async def bench_writers(pool: asyncpg.Pool, model: ObjectModel, writers: int, batch_count: int,
                        rng: random.Random, start: datetime.datetime,
                        spacing: datetime.timedelta, size: int = 1000) -> None:
    """`writers` clients, each sending its batches one after the other, all at once."""
    batches = [[order_rows(index * size, size, rng, start, spacing) for index in range(batch_count)]
               for _ in range(writers)]

    async def writer(client: str, own: list[list[dict[str, object]]]) -> None:
        for batch in own:
            await store.ingest_rows(pool, client, model, batch, carrying=carrying(model, MODELS))

    began = time.perf_counter()
    await asyncio.gather(*(writer(f"bench-{uuid.uuid4().hex[:8]}", own) for own in batches))
    total = writers * batch_count * size
    print(f"ingest_rows, {writers} writers at once, batches of {size}: "
          f"{total / (time.perf_counter() - began):>9,.0f} rows/s overall")


async def bench_rpc(url: str, model: ObjectModel, batch_count: int, rng: random.Random,
                    start: datetime.datetime, spacing: datetime.timedelta,
                    stream_sizes: tuple[int, ...], size: int = 1000) -> None:
    """IngestRows over gRPC, one call after the other, each batch new rows, with the rows as
    Structs and as typed columns; then StreamIngestRows, one stream of batches (pipelined by the
    servicer), both ways. Requests are made before the clock starts; what is timed is sending,
    the server's reading, validation and ingest, and the reply."""
    def rows_of(first_batch: int) -> Iterator[list[dict[str, object]]]:
        for index in range(first_batch, first_batch + batch_count):
            yield order_rows(index * size, size, rng, start, spacing)

    async with ingest_service(url, model) as stub:
        for form in ("Structs", "columns"):
            client = f"bench-{uuid.uuid4().hex[:8]}"
            requests = [data_pb2.IngestRowsRequest(object_model_code=model.code, client_id=client,
                                                   **_batch_fields(model, rows, form))
                        for rows in rows_of(0)]
            rates = []
            for request in requests:
                began = time.perf_counter()
                reply = await stub.IngestRows(request, timeout=60)
                rates.append(size / (time.perf_counter() - began))
                assert reply.accepted_row_count == size
            print(f"IngestRows RPC, batches of {size}, rows as {form}: "
                  f"{statistics.median(rates):>9,.0f} rows/s (median of {batch_count} calls)")
        for stream_size in stream_sizes:
            # The same number of rows per stream whatever the batch size.
            stream_batches = max(1, batch_count * 3 * size // stream_size)
            for form in ("Structs", "columns"):
                client = f"bench-{uuid.uuid4().hex[:8]}"
                stream = [data_pb2.StreamIngestRowsRequest(
                    object_model_code=model.code, client_id=client, idempotency_key=f"b{index}",
                    **_batch_fields(model, rows, form))
                    for index, rows in enumerate(
                        order_rows(index * stream_size, stream_size, rng, start, spacing)
                        for index in range(stream_batches))]

                async def requests_of(
                    stream: list[data_pb2.StreamIngestRowsRequest],
                ) -> AsyncIterator[data_pb2.StreamIngestRowsRequest]:
                    for request in stream:
                        yield request

                began = time.perf_counter()
                reply = await stub.StreamIngestRows(requests_of(stream), timeout=120)
                elapsed = time.perf_counter() - began
                total = stream_batches * stream_size
                assert reply.accepted_row_count == total
                print(f"StreamIngestRows, one client stream (pipelined), {stream_batches} batches "
                      f"of {stream_size}, rows as {form}: {total / elapsed:>9,.0f} rows/s")


def _batch_fields(model: ObjectModel, rows: list[dict[str, object]], form: str
                  ) -> dict[str, object]:
    if form == "columns":
        return {"columns": columns_message(model, rows)}
    structs = []
    for row in rows:
        struct = struct_pb2.Struct()
        struct.update(row)
        structs.append(struct)
    return {"rows": structs}


@contextlib.asynccontextmanager
async def ingest_service(url: str, model: ObjectModel
                         ) -> AsyncIterator[data_pb2_grpc.DataServiceStub]:
    """The data service's ingest servicer on a free port, through the shared runtime (its token
    check included), and a stub calling it as an admin."""
    with tempfile.TemporaryDirectory() as keys:
        token = mint_for_data_dir(Path(keys), role="admin")
        settings = ServiceSettings(service_name="bench-ingest", listen="127.0.0.1:0",
                                   log_level="WARNING",
                                   auth_jwks=str(KeyFiles.of_data_dir(Path(keys)).jwks))

        async def build(settings: ServiceSettings, resources: contextlib.AsyncExitStack
                        ) -> ServiceWiring:
            pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
            resources.push_async_callback(pool.close)
            servicer = IngestServicer(pool, MODELS)
            return ServiceWiring(
                registrations=[lambda server: data_pb2_grpc.add_DataServiceServicer_to_server(
                    servicer, server)],
                service_names=["analytics.data.v1.DataService"])

        stop = asyncio.Event()
        port: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(settings, build, stop, on_listening=port.set_result))
        await asyncio.wait([task, port], return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        try:
            async with channel_with(f"127.0.0.1:{port.result()}",
                                    bearer_metadata(token)) as channel:
                yield data_pb2_grpc.DataServiceStub(channel)
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def bench_bulk(pool: asyncpg.Pool, model: ObjectModel, rows: int) -> None:
    client = f"bench-{uuid.uuid4().hex[:8]}"
    columns = ("order_id", "customer_id", "channel", "region", "status", "order_value",
               "created_at", "promised_at", "delivered_in_full")
    began = time.perf_counter()
    loaded = await store.bulk_load(pool, client, model, typed_orders(rows, seed=3), columns,
                                   carrying=carrying(model, MODELS))
    elapsed = time.perf_counter() - began
    groups = await pool.fetchval(
        f"SELECT count(*) FROM {tables.rollup_table(model)} WHERE client_id = $1", client)
    print(f"bulk_load of {loaded:,} rows (COPY + rollup rebuild of {groups:,} groups): "
          f"{elapsed:.1f} s, {loaded / elapsed:,.0f} rows/s")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, default=20, help="batches per case")
    parser.add_argument("--bulk-rows", type=int, default=1_000_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2500, 5000],
                        help="rows per batch")
    parser.add_argument("--writers", type=int, nargs="*", default=[2, 4],
                        help="concurrent writers per case (batches of 1000 rows)")
    parser.add_argument("--rpc-only", action="store_true",
                        help="only the IngestRows and StreamIngestRows cases")
    arguments = parser.parse_args()
    model = MODELS["ORDER"]
    async with database() as url, asyncpg.create_pool(url, min_size=1, max_size=8) as pool:
        # A live stream (rows 10 ms apart: a minute holds many rows per rollup group), then a
        # sparse backfill (rows 3 s apart: nearly every row is a rollup group of its own).
        for spacing_ms in (10, 3000):
            await bench_ingest(pool, url, model, arguments.batches,
                               datetime.timedelta(milliseconds=spacing_ms),
                               tuple(arguments.sizes), tuple(arguments.writers),
                               arguments.rpc_only)
        if not arguments.rpc_only:
            await bench_bulk(pool, model, arguments.bulk_rows)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
