"""Channels to peer services, and their health as a readiness dependency."""

from __future__ import annotations

import contextlib

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from services.errors import (
    DomainError,
    FieldViolation,
    InvalidArgument,
    ResourceExhausted,
    Unavailable,
)
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


def peer_failure(error: grpc.aio.AioRpcError, peer: str) -> DomainError:
    """What a failed call to a peer means for our caller: a refusal of the request (invalid
    argument, with the peer's field violations; or a limit) is passed on as it is; anything else
    means the peer could not answer, which is retryable."""
    code = error.code()
    details = error.details() or f"the {peer} service refused the request"
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidArgument(details, _field_violations(error))
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(details)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unavailable(f"the {peer} service did not answer within the deadline; retry later")
    if code is grpc.StatusCode.UNAVAILABLE and error.details():
        # The channel's own words (connection refused, circuit open) say what is going on; the
        # circuit breaker's already name the peer.
        if f"{peer} service" in details:
            return Unavailable(f"{details}; retry later")
        return Unavailable(f"the {peer} service is unavailable ({details}); retry later")
    return Unavailable(f"the {peer} service did not answer ({code.name}); retry later")


def _field_violations(error: grpc.aio.AioRpcError) -> list[FieldViolation]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return []
    violations: list[FieldViolation] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            violations.extend(
                FieldViolation(v.field, v.description) for v in bad_request.field_violations
            )
    return violations
