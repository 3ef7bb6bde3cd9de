"""Aggregated health: the gateway answers health checks for every public service by watching the
component that serves it, so operators ask one endpoint (`grpc.health.v1.Health/Check` with a
service name) through Envoy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.server import ServiceHealth

log = logging.getLogger(__name__)

NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING


async def _component_status(stub: Any) -> int:
    try:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        return int(response.status)
    except grpc.aio.AioRpcError:
        return NOT_SERVING


async def report_component_health(
    health: ServiceHealth,
    channels: Mapping[str, grpc.aio.Channel],
    services_by_component: Mapping[str, Sequence[str]],
    interval: float,
) -> None:
    """Poll each component and mirror its status onto the names of the services it serves."""
    stubs = {name: health_pb2_grpc.HealthStub(channel) for name, channel in channels.items()}
    last: dict[str, int] = {}
    while True:
        statuses = await asyncio.gather(*(_component_status(stub) for stub in stubs.values()))
        for component, status in zip(stubs, statuses, strict=True):
            if last.get(component) != status:
                log.info(
                    "component health changed",
                    extra={
                        "component": component,
                        "status": health_pb2.HealthCheckResponse.ServingStatus.Name(status),
                    },
                )
                last[component] = status
            await health.set(component, status)
            for service_name in services_by_component.get(component, ()):
                await health.set(service_name, status)
        await asyncio.sleep(interval)
