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
    stateless_sessions: bool = False,
    statements_kept: int = 100,
    longest_statement_kept: int = 15 * 1024,
) -> asyncpg.Pool:
    """A pool that opens connections lazily, so the service can start (NOT_SERVING) before the
    database is up; it is closed when the service stops. `server_settings` apply to every
    connection of the pool (session settings, set once when a connection opens).

    A connection going back to the pool is reset (listeners, advisory locks, cursors and
    settings dropped): a round trip per use. `stateless_sessions` skips it (an open transaction
    is still rolled back) for pools whose users only run single statements that leave nothing
    behind in the session.

    Each connection keeps up to `statements_kept` statements prepared (by text, those of at most
    `longest_statement_kept` characters), so running one again skips parsing it."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=max_size,
        command_timeout=30,
        server_settings=dict(server_settings or {}),
        reset=_keep_session if stateless_sessions else None,
        statement_cache_size=statements_kept,
        max_cacheable_statement_size=longest_statement_kept,
    )
    resources.push_async_callback(pool.close)
    return pool


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Nothing to reset: see `open_pool`."""


def pool_dependency(pool: asyncpg.Pool) -> Dependency:
    async def check() -> None:
        async with pool.acquire() as connection:
            await connection.fetchval("SELECT 1")

    return Dependency("postgresql", check)
