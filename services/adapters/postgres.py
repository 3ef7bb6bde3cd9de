"""PostgreSQL connection pool as a service resource and a readiness dependency."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import asyncpg

from services.runtime.server import Dependency


async def open_pool(
    resources: contextlib.AsyncExitStack,
    dsn: str,
    *,
    max_size: int = 10,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool that opens connections lazily, so the service can start (NOT_SERVING) before the
    database is up; it is closed when the service stops. `server_settings` apply to every
    connection of the pool (session settings, set once when a connection opens)."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=30,
        server_settings=dict(server_settings or {}),
    )
    resources.push_async_callback(pool.close)
    return pool


def pool_dependency(pool: asyncpg.Pool) -> Dependency:
    async def check() -> None:
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1")

    return Dependency("postgresql", check)
