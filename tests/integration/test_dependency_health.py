"""Health follows real dependencies: the gateway (whose streams need Redis) is NOT_SERVING while
Redis is down and SERVING again once it is back; the data service stays SERVING, because ingest
must not depend on the bus."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.app import GatewaySettings
from gateway.app import build as build_gateway
from services.data.app import DataSettings
from services.data.app import build as build_data
from tests.fixtures.grpc_servers import running_service
from tests.fixtures.redis import RedisServer

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Peers the gateway watches but does not need in order to serve: nothing listens there.
NOWHERE = "127.0.0.1:9"


async def wait_for_status(
    stub: health_pb2_grpc.HealthStub, wanted: int, seconds: float = 10
) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    status = None
    while asyncio.get_running_loop().time() < deadline:
        status = (await stub.Check(health_pb2.HealthCheckRequest())).status
        if status == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"health stayed {status}, expected {wanted}")


async def test_gateway_health_tracks_redis(own_redis: RedisServer) -> None:
    own_redis.stop()
    settings = GatewaySettings(
        service_name="gateway",
        listen="127.0.0.1:0",
        redis_url=own_redis.url,
        dependency_check_seconds=0.2,
        catalog_addr=NOWHERE,
        calculation_addr=NOWHERE,
        config_addr=NOWHERE,
        data_addr=NOWHERE,
        archival_addr=NOWHERE,
        ml_addr=NOWHERE,
        entities_addr=NOWHERE,
        monitor_addr=NOWHERE,
    )
    async with running_service(build_gateway, settings) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            await asyncio.sleep(0.5)
            await wait_for_status(health, NOT_SERVING)
            own_redis.start()
            await wait_for_status(health, SERVING)
            own_redis.stop()
            await wait_for_status(health, NOT_SERVING)


async def test_data_service_serves_without_redis(migrated_db: str, own_redis: RedisServer) -> None:
    own_redis.stop()
    settings = DataSettings(
        service_name="data",
        listen="127.0.0.1:0",
        database_url=migrated_db,
        redis_url=own_redis.url,
        dependency_check_seconds=0.2,
    )
    async with running_service(build_data, settings) as service:
        async with grpc.aio.insecure_channel(service.address) as channel:
            await wait_for_status(health_pb2_grpc.HealthStub(channel), SERVING)
