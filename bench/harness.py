"""What the benchmarks share: a stack to measure (started for the run, or one already running)
and a migrated database (DATABASE_URL, or an embedded PostgreSQL for the run)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from analytics_engine import state as stack_state  # noqa: E402
from analytics_engine.credentials import bearer_metadata, mint_for_data_dir  # noqa: E402
from analytics_engine.embedded.postgres import EmbeddedPostgres  # noqa: E402
from analytics_engine.migrations import apply_migrations  # noqa: E402


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli", *args],
        cwd=ROOT,
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )


def token_metadata(
    record: stack_state.StackState, role: str = "admin", client_id: str | None = None
) -> tuple[tuple[str, str], ...]:
    """Call metadata with a token the stack accepts (an admin names the client per request)."""
    token = mint_for_data_dir(
        Path(record.data_dir), role=role, client_id=client_id, ttl_seconds=24 * 3600
    )
    return bearer_metadata(token)


@contextlib.contextmanager
def stack(
    data_dir: str | None, *up_options: str
) -> Iterator[stack_state.StackState]:
    """The stack running in `data_dir`, or a fresh one on free ports (started with `up_options`),
    stopped afterwards."""
    if data_dir is not None:
        record = stack_state.read(Path(data_dir) / "run" / "stack.json")
        if record is None:
            sys.exit(f"no running stack in {data_dir}")
        yield record
        return
    with tempfile.TemporaryDirectory() as tmp:
        # The benchmarks measure throughput, not the edge's per-client limit.
        os.environ.setdefault("AE_EDGE_RATE_LIMIT", "1000000")
        cli("up", "--detach", "--ports", "auto", "--data-dir", tmp, *up_options)
        try:
            record = stack_state.read(Path(tmp) / "run" / "stack.json")
            assert record is not None
            yield record
        finally:
            cli("down", "--data-dir", tmp)


@contextlib.asynccontextmanager
async def database() -> AsyncIterator[str]:
    """DATABASE_URL when set, else an embedded PostgreSQL for the run; migrated either way."""
    external = os.environ.get("DATABASE_URL")
    if external:
        await apply_migrations(external)
        yield external
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres.start(Path(tmp) / "data")
        try:
            await apply_migrations(server.url)
            yield server.url
        finally:
            server.stop()
