"""The services client configuration lives among, started for real in the test's event loop:
catalog, data, config (with its own secrets key in a temporary data dir) and calculation (reading
custom KPIs from config), over the session's PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import pathlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.calculation.app import CalculationSettings
from services.calculation.app import build as build_calculation
from services.catalog.app import CatalogSettings
from services.catalog.app import build as build_catalog
from services.config.app import ConfigSettings
from services.config.app import build as build_config
from services.data.app import DataSettings
from services.data.app import build as build_data
from services.runtime.settings import ServiceSettings
from tests.fixtures.grpc_servers import running_service

S = TypeVar("S", bound=ServiceSettings)


def local(kind: type[S], **fields: Any) -> S:
    """Settings on a free loopback port, checking dependencies often (tests wait for SERVING)."""
    return kind(listen="127.0.0.1:0", dependency_check_seconds=0.1, **fields)


@dataclass(frozen=True)
class Mesh:
    config_address: str
    calculation_address: str
    database_url: str
    data_dir: pathlib.Path


async def wait_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(400):
            with contextlib.suppress(grpc.aio.AioRpcError):
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            await asyncio.sleep(0.05)
    raise AssertionError(f"{address} never became SERVING")


@contextlib.asynccontextmanager
async def client_config_mesh(
    database_url: str, redis_url: str, data_dir: pathlib.Path
) -> AsyncIterator[Mesh]:
    async with (
        running_service(build_catalog, local(
            CatalogSettings, service_name="catalog", database_url=database_url)) as catalog,
        running_service(build_data, local(
            DataSettings, service_name="data", database_url=database_url,
            redis_url=redis_url)) as data,
        running_service(build_config, local(
            ConfigSettings, service_name="config", database_url=database_url,
            catalog_addr=catalog.address, data_addr=data.address,
            data_dir=str(data_dir))) as config,
        running_service(build_calculation, local(
            CalculationSettings, service_name="calculation", redis_url=redis_url,
            catalog_addr=catalog.address, data_addr=data.address,
            config_addr=config.address)) as calculation,
    ):
        await wait_serving(config.address)
        await wait_serving(calculation.address)
        yield Mesh(config.address, calculation.address, database_url, data_dir)
