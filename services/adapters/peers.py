"""Channels to peer services, and their health as a readiness dependency."""

from __future__ import annotations

import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.channels import open_channel
from services.runtime.server import Dependency


async def open_peer(
    resources: contextlib.AsyncExitStack, address: str, default_timeout: float
) -> grpc.aio.Channel:
    channel = open_channel(address, default_timeout)
    resources.push_async_callback(channel.close)
    return channel


def peer_dependency(name: str, channel: grpc.aio.Channel) -> Dependency:
    stub = health_pb2_grpc.HealthStub(channel)

    async def check() -> None:
        response = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            raise ConnectionError(f"{name} reports {status}")

    return Dependency(name, check)
