"""The outbox relay against a real PostgreSQL and Redis: committed changes are announced in order
with what changed; with Redis down ingest keeps succeeding and the relay catches up afterwards with
nothing missed; the data service runs the relay by itself."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as redis
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.events.v1 import events_pb2
from google.protobuf import struct_pb2

from analytics_engine.migrations import apply_migrations
from services.bus.envelopes import ENVELOPE_FIELD
from services.bus.names import DATA_CHANGED_STREAM
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import store
from services.data.app import DataSettings
from services.data.app import build as build_data
from services.data.relay import OutboxRelay, RelaySettings
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.grpc_servers import running_service
from tests.fixtures.redis import RedisServer

UTC = datetime.UTC
START = datetime.datetime(2026, 10, 5, 8, 0, tzinfo=UTC)
FAST = RelaySettings(
    batch_size=50,
    idle_poll_seconds=0.01,
    retry_first_seconds=0.05,
    retry_max_seconds=0.2,
    publish_timeout_seconds=1.0,
)


@pytest.fixture(scope="module")
def order() -> ObjectModel:
    model = load_catalog_files().object_model("ORDER")
    assert model is not None
    return model


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A database of its own: a relay elsewhere in the session would take these rows."""
    await apply_migrations(fresh_database)
    async with asyncpg.create_pool(fresh_database, min_size=1, max_size=6) as pool:
        yield pool


def an_order(number: int, minute: int = 0) -> dict[str, object]:
    created = START + datetime.timedelta(minutes=minute, seconds=number % 50)
    return {
        "order_id": f"SO-{number}",
        "customer_id": f"CUST-{number % 7}",
        "channel": "web",
        "region": "EMEA",
        "status": "open",
        "order_value": "10.50",
        "created_at": created.isoformat(),
        "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
    }


async def read_changes(
    client: redis.Redis, stream: str = DATA_CHANGED_STREAM
) -> list[events_pb2.EventEnvelope]:
    entries = await client.xrange(stream)
    return [events_pb2.EventEnvelope.FromString(fields[ENVELOPE_FIELD]) for _, fields in entries]


