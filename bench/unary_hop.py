"""What one Envoy hop costs: the same unary call (CatalogService.GetKpi) made directly to the
catalog process and through Envoy's public port, interleaved so both see the same machine noise.

    python bench/unary_hop.py [--calls 1000] [--data-dir DIR]

Starts its own stack (`analytics-engine up --detach --ports auto`) in a temporary data dir unless
--data-dir names a running one. Prints median and p99 per path and the added latency of the hop.
Target: the hop adds at most 0.3 ms at the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from analytics_engine import state as stack_state  # noqa: E402


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "analytics_engine.cli", *args], cwd=ROOT, check=True, timeout=300
    )


@contextlib.contextmanager
def stack(data_dir: str | None) -> Iterator[stack_state.StackState]:
    if data_dir is not None:
        record = stack_state.read(Path(data_dir) / "run" / "stack.json")
        if record is None:
            sys.exit(f"no running stack in {data_dir}")
        yield record
        return
    with tempfile.TemporaryDirectory() as tmp:
        cli("up", "--detach", "--ports", "auto", "--data-dir", tmp)
        try:
            record = stack_state.read(Path(tmp) / "run" / "stack.json")
            assert record is not None
            yield record
        finally:
            cli("down", "--data-dir", tmp)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(direct: str, edge: str, calls: int, kpi_code: str) -> dict[str, list[float]]:
    request = catalog_pb2.GetKpiRequest(code=kpi_code)
    timings: dict[str, list[float]] = {"direct": [], "envoy": []}
    async with grpc.aio.insecure_channel(direct) as a, grpc.aio.insecure_channel(edge) as b:
        stubs = {
            "direct": catalog_pb2_grpc.CatalogServiceStub(a),
            "envoy": catalog_pb2_grpc.CatalogServiceStub(b),
        }
        for stub in stubs.values():  # warm up connections and caches
            for _ in range(50):
                await stub.GetKpi(request, timeout=5)
        for _ in range(calls):
            for name, stub in stubs.items():
                started = time.perf_counter()
                await stub.GetKpi(request, timeout=5)
                timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    with stack(args.data_dir) as record:
        catalog = record.process("catalog")
        assert catalog is not None
        timings = asyncio.run(
            measure(catalog.address, record.public_address, args.calls, "SCOR_POF")
        )
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(f"unary GetKpi, {args.calls} calls per path (ms)")
    for name, values in timings.items():
        print(f"  {name:<7} median {medians[name]:.3f}  p99 {percentile(values, 0.99):.3f}")
    hop = medians["envoy"] - medians["direct"]
    verdict = "OK" if hop <= 0.3 else "OVER"
    print(f"  envoy hop adds {hop:.3f} ms at the median (target <= 0.300): {verdict}")


if __name__ == "__main__":
    main()
