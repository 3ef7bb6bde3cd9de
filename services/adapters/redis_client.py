"""Redis client as a service resource and a readiness dependency."""

from __future__ import annotations

import contextlib

import redis.asyncio as redis

from services.runtime.server import Dependency

# A reply that never comes (a half-open connection, a stalled server) fails the call, which its
# caller retries, instead of hanging the service's loop that made it for good. Longer than the
# longest BLOCK a bus consumer asks for (services.bus.streams.ConsumerSettings.block_ms, 1 s).
REPLY_TIMEOUT_SECONDS = 10.0


async def open_redis(resources: contextlib.AsyncExitStack, url: str) -> redis.Redis:
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_timeout=REPLY_TIMEOUT_SECONDS,
        health_check_interval=30,
    )
    resources.push_async_callback(client.aclose)
    return client


def redis_dependency(client: redis.Redis) -> Dependency:
    async def check() -> None:
        await client.ping()

    return Dependency("redis", check)
