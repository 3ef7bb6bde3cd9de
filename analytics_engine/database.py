"""The stack's PostgreSQL: the embedded server in the data dir, or an external DATABASE_URL."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)


class _Server(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def pid(self) -> int: ...

    def stop(self) -> None: ...


@dataclass
class Database:
    """Where the database is, and the server process when the stack owns it."""

    url: str
    server: _Server | None = None

    @property
    def pid(self) -> int | None:
        return self.server.pid if self.server else None

    def stop(self) -> None:
        if self.server is not None:
            logger.info("stopping postgres (pid %d)", self.server.pid)
            self.server.stop()
            self.server = None


def open_database(external_url: str | None, data_dir: Path) -> Database:
    """Use `external_url` when given, else start the embedded server with its files in data_dir."""
    if external_url:
        return Database(url=external_url)
    from analytics_engine.embedded.postgres import EmbeddedPostgres

    server = EmbeddedPostgres.start(data_dir)
    logger.info("postgres started (pid %d)", server.pid)
    return Database(url=server.url, server=server)


def migrate(url: str) -> list[str]:
    """Apply pending migrations from sql/; returns the names applied now."""
    from analytics_engine.migrations import apply_migrations

    return asyncio.run(apply_migrations(url))
