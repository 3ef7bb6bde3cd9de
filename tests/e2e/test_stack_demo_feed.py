"""`analytics-engine demo feed` against the running stack: a client without demo data gets its
history first, then live rows land through the data service while the command runs."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

import asyncpg
import grpc
import pytest
from analytics.data.v1 import data_pb2, data_pb2_grpc

from analytics_engine import state as stack_state
from analytics_engine.supervisor import FEEDER
from services.catalog.catalog_files import load_catalog_files
from services.data import tables
from tests.fixtures.stack import UP_TIMEOUT, Stack, run_cli, stop_stack

pytestmark = pytest.mark.stack


def data_versions(stack: Stack, client_id: str) -> dict[str, int]:
    with grpc.insecure_channel(stack.components["data"]) as channel:
        reply = data_pb2_grpc.DataInternalServiceStub(channel).GetDataVersions(
            data_pb2.GetDataVersionsRequest(client_id=client_id), timeout=10)
    return {version.object_model_code: version.version for version in reply.versions}


async def stored_rows(stack: Stack, client_id: str, codes: tuple[str, ...]) -> dict[str, int]:
    models = {model.code: model for model in load_catalog_files().object_models}
    connection = await asyncpg.connect(stack.state().database_url)
    try:
        return {
            code: int(await connection.fetchval(
                f"SELECT count(*) FROM {tables.raw_table(models[code])} WHERE client_id = $1",
                client_id))
            for code in codes
        }
    finally:
        await connection.close()


async def test_demo_feed_loads_history_then_ingests_live_rows(stack: Stack) -> None:
    client_id = f"feed-{uuid.uuid4().hex[:8]}"
    codes = ("CUSTOMER", "ORDER", "ORDER_LINE", "SUPPORT_TICKET")
    fed = stack.cli("demo", "feed", "--client", client_id, "--duration", "3", "--rate", "5",
                    "--history-days", "1", "--rows-per-day", "20")
    assert fed.returncode == 0, fed.stdout + fed.stderr
    assert "has no demo data yet" in fed.stdout
    sent = re.search(r"Sent ([\d,]+) rows", fed.stdout)
    assert sent is not None, fed.stdout
    assert int(sent.group(1).replace(",", "")) > 20
    after_first = await stored_rows(stack, client_id, codes)
    versions = data_versions(stack, client_id)
    # History (customers) and live rows (orders and tickets created now) are both there.
    assert all(after_first[code] > 0 for code in codes), after_first

    # Run again: the history is there now, so only live rows come, and counts and versions grow.
    again = stack.cli("demo", "feed", "--client", client_id, "--duration", "3", "--rate", "5",
                      "--rows-per-day", "20")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "has no demo data yet" not in again.stdout
    after_second = await stored_rows(stack, client_id, codes)
    assert after_second["CUSTOMER"] >= after_first["CUSTOMER"]
    assert after_second["ORDER"] > after_first["ORDER"]
    assert after_second["SUPPORT_TICKET"] > after_first["SUPPORT_TICKET"]
    assert data_versions(stack, client_id)["ORDER"] > versions["ORDER"]


def test_demo_feed_without_a_running_stack_says_so(tmp_path: Path) -> None:
    result = run_cli("demo", "feed", "--duration", "1", "--data-dir", str(tmp_path))
    assert result.returncode == 3
    assert "not running" in result.stderr


async def test_up_with_feed_runs_a_supervised_feeder_that_stops_with_the_stack(
    tmp_path: Path,
) -> None:
    """A stack of its own (the shared one runs without a feed)."""
    client_id = f"upfeed-{uuid.uuid4().hex[:6]}"
    data_dir = tmp_path / "fed-stack"
    up = run_cli("up", "--detach", "--ports", "auto", "--data-dir", str(data_dir), "--feed",
                 "--feed-client", client_id, "--feed-rate", "5", timeout=UP_TIMEOUT)
    assert up.returncode == 0, up.stdout + up.stderr
    record = stack_state.read(data_dir / "run" / "stack.json")
    assert record is not None
    own = Stack(data_dir, record.public_address, record.admin_address,
                {entry.name: entry.address for entry in record.processes})
    try:
        feeder = record.process(FEEDER)
        assert feeder is not None and feeder.ref().alive()
        # The feeder loads the client's history, then live orders keep coming.
        deadline = time.monotonic() + 120
        live = await live_orders(own, client_id)
        while live == 0:
            assert time.monotonic() < deadline, subprocess_log(data_dir)
            await asyncio.sleep(0.5)
            live = await live_orders(own, client_id)
        assert (await stored_rows(own, client_id, ("CUSTOMER",)))["CUSTOMER"] > 0
        await asyncio.sleep(2.0)
        assert await live_orders(own, client_id) > live, subprocess_log(data_dir)
    finally:
        stop_stack(own)
    assert not feeder.ref().alive()


async def live_orders(stack: Stack, client_id: str) -> int:
    """Orders the feed created (their ids carry the second they were created in: SO-...-L...)."""
    order = next(m for m in load_catalog_files().object_models if m.code == "ORDER")
    connection = await asyncpg.connect(stack.state().database_url)
    try:
        return int(await connection.fetchval(
            f"SELECT count(*) FROM {tables.raw_table(order)} "
            "WHERE client_id = $1 AND order_id LIKE 'SO-%-L%'", client_id))
    finally:
        await connection.close()


def subprocess_log(data_dir: Path) -> str:
    return (data_dir / "logs" / f"{FEEDER}.log").read_text(errors="replace")[-3000:]
