"""The result cache's two tiers against a real Redis: local copies answer without Redis, are
bounded by bytes, and a key the local tier dropped is still found in Redis."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as redis

from services.calculation.cache import LocalResults, ResultCache


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client


def keys(count: int) -> list[str]:
    prefix = uuid.uuid4().hex
    return [f"calc:result:v2:test:{prefix}:{n}" for n in range(count)]


def test_local_results_drop_the_least_recently_used_beyond_capacity() -> None:
    local = LocalResults(capacity_bytes=10)
    local.put("a", b"1234")
    local.put("b", b"1234")
    assert local.get("a") == b"1234"  # "a" is now the most recently used
    local.put("c", b"1234")  # 12 bytes: "b" goes
    assert local.get("b") is None and local.get("a") == b"1234" and local.get("c") == b"1234"
    assert local.size_bytes == 8
    local.put("a", b"12")  # replacing a key counts its new size only
    assert local.size_bytes == 6
    local.put("huge", b"x" * 11)  # larger than the whole capacity: never kept
    assert local.get("huge") is None and local.size_bytes == 6
    assert LocalResults(0).get("a") is None


async def test_local_copies_answer_when_redis_has_lost_them(client: redis.Redis) -> None:
    cache = ResultCache(client, ttl_seconds=60, local_bytes=1024)
    first, second = keys(2)
    await cache.put_many({first: b"result one"})
    await client.delete(first)
    assert await cache.get_many([first, second]) == {first: b"result one"}


async def test_results_beyond_the_local_capacity_come_from_redis(client: redis.Redis) -> None:
    writer = ResultCache(client, ttl_seconds=60, local_bytes=0)
    reader = ResultCache(client, ttl_seconds=60, local_bytes=16)
    small, large = keys(2)
    await writer.put_many({small: b"tiny", large: b"y" * 64})
    assert await reader.get_many([small, large]) == {small: b"tiny", large: b"y" * 64}
    # The small one was kept locally on the way; the large one was not.
    await client.delete(small, large)
    assert await reader.get_many([small, large]) == {small: b"tiny"}


async def test_kept_results_are_here_at_once_and_in_redis_once_settled(
    client: redis.Redis,
) -> None:
    cache = ResultCache(client, ttl_seconds=60, local_bytes=1024)
    (key,) = keys(1)
    await cache.keep({key: b"kept"})
    assert await cache.get_many([key]) == {key: b"kept"}  # from the local copy
    await cache.settled()
    assert await client.get(key) == b"kept"
