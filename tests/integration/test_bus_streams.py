"""The bus against a real Redis: stream round trips, consumer groups sharing and redelivering
entries, claims from a dead consumer, survival of a Redis restart, and pub/sub channels."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence

import pytest
import redis.asyncio as redis
from analytics.events.v1 import events_pb2

from services.bus.channels import ChannelListener, publish_many
from services.bus.envelopes import ENVELOPE_FIELD, envelope
from services.bus.streams import ConsumerSettings, Delivery, StreamConsumer, StreamPublisher
from tests.fixtures.redis import RedisServer

FAST = ConsumerSettings(
    batch_size=50,
    block_ms=100,
    claim_idle_seconds=0.3,
    claim_every_seconds=0.1,
    retry_first_seconds=0.05,
    retry_max_seconds=0.2,
)


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client


@pytest.fixture
def stream() -> str:
    return f"test:bus:{uuid.uuid4().hex[:8]}"


def changes(count: int, client_id: str = "acme") -> list[events_pb2.EventEnvelope]:
    return [
        envelope(
            events_pb2.DataChanged(client_id=client_id, object_model_code="ORDER", outbox_ids=[n]),
            source="test",
            client_id=client_id,
        )
        for n in range(count)
    ]


def numbers(deliveries: Sequence[Delivery]) -> list[int]:
    return [d.envelope.data_changed.outbox_ids[0] for d in deliveries]


@contextlib.asynccontextmanager
async def consuming(
    consumer: StreamConsumer, seen: list[Delivery], fail_first: int = 0
) -> AsyncIterator[asyncio.Task[None]]:
    failures = {"left": fail_first}

    async def handle(deliveries: Sequence[Delivery]) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("handler failed on purpose")
        seen.extend(deliveries)

    task = asyncio.create_task(consumer.run(handle))
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: object, seconds: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_published_envelopes_arrive_in_order_and_are_acknowledged(
    client: redis.Redis, stream: str
) -> None:
    ids = await StreamPublisher(client).publish(stream, changes(1200))
    assert len(ids) == 1200 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    consumer = StreamConsumer(client, stream, "group", "only", FAST)
    seen: list[Delivery] = []
    async with consuming(consumer, seen):
        await until(lambda: len(seen) == 1200)
    assert numbers(seen) == list(range(1200))
    assert [d.entry_id for d in seen] == ids
    pending = await client.xpending(stream, "group")
    assert pending["pending"] == 0


async def test_a_handled_batch_is_acknowledged_with_the_next_read(
    client: redis.Redis, stream: str
) -> None:
    """One call at a time: a batch's acknowledgement goes with the read that follows it, which
    then waits for new entries; nothing is left pending meanwhile, and nothing comes twice."""
    consumer = StreamConsumer(client, stream, "group", "steady", FAST)
    seen: list[Delivery] = []
    async with consuming(consumer, seen):
        await StreamPublisher(client).publish(stream, changes(3))
        await until(lambda: len(seen) == 3)
        await until_async(lambda: pending_count(client, stream), 0)
        await StreamPublisher(client).publish(stream, changes(2))
        await until(lambda: len(seen) == 5)
        await until_async(lambda: pending_count(client, stream), 0)
    assert len({d.entry_id for d in seen}) == 5


async def test_a_group_shares_entries_between_consumers_without_duplicates(
    client: redis.Redis, stream: str
) -> None:
    first = StreamConsumer(client, stream, "group", "first", FAST)
    second = StreamConsumer(client, stream, "group", "second", FAST)
    await first.ensure_group()
    seen_first: list[Delivery] = []
    seen_second: list[Delivery] = []
    async with consuming(first, seen_first), consuming(second, seen_second):
        publisher = StreamPublisher(client)
        for _ in range(20):
            await publisher.publish(stream, changes(10))
            await asyncio.sleep(0.01)
        await until(lambda: len(seen_first) + len(seen_second) == 200)
    ids = [d.entry_id for d in seen_first + seen_second]
    assert len(set(ids)) == 200


async def test_a_failed_handler_gets_the_same_entries_again(
    client: redis.Redis, stream: str
) -> None:
    await StreamPublisher(client).publish(stream, changes(5))
    consumer = StreamConsumer(client, stream, "group", "flaky", FAST)
    seen: list[Delivery] = []
    async with consuming(consumer, seen, fail_first=2):
        await until(lambda: len(seen) >= 5)
    assert numbers(seen) == [0, 1, 2, 3, 4]


CONCURRENT = dataclasses.replace(FAST, concurrency=2)


async def test_a_concurrent_consumer_reads_on_while_a_batch_is_handled(
    client: redis.Redis, stream: str
) -> None:
    """The second batch is handled and acknowledged while the first is still being handled;
    the first is acknowledged only once its own call returns."""
    consumer = StreamConsumer(client, stream, "group", "busy", CONCURRENT)
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[int] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        if 0 in numbers(deliveries):
            started.set()
            await release.wait()
        seen.extend(numbers(deliveries))

    publisher = StreamPublisher(client)
    task = asyncio.create_task(consumer.run(handle))
    try:
        await publisher.publish(stream, changes(1))
        await asyncio.wait_for(started.wait(), 5.0)
        second = [
            envelope(events_pb2.DataChanged(client_id="acme", outbox_ids=[n]), source="test")
            for n in (1, 2)
        ]
        await publisher.publish(stream, second)
        await until(lambda: seen == [1, 2])
        pending = await client.xpending(stream, "group")
        assert pending["pending"] == 1  # the blocked first batch only
        release.set()
        await until(lambda: sorted(seen) == [0, 1, 2])
        await until_async(lambda: pending_count(client, stream), 0)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_failed_batch_of_a_concurrent_consumer_comes_back_and_nothing_twice(
    client: redis.Redis, stream: str
) -> None:
    consumer = StreamConsumer(client, stream, "group", "flaky-busy", CONCURRENT)
    publisher = StreamPublisher(client)
    seen: list[Delivery] = []
    async with consuming(consumer, seen, fail_first=3):
        for _ in range(10):
            await publisher.publish(stream, changes(10))
            await asyncio.sleep(0.01)
        await until(lambda: len(seen) >= 100)
        await until_async(lambda: pending_count(client, stream), 0)
    assert sorted(numbers(seen)) == sorted(list(range(10)) * 10)
    assert len({d.entry_id for d in seen}) == len(seen) == 100


async def pending_count(client: redis.Redis, stream: str) -> int:
    pending = await client.xpending(stream, "group")
    return int(pending["pending"])


async def until_async(read: object, expected: object, seconds: float = 5.0) -> None:
    assert callable(read)
    deadline = asyncio.get_running_loop().time() + seconds
    while await read() != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never {expected!r}")
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("settings", [FAST, CONCURRENT], ids=["one call", "concurrent"])
async def test_a_handler_that_keeps_failing_is_retried_less_and_less_often(
    client: redis.Redis, stream: str, settings: ConsumerSettings
) -> None:
    await StreamPublisher(client).publish(stream, changes(1))
    consumer = StreamConsumer(client, stream, "group", "broken", settings)
    calls: list[float] = []

    async def handle(deliveries: Sequence[Delivery]) -> None:
        calls.append(asyncio.get_running_loop().time())
        raise RuntimeError("handler failed on purpose")

    task = asyncio.create_task(consumer.run(handle))
    try:
        await asyncio.sleep(1.2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Waits of 0.05, 0.1, then 0.2 s: about eight calls; a wait that never grew would allow 20.
    assert 3 <= len(calls) <= 10
    assert calls[-1] - calls[-2] >= 0.15


async def test_entries_left_pending_by_a_dead_consumer_are_claimed(
    client: redis.Redis, stream: str
) -> None:
    await StreamPublisher(client).publish(stream, changes(7))
    dead = StreamConsumer(client, stream, "group", "dead", FAST)
    await dead.ensure_group()
    taken = await dead.read(block_ms=100)
    assert len(taken) == 7  # read, never acknowledged: the process "died" here
    survivor = StreamConsumer(client, stream, "group", "survivor", FAST)
    seen: list[Delivery] = []
    async with consuming(survivor, seen):
        await until(lambda: len(seen) == 7)
    assert sorted(numbers(seen)) == list(range(7))
    assert (await client.xpending(stream, "group"))["pending"] == 0


async def test_the_consumer_survives_a_redis_restart_that_lost_the_group(
    own_redis: RedisServer,
) -> None:
    client = redis.Redis.from_url(own_redis.url, socket_connect_timeout=1)
    try:
        stream = "test:bus:restart"
        consumer = StreamConsumer(client, stream, "group", "patient", FAST)
        seen: list[Delivery] = []
        async with consuming(consumer, seen):
            await StreamPublisher(client).publish(stream, changes(3))
            await until(lambda: len(seen) == 3)
            own_redis.stop()
            await asyncio.sleep(0.5)
            own_redis.start()  # no persistence: stream and group are gone
            await publish_when_up(client, stream, changes(4, "after"))
            await until(lambda: len(seen) == 7, 10)
        assert [d.envelope.client_id for d in seen[3:]] == ["after"] * 4
    finally:
        await client.aclose()


async def publish_when_up(
    client: redis.Redis, stream: str, envelopes: list[events_pb2.EventEnvelope]
) -> None:
    for _ in range(50):
        try:
            await StreamPublisher(client).publish(stream, envelopes)
            return
        except (redis.ConnectionError, OSError):
            await asyncio.sleep(0.1)
    raise AssertionError("redis did not come back")


async def test_unreadable_entries_are_acknowledged_and_skipped(
    client: redis.Redis, stream: str
) -> None:
    await client.xadd(stream, {ENVELOPE_FIELD: b"\xff\xfe garbage"})
    await client.xadd(stream, {b"other": b"field"})
    await StreamPublisher(client).publish(stream, changes(1))
    consumer = StreamConsumer(client, stream, "group", "picky", FAST)
    seen: list[Delivery] = []
    async with consuming(consumer, seen):
        await until(lambda: len(seen) == 1)
    assert numbers(seen) == [0]
    assert (await client.xpending(stream, "group"))["pending"] == 0


async def test_channel_messages_reach_their_subscribers_only(client: redis.Redis) -> None:
    watched, other = f"test:ch:{uuid.uuid4().hex[:6]}", f"test:ch:{uuid.uuid4().hex[:6]}"
    async with ChannelListener(client) as listener:
        await listener.subscribe([watched])
        assert listener.channels == {watched}
        updates = [
            (watched, events_pb2.KpiUpdated(subscription_key="a")),
            (other, events_pb2.KpiUpdated(subscription_key="b")),
            (watched, events_pb2.KpiUpdated(subscription_key="c")),
        ]
        assert await publish_many(client, updates) == 2
        received = [await listener.get(2.0), await listener.get(2.0)]
        keys = [
            events_pb2.KpiUpdated.FromString(m.data).subscription_key
            for m in received
            if m is not None
        ]
        assert keys == ["a", "c"]
        assert all(m is not None and m.channel == watched for m in received)
        await listener.unsubscribe([watched])
        await publish_many(client, updates[:1])
        assert await listener.get(0.2) is None


async def test_consumers_of_finished_processes_are_forgotten(
    client: redis.Redis, stream: str
) -> None:
    await StreamPublisher(client).publish(stream, changes(2))
    settings = ConsumerSettings(forget_idle_consumers_seconds=0.2)
    old = StreamConsumer(client, stream, "group", "old-process", settings)
    await old.ensure_group()
    taken = await old.read(block_ms=10)
    assert len(taken) == 2
    current = StreamConsumer(client, stream, "group", "current-process", settings)
    await current.read(block_ms=10)
    await asyncio.sleep(0.3)
    assert await current.forget_idle_consumers() == []  # the old one still holds entries
    await old.ack(taken)
    await asyncio.sleep(0.3)
    assert await current.forget_idle_consumers() == ["old-process"]
    names = [c["name"] for c in await client.xinfo_consumers(stream, "group")]
    assert names == [b"current-process"]