@contextlib.asynccontextmanager
async def relaying(relay: OutboxRelay) -> AsyncIterator[None]:
    task = asyncio.create_task(relay.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: object, seconds: float = 10.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + seconds
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def unrelayed(pool: asyncpg.Pool) -> int:
    return int(
        await pool.fetchval("SELECT count(*) FROM analytics.change_outbox WHERE relayed_at IS NULL")
    )


async def test_each_committed_change_is_announced_in_order(
    pool: asyncpg.Pool, own_redis: RedisServer, order: ObjectModel
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    try:
        results = [
            await store.ingest_rows(pool, "acme", order, [an_order(n, minute=n)])
            for n in range(120)  # more than two relay batches
        ]
        async with relaying(OutboxRelay(pool, client, FAST)):
            await until(lambda: _count_is(client, 120))
        changes = await read_changes(client)
        outbox = await pool.fetch("SELECT * FROM analytics.change_outbox ORDER BY id")
        assert [c.data_changed.outbox_ids[0] for c in changes] == [row["id"] for row in outbox]
        first, result = changes[0], results[0]
        assert first.source == "data" and first.client_id == "acme"
        changed = first.data_changed
        assert (changed.client_id, changed.object_model_code, changed.row_count) == (
            "acme",
            "ORDER",
            1,
        )
        assert changed.data_version == result.data_version
        assert changed.kind == events_pb2.DATA_CHANGE_KIND_INGESTED
        span = changed.affected_time_range
        assert span.start.ToDatetime(tzinfo=UTC) == result.affected_start
        assert span.end.ToDatetime(tzinfo=UTC) == result.affected_end
        assert changed.watermark.ToDatetime(tzinfo=UTC) == result.watermark
        # The relay stamps a batch after publishing it: the last stamp may land just after.
        await until(lambda: _nothing_unrelayed(pool))
        # Event ids derive from the outbox id: a re-published row is recognisably the same event.
        assert len({c.event_id for c in changes}) == 120
    finally:
        await client.aclose()


async def _count_is(client: redis.Redis, expected: int) -> bool:
    return int(await client.xlen(DATA_CHANGED_STREAM)) >= expected


async def test_with_redis_down_ingest_succeeds_and_the_relay_catches_up(
    pool: asyncpg.Pool, own_redis: RedisServer, order: ObjectModel
) -> None:
    client = redis.Redis.from_url(own_redis.url, socket_connect_timeout=0.5)
    relay = OutboxRelay(pool, client, FAST)
    try:
        async with relaying(relay):
            before = [await store.ingest_rows(pool, "acme", order, [an_order(n)]) for n in range(5)]
            await until(lambda: _count_is(client, 5))
            own_redis.stop()
            during = [
                await store.ingest_rows(pool, "acme", order, [an_order(100 + n, minute=n)])
                for n in range(40)
            ]
            assert all(result.accepted_row_count == 1 for result in during)
            await asyncio.sleep(0.5)
            assert await unrelayed(pool) == 40
            assert relay.stats.failures > 0
            own_redis.start()  # empty: whatever the stream held before the outage is gone
            await until(lambda: _count_is(client, 40))
            await until(lambda: _nothing_unrelayed(pool))
        changes = await read_changes(client)
        announced = [c.data_changed.data_version for c in changes]
        assert announced == [result.data_version for result in during]
        assert len(before) == 5
    finally:
        await client.aclose()


async def _nothing_unrelayed(pool: asyncpg.Pool) -> bool:
    return await unrelayed(pool) == 0


async def test_two_relays_share_the_outbox_without_losing_a_change(
    pool: asyncpg.Pool, own_redis: RedisServer, order: ObjectModel
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    try:
        first, second = OutboxRelay(pool, client, FAST), OutboxRelay(pool, client, FAST)
        async with relaying(first), relaying(second):
            await asyncio.gather(
                *(
                    store.ingest_rows(pool, f"client-{n % 4}", order, [an_order(n)])
                    for n in range(200)
                )
            )
            await until(lambda: _count_is(client, 200))
            await until(lambda: _nothing_unrelayed(pool))
        ids = [c.data_changed.outbox_ids[0] for c in await read_changes(client)]
        assert sorted(ids) == [
            row["id"]
            for row in await pool.fetch("SELECT id FROM analytics.change_outbox ORDER BY id")
        ]
        assert len(ids) == len(set(ids)) == 200
        assert first.stats.events + second.stats.events == 200
    finally:
        await client.aclose()


async def test_relayed_rows_are_pruned_after_the_retention(
    pool: asyncpg.Pool, own_redis: RedisServer, order: ObjectModel
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    try:
        for n in range(3):
            await store.ingest_rows(pool, "acme", order, [an_order(n)])
        relay = OutboxRelay(pool, client, FAST)
        assert await relay.relay_batch() == 3
        await pool.execute(
            "UPDATE analytics.change_outbox SET relayed_at = now() - interval '2 days' "
            "WHERE id = (SELECT min(id) FROM analytics.change_outbox)"
        )
        await store.ingest_rows(pool, "acme", order, [an_order(50)])
        assert await relay.prune() == 1
        remaining = await pool.fetch(
            "SELECT relayed_at IS NULL AS pending FROM analytics.change_outbox ORDER BY id"
        )
        assert [row["pending"] for row in remaining] == [False, False, True]
    finally:
        await client.aclose()


async def test_the_data_service_relays_what_ingest_rows_commits(
    fresh_database: str, own_redis: RedisServer
) -> None:
    await apply_migrations(fresh_database)
    settings = DataSettings(
        service_name="data",
        listen="127.0.0.1:0",
        dependency_check_seconds=0.1,
        database_url=fresh_database,
        redis_url=own_redis.url,
    )
    client = redis.Redis.from_url(own_redis.url)
    try:
        async with (
            running_service(build_data, settings) as service,
            channel_with(service.address, local_tokens().admin()) as channel,
        ):
            stub = data_pb2_grpc.DataServiceStub(channel)
            row = struct_pb2.Struct()
            row.update(an_order(1))
            client_id = f"client-{uuid.uuid4().hex[:6]}"
            reply = await stub.IngestRows(
                data_pb2.IngestRowsRequest(
                    client_id=client_id, object_model_code="ORDER", rows=[row]
                ),
                timeout=10,
            )
            assert reply.accepted_row_count == 1
            await until(lambda: _count_is(client, 1))
            (change,) = await read_changes(client)
            assert change.data_changed.client_id == client_id
            assert change.data_changed.data_version == reply.data_version
    finally:
        await client.aclose()


async def test_a_large_backlog_is_relayed_completely_and_in_order(
    pool: asyncpg.Pool, own_redis: RedisServer
) -> None:
    # Outbox rows as a long outage leaves them (written directly: ingest speed is not the point).
    await pool.execute(
        "INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, "
        "range_end, watermark, row_count, data_version) "
        "SELECT 'acme', 'ORDER', $1::timestamptz, $1::timestamptz + interval '1 minute', $1, 1, n "
        "FROM generate_series(1, 20000) AS n",
        START,
    )
    client = redis.Redis.from_url(own_redis.url)
    try:
        relay = OutboxRelay(pool, client, RelaySettings(idle_poll_seconds=0.01))
        started = asyncio.get_running_loop().time()
        async with relaying(relay):
            await until(lambda: _nothing_unrelayed(pool), 60)
        elapsed = asyncio.get_running_loop().time() - started
        versions = [c.data_changed.data_version for c in await read_changes(client)]
        assert versions == list(range(1, 20001))
        print(f"\nrelayed 20000 outbox rows in {elapsed:.2f} s ({20000 / elapsed:,.0f} events/s)")
    finally:
        await client.aclose()


async def test_a_commit_wakes_the_idle_relay_at_once(
    pool: asyncpg.Pool, own_redis: RedisServer, order: ObjectModel
) -> None:
    # With a poll this slow, only the commit's notification can announce a change within a second.
    slow_poll = RelaySettings(idle_poll_seconds=30.0, unnotified_poll_seconds=30.0)
    client = redis.Redis.from_url(own_redis.url)
    relay = OutboxRelay(pool, client, slow_poll)
    try:
        async with relaying(relay):
            await asyncio.sleep(0.3)  # the first, empty batch has run: the relay is waiting
            for n in range(1, 4):
                await store.ingest_rows(pool, "acme", order, [an_order(n, minute=n)])
                await until(functools.partial(_count_is, client, n), seconds=1.0)
        assert int(await client.xlen(DATA_CHANGED_STREAM)) == 3
    finally:
        await client.aclose()


async def test_the_relay_takes_a_new_connection_when_its_own_is_cut(
    pool: asyncpg.Pool, fresh_database: str, own_redis: RedisServer, order: ObjectModel
) -> None:
    """The relay keeps its batches' connection between batches: when the server ends it, the
    relay takes another and nothing committed meanwhile is missed."""
    client = redis.Redis.from_url(own_redis.url)
    relay_pool = await asyncpg.create_pool(
        fresh_database, min_size=1, max_size=2, server_settings={"application_name": "the-relay"}
    )
    try:
        async with relaying(OutboxRelay(relay_pool, client, FAST)):
            await store.ingest_rows(pool, "acme", order, [an_order(1)])
            await until(functools.partial(_count_is, client, 1))
            cut = await pool.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = 'the-relay'"
            )
            assert cut >= 1
            for n in range(2, 6):
                await store.ingest_rows(pool, "acme", order, [an_order(n, minute=n)])
            await until(functools.partial(_count_is, client, 5))
            await until(lambda: _nothing_unrelayed(pool))
        ids = [c.data_changed.outbox_ids[0] for c in await read_changes(client)]
        assert sorted(set(ids)) == [
            row["id"]
            for row in await pool.fetch("SELECT id FROM analytics.change_outbox ORDER BY id")
        ]
    finally:
        await relay_pool.close()
        await client.aclose()
