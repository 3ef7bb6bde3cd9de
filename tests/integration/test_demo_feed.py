"""The live demo feeder against a real data service (the runtime, PostgreSQL, Redis): rows and
data versions grow while it runs, and a data service that stops and comes back loses nothing
the feed produced and never stops the feeder."""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Callable

import asyncpg
import grpc
import pytest
from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import tables
from services.data.app import DataSettings, build
from services.demo.feed import FeedSpec, LiveFeed
from services.demo.feeder import Feeder, FeederSettings
from tests.fixtures.auth import local_tokens
from tests.fixtures.grpc_servers import running_service

UTC = datetime.UTC


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool:
        yield pool


def settings(database: str, redis: str, listen: str = "127.0.0.1:0") -> DataSettings:
    return DataSettings(service_name="data", listen=listen, dependency_check_seconds=0.1,
                        database_url=database, redis_url=redis)


async def count(pool: asyncpg.Pool, model: ObjectModel, client_id: str) -> int:
    value = await pool.fetchval(
        f"SELECT count(*) FROM {tables.raw_table(model)} WHERE client_id = $1", client_id)
    return int(value)


async def until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_rows_and_data_versions_grow_while_the_feeder_runs(
    migrated_db: str, redis_url: str, pool: asyncpg.Pool, models: dict[str, ObjectModel],
) -> None:
    client_id = f"feed-{uuid.uuid4().hex[:8]}"
    feed = LiveFeed(FeedSpec(client_id, rate=5), models, datetime.datetime.now(UTC))
    async with running_service(build, settings(migrated_db, redis_url)) as service:
        feeder = Feeder(feed, FeederSettings(service.address, interval=0.1,
                                                credentials=local_tokens().admin))
        stop = asyncio.Event()
        running = asyncio.create_task(feeder.run(stop))
        async with grpc.aio.insecure_channel(service.address) as channel:
            internal = data_pb2_grpc.DataInternalServiceStub(channel)

            async def versions() -> dict[str, int]:
                reply = await internal.GetDataVersions(
                    data_pb2.GetDataVersionsRequest(client_id=client_id,
                                                    object_model_codes=["ORDER", "ORDER_LINE"]),
                    timeout=5)
                return {v.object_model_code: v.version for v in reply.versions}

            # Lines wait for the orders' writers' lock (they copy the orders' status), so their
            # first batch may commit a little after the orders' first.
            await until(lambda: feeder.stats.models["ORDER"].sent_rows > 0
                        and feeder.stats.models["ORDER_LINE"].sent_rows > 0)
            first_orders = await count(pool, models["ORDER"], client_id)
            first_versions = await versions()
            await asyncio.sleep(2.0)
            later_orders = await count(pool, models["ORDER"], client_id)
            later_versions = await versions()
        stop.set()
        stats = await running
    assert 0 < first_orders < later_orders
    assert 0 < first_versions["ORDER"] < later_versions["ORDER"]
    assert 0 < first_versions["ORDER_LINE"] < later_versions["ORDER_LINE"]
    assert stats.dropped_rows == 0 and stats.queued_rows == 0
    assert stats.models["ORDER"].data_version >= later_versions["ORDER"]
    # Lines of every order sent are stored (several per order, same client).
    assert await count(pool, models["ORDER_LINE"], client_id) >= later_orders


async def test_a_restarting_data_service_loses_nothing_and_does_not_stop_the_feeder(
    migrated_db: str, redis_url: str, pool: asyncpg.Pool, models: dict[str, ObjectModel],
) -> None:
    client_id = f"feed-{uuid.uuid4().hex[:8]}"
    start = datetime.datetime.now(UTC)
    spec = FeedSpec(client_id, rate=6)
    feed = LiveFeed(spec, models, start)
    stop = asyncio.Event()
    async with running_service(build, settings(migrated_db, redis_url)) as service:
        address = service.address
        feeder = Feeder(feed, FeederSettings(address, interval=0.1, max_backoff=0.5,
                                                credentials=local_tokens().admin))
        running = asyncio.create_task(feeder.run(stop))
        await until(lambda: feeder.stats.models["ORDER"].sent_rows > 20)
    # The service is gone: the feeder keeps producing and queues what it cannot send.
    await until(lambda: feeder.stats.waiting_since is not None)
    await asyncio.sleep(1.5)
    assert not running.done()
    assert feeder.stats.queued_rows > 0
    orders_sent_before_the_outage = feeder.stats.models["ORDER"].sent_rows
    async with running_service(build, settings(migrated_db, redis_url, listen=address)):
        await until(lambda: feeder.stats.waiting_since is None and feeder.stats.queued_rows == 0)
        stop.set()
        stats = await running
    assert stats.retries > 0 and stats.dropped_rows == 0 and stats.queued_rows == 0
    # Exactly what the same feed produced up to where it stopped is stored, latest states last.
    expected: dict[str, str] = {}
    replay = LiveFeed(spec, models, start)
    for event in replay.advance(feed.cursor):
        if event.object_model_code == "ORDER":
            expected[str(event.row["order_id"])] = str(event.row["status"])
    stored = await pool.fetch(
        f"SELECT order_id, status FROM {tables.raw_table(models['ORDER'])} WHERE client_id = $1",
        client_id)
    assert {row["order_id"]: row["status"] for row in stored} == expected
    # What was queued during the outage reached the service after it (a count of orders would
    # depend on how fast the service came back).
    assert stats.models["ORDER"].sent_rows > orders_sent_before_the_outage
