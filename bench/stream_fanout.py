"""Stream fan-out through the gateway hub: publish → client receipt latency, a storm of streams
opened at once, and server memory per open stream.

The hub runs as its own process (`python -m gateway`, so its RSS is its own), with a private
redis-server. The calculation side is a minimal lease/snapshot servicer in this process: the
benchmark measures the hub's fan-out, not calculation. N dashboard streams × K KPIs of one client
share K subscriptions; KpiUpdated messages are published to their channels at a given rate, each
value stamped with its publish time in `computed_at`, and every client measures receipt − stamp.

    .venv/bin/python bench/stream_fanout.py --streams 1000 --kpis 100 --rate 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import redis.asyncio as redis
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.events.v1 import events_pb2
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc
from analytics.type.v1 import types_pb2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics_engine.credentials import bearer_metadata, channel_with  # noqa: E402
from analytics_engine.embedded.redis import server_binary  # noqa: E402
from services.security.keys import KeyFiles, ensure_key_pair  # noqa: E402
from services.security.tokens import mint_token  # noqa: E402

CLIENT = "bench-client"
PERIOD = types_pb2.PERIOD_MINUTE


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def key_of(code: str) -> str:
    return f"{CLIENT}:{code}:{PERIOD}"


class LeaseDesk(calculation_pb2_grpc.CalculationInternalServiceServicer):
    """Benchmark harness, not the calculation service: grants every lease, snapshots nothing."""

    def __init__(self) -> None:
        self.lease_calls = 0

    async def LeaseSubscriptions(self, request: Any, context: Any) -> Any:
        self.lease_calls += 1
        response = calculation_pb2.LeaseSubscriptionsResponse()
        for subscription in request.subscriptions:
            key = key_of(subscription.kpi_code)
            response.leases.add(
                subscription_key=key, subscription=subscription, channel=f"ae:kpi:{key}"
            )
        return response

    async def ReleaseSubscriptions(self, request: Any, context: Any) -> Any:
        return calculation_pb2.ReleaseSubscriptionsResponse()

    async def GetKpiSnapshots(self, request: Any, context: Any) -> Any:
        response = calculation_pb2.GetKpiSnapshotsResponse()
        for subscription in request.subscriptions:
            response.snapshots.add(
                subscription_key=key_of(subscription.kpi_code), kpi_code=subscription.kpi_code
            )
        return response


def start(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, **options)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime are the 14th and 15th fields of the line (the 12th and 13th after the name).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def environment(
    tick: float,
) -> AsyncIterator[tuple[str, str, subprocess.Popen[bytes], tuple[tuple[str, str], ...]]]:
    """Redis, a stand-in calculation desk and a real hub process; plus the metadata of a viewer
    of CLIENT that the hub accepts (a key pair made for the run)."""
    redis_port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        redis_server = start(
            [
                server_binary(),
                "--port",
                str(redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                data_dir,
            ],
            stdout=subprocess.DEVNULL,
        )
        server = grpc.aio.server(options=[("grpc.server.max_pending_requests", 20_000)])
        calculation_pb2_grpc.add_CalculationInternalServiceServicer_to_server(LeaseDesk(), server)
        calc_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        hub_port = free_port()
        keys = KeyFiles(Path(data_dir) / "auth")
        signing_key = ensure_key_pair(keys)
        env = dict(os.environ)
        env.update(
            AE_AUTH_JWKS=str(keys.jwks),
            AE_SERVICE_NAME="gateway",
            AE_LISTEN=f"127.0.0.1:{hub_port}",
            AE_LOG_LEVEL="WARNING",
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            AE_STREAM_TICK_SECONDS=str(tick),
            AE_DEPENDENCY_CHECK_SECONDS="0.2",
        )
        for name in (
            "CATALOG",
            "CALCULATION",
            "CONFIG",
            "DATA",
            "ARCHIVAL",
            "ML",
            "ENTITIES",
            "MONITOR",
        ):
            env[f"AE_{name}_ADDR"] = f"127.0.0.1:{calc_port}"
        hub = start([sys.executable, "-m", "gateway"], cwd=ROOT, env=env)
        try:
            await wait_serving(f"127.0.0.1:{hub_port}")
            viewer = bearer_metadata(
                mint_token(signing_key, role="analyst", client_id=CLIENT, ttl_seconds=24 * 3600)
            )
            yield f"127.0.0.1:{hub_port}", f"redis://127.0.0.1:{redis_port}/0", hub, viewer
        finally:
            hub.terminate()
            # Off the loop: the hub releases its leases at shutdown, and the desk must answer.
            await asyncio.to_thread(hub.wait, 15)
            await server.stop(0)
            redis_server.terminate()
            redis_server.wait(10)


async def wait_serving(address: str) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    await asyncio.sleep(0.3)
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the hub never became SERVING")


class Receiver:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.messages = 0
        self.recording = False


async def consume(call: Any, opened: asyncio.Event | None, receiver: Receiver) -> None:
    first = await call.read()
    assert first.WhichOneof("event") == "snapshot", first
    if opened is not None:
        opened.set()
    while True:
        message = await call.read()
        if message is grpc.aio.EOF:
            return
        receiver.messages += 1
        if not receiver.recording or message.WhichOneof("event") != "update":
            continue
        now = time.time()
        for value in message.update.values:
            stamp = value.computed_at.seconds + value.computed_at.nanos / 1e9
            receiver.latencies_ms.append((now - stamp) * 1000)


async def open_streams(
    channels: list[grpc.aio.Channel], count: int, codes: list[str], receiver: Receiver
) -> tuple[list[Any], list[asyncio.Task[None]], int]:
    calls, tasks, failures = [], [], 0
    events = []
    for index in range(count):
        stub = stream_pb2_grpc.StreamServiceStub(channels[index % len(channels)])
        call = stub.StreamDashboard(
            stream_pb2.StreamDashboardRequest(kpi_codes=codes, client_id=CLIENT, period=PERIOD)
        )
        event = asyncio.Event()
        calls.append(call)
        events.append(event)
        tasks.append(asyncio.create_task(consume(call, event, receiver)))
    waits = [asyncio.create_task(event.wait()) for event in events]
    await asyncio.wait(waits, timeout=60)
    for task, wait in zip(tasks, waits, strict=True):
        if not wait.done():
            failures += 1
            wait.cancel()
        elif task.done() and task.exception() is not None:
            failures += 1
    for task in tasks:
        if task.done() and task.exception() is not None:
            print(f"  first failure: {task.exception()!r}"[:400])
            break
    return calls, tasks, failures


async def publish(redis_url: str, codes: list[str], rate: float, seconds: float) -> int:
    client = redis.Redis.from_url(redis_url)
    sent = 0
    batch_every = 0.01
    per_batch = max(1, round(rate * batch_every))
    started = time.monotonic()
    bucket = time.time() // 60 * 60
    try:
        while time.monotonic() - started < seconds:
            pipe = client.pipeline(transaction=False)
            for _ in range(per_batch):
                code = codes[sent % len(codes)]
                value = types_pb2.KpiValue(kpi_code=code, value=float(sent), period=PERIOD)
                value.bucket_start.seconds = int(bucket)
                value.computed_at.FromNanoseconds(time.time_ns())
                update = events_pb2.KpiUpdated(
                    client_id=CLIENT, period=PERIOD, subscription_key=key_of(code), values=[value]
                )
                pipe.publish(f"ae:kpi:{key_of(code)}", update.SerializeToString())
                sent += 1
            await pipe.execute()
            next_at = started + (sent / rate)
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        await client.aclose()
    return sent


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace) -> None:
    codes = [f"KPI_{i:03d}" for i in range(args.kpis)]
    async with environment(args.tick) as (address, redis_url, hub, viewer):
        channels = [channel_with(address, viewer) for _ in range(args.connections)]
        receiver = Receiver()
        base_rss = rss_kb(hub.pid)

        # Latency with one stream: the cost of fan-out is the difference.
        single_calls, single_tasks, _ = await open_streams(channels, 1, codes, receiver)
        receiver.recording = True
        await publish(redis_url, codes, min(args.rate, 100), min(args.seconds, 5))
        await asyncio.sleep(0.5)
        single = receiver.latencies_ms
        receiver.latencies_ms = []
        receiver.recording = False
        for call in single_calls:
            call.cancel()
        await asyncio.gather(*single_tasks, return_exceptions=True)

        started = time.monotonic()
        calls, tasks, failures = await open_streams(channels, args.streams, codes, receiver)
        open_seconds = time.monotonic() - started
        await asyncio.sleep(1.0)
        per_stream_kb = (rss_kb(hub.pid) - base_rss) / args.streams
        receiver.recording = True
        cpu_before, messages_before = cpu_seconds(hub.pid), receiver.messages
        started = time.monotonic()
        sent = await publish(redis_url, codes, args.rate, args.seconds)
        await asyncio.sleep(1.0)
        receiver.recording = False
        hub_cpu = cpu_seconds(hub.pid) - cpu_before
        elapsed = time.monotonic() - started
        messages = receiver.messages - messages_before
        fanned = receiver.latencies_ms
        print(f"streams={args.streams} kpis={args.kpis} rate={args.rate}/s tick={args.tick}s")
        print(
            f"  opened {args.streams} streams at once in {open_seconds:.2f}s, failures={failures}"
        )
        print(f"  hub RSS per open stream: {per_stream_kb:.1f} KB")
        for name, latencies in (("1 stream", single), (f"{args.streams} streams", fanned)):
            if latencies:
                print(
                    f"  publish→receipt {name}: p50={statistics.median(latencies):.1f} ms "
                    f"p99={percentile(latencies, 0.99):.1f} ms over {len(latencies)} values"
                )
        print(f"  published {sent} updates; {receiver.messages} stream messages received")
        print(
            f"  hub CPU while publishing: {hub_cpu / elapsed:.0%} of a core, "
            f"{hub_cpu / max(1, messages) * 1e6:.0f} µs per stream message ({messages} messages)"
        )
        for call in calls:
            call.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--kpis", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000, help="KpiUpdated messages per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--tick", type=float, default=0.1)
    parser.add_argument("--connections", type=int, default=8, help="client HTTP/2 connections")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
