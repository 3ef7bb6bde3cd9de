"""Stop a dependency under a running calculation service: the data service runs as its own process
and is killed (or frozen) while the calculation and catalog services keep running. Callers get
UNAVAILABLE naming the data service within their deadline — quickly once the circuit is open —
and when the data service is started again on its address, calculations succeed again without
restarting anything else."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.type.v1 import types_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.calculation.app import CalculationSettings
from services.calculation.app import build as build_calculation
from services.catalog.app import CatalogSettings
from services.catalog.app import build as build_catalog
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.grpc_servers import running_service
from tests.fixtures.redis import free_port

CLIENT = "resilience-co"
CALLER_DEADLINE_SECONDS = 5.0
START_SECONDS = 60.0


class DataProcess:
    """`python -m services.data` on a fixed address, so it can be stopped and started again."""

    def __init__(self, database_url: str, redis_url: str, log_path: str) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        self._env = {
            **os.environ,
            "AE_SERVICE_NAME": "data",
            "AE_LISTEN": self.address,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "AE_AUTH_JWKS": str(local_tokens().jwks_path),
            "AE_DEPENDENCY_CHECK_SECONDS": "0.2",
            "AE_SHUTDOWN_GRACE_SECONDS": "0.5",
        }
        self._log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self._log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.data"],
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def signal(self, number: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    async def serving(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        async with grpc.aio.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"the data process did not start; see {self._log_path}")


@dataclass
class Mesh:
    data: DataProcess
    calculation: calculation_pb2_grpc.CalculationServiceStub


@pytest.fixture
def data_process(
    migrated_db: str, redis_url: str, tmp_path: Path
) -> Iterator[DataProcess]:
    process = DataProcess(migrated_db, redis_url, str(tmp_path / "data.log"))
    process.start()
    try:
        yield process
    finally:
        if process.process is not None and process.process.poll() is None:
            process.signal(signal.SIGCONT)
            process.kill()


@pytest.fixture
async def mesh(data_process: DataProcess, migrated_db: str, redis_url: str) -> AsyncIterator[Mesh]:
    await data_process.serving()
    common = {"listen": "127.0.0.1:0", "dependency_check_seconds": 0.2}
    async with (
        running_service(
            build_catalog,
            CatalogSettings(service_name="catalog", database_url=migrated_db, **common),
        ) as catalog,
        running_service(
            build_calculation,
            CalculationSettings(
                service_name="calculation",
                redis_url=redis_url,
                catalog_addr=catalog.address,
                data_addr=data_process.address,
                **common,
            ),
        ) as calculation,
        channel_with(calculation.address, local_tokens().admin()) as channel,
    ):
        await _serving(channel)
        yield Mesh(data_process, calculation_pb2_grpc.CalculationServiceStub(channel))


async def _serving(channel: grpc.aio.Channel) -> None:
    """The calculation service reports SERVING once the catalog and data services answer."""
    health = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the calculation service did not become ready")


def _request() -> calculation_pb2.CalculateRequest:
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    span = types_pb2.TimeRange()
    span.start.FromDatetime(start)
    span.end.FromDatetime(start + datetime.timedelta(days=2))
    return calculation_pb2.CalculateRequest(
        kpi_code="SALES_DEALS_WON",
        client_id=CLIENT,
        time_range=span,
        period=types_pb2.PERIOD_DAY,
        bypass_cache=True,
    )


async def _calculate(mesh: Mesh) -> tuple[grpc.StatusCode, str, float]:
    started = time.monotonic()
    try:
        await mesh.calculation.Calculate(_request(), timeout=CALLER_DEADLINE_SECONDS)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or "", time.monotonic() - started
    return grpc.StatusCode.OK, "", time.monotonic() - started


async def _recovers(mesh: Mesh, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        code, _, _ = await _calculate(mesh)
        if code is grpc.StatusCode.OK:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    raise AssertionError("calculations did not recover after the data service came back")


async def test_killed_dependency_is_named_quickly_and_traffic_recovers(mesh: Mesh) -> None:
    assert (await _calculate(mesh))[0] is grpc.StatusCode.OK

    mesh.data.kill()
    outcomes = [await _calculate(mesh) for _ in range(8)]
    for code, details, elapsed in outcomes:
        assert code is grpc.StatusCode.UNAVAILABLE, (code, details)
        assert "data service" in details, details
        assert elapsed < CALLER_DEADLINE_SECONDS
    # Once the breaker is open, callers no longer wait on connection attempts.
    assert "calls in a row could not reach it" in outcomes[-1][1]
    assert outcomes[-1][2] < 0.5, outcomes[-1]

    mesh.data.start()
    await mesh.data.serving()
    # The breaker probes again within seconds: nothing else was restarted.
    assert await _recovers(mesh, within=15.0) < 15.0


async def test_frozen_dependency_is_named_within_the_callers_deadline(mesh: Mesh) -> None:
    assert (await _calculate(mesh))[0] is grpc.StatusCode.OK
    mesh.data.signal(signal.SIGSTOP)
    try:
        code, details, elapsed = await _calculate(mesh)
        assert code is grpc.StatusCode.UNAVAILABLE, (code, details)
        assert "data service" in details, details
        assert elapsed < CALLER_DEADLINE_SECONDS
    finally:
        mesh.data.signal(signal.SIGCONT)
    assert await _recovers(mesh, within=15.0) < 15.0
