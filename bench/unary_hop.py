"""What one Envoy hop costs: the same unary call made directly to a component and through Envoy's
public port, interleaved so both paths see the same machine noise. Two calls are measured:
CatalogService.GetKpi (a database read in the catalog) and grpc.health.v1.Health/Check on the
gateway (answered from memory, so the hop is a larger share of it). For scale, the health call is
also made through a bare Envoy (one listener, router filter only) started beside the stack: the
difference between the two Envoys is what our filters (CORS, gRPC-Web, transcoder) cost.

    python bench/unary_hop.py [--calls 1000] [--data-dir DIR]

Starts its own stack (`analytics-engine up --detach --ports auto`) in a temporary data dir unless
--data-dir names a running one. Prints median and p99 per path and the added latency of the hop.
Target: the hop adds at most 0.3 ms at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import stack, token_metadata  # noqa: E402

BARE_ENVOY = Path(__file__).with_name("bare_envoy.yaml")


@contextlib.contextmanager
def bare_envoy(upstream: str) -> Iterator[str]:
    """A router-only Envoy in front of `upstream` (host:port); yields its address."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bare.yaml"
        template = string.Template(BARE_ENVOY.read_text())
        config.write_text(template.substitute(listen=port, upstream=upstream.rpartition(":")[2]))
        envoy = Path(sys.executable).parent / "envoy"
        process = subprocess.Popen(
            [str(envoy), "-c", str(config), "--disable-hot-restart", "--log-level", "error"]
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(10)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


Metadata = tuple[tuple[str, str], ...]
Call = Callable[[grpc.aio.Channel, Metadata], Awaitable[object]]


def get_kpi(channel: grpc.aio.Channel, metadata: Metadata) -> Awaitable[object]:
    stub = catalog_pb2_grpc.CatalogServiceStub(channel)
    return stub.GetKpi(catalog_pb2.GetKpiRequest(code="SCOR_POF"), timeout=5, metadata=metadata)


def health_check(channel: grpc.aio.Channel, metadata: Metadata) -> Awaitable[object]:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5, metadata=metadata)


async def measure(
    direct: str, edge: str, calls: int, call: Call, metadata: Metadata = ()
) -> dict[str, list[float]]:
    """Both paths carry the same token, so each pays one verification in the service; the edge
    also verifies it (that is part of the hop)."""
    timings: dict[str, list[float]] = {"direct": [], "envoy": []}
    async with grpc.aio.insecure_channel(direct) as a, grpc.aio.insecure_channel(edge) as b:
        channels = {"direct": a, "envoy": b}
        for channel in channels.values():  # warm up connections and caches
            for _ in range(50):
                await call(channel, metadata)
        for _ in range(calls):
            for name, channel in channels.items():
                started = time.perf_counter()
                await call(channel, metadata)
                timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def report(title: str, timings: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"{title}, {len(timings['direct'])} calls per path (ms)")
    for name, values in timings.items():
        print(f"  {name:<7} median {medians[name]:.3f}  p99 {percentile(values, 0.99):.3f}")
    hop = medians["envoy"] - medians["direct"]
    verdict = "OK" if hop <= 0.3 else "OVER"
    print(f"  envoy hop adds {hop:.3f} ms at the median (target <= 0.300): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    with stack(args.data_dir) as record:
        catalog, gateway = record.process("catalog"), record.process("gateway")
        assert catalog is not None and gateway is not None
        edge = record.public_address
        analyst = token_metadata(record, "analyst", "bench")
        operator = token_metadata(record, "operator")
        kpi = asyncio.run(measure(catalog.address, edge, args.calls, get_kpi, analyst))
        health = asyncio.run(measure(gateway.address, edge, args.calls, health_check, operator))
        with bare_envoy(gateway.address) as bare:
            baseline = asyncio.run(measure(gateway.address, bare, args.calls, health_check))
    report("unary CatalogService.GetKpi", kpi)
    report("unary Health/Check (in memory)", health)
    report("unary Health/Check through a bare router-only Envoy (baseline)", baseline)


if __name__ == "__main__":
    main()
