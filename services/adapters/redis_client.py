"""Redis client as a service resource and a readiness dependency."""

from __future__ import annotations

import contextlib

import redis.asyncio as redis

from services.runtime.server import Dependency


async def open_redis(resources: contextlib.AsyncExitStack, url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
    resources.push_async_callback(client.aclose)
    return client


def redis_dependency(client: redis.Redis) -> Dependency:
    async def check() -> None:
        await client.ping()

    return Dependency("redis", check)
