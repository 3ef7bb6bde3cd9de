"""Retries on the runtime's outbound channels, against a real gRPC server that fails on purpose:
an idempotent call that meets UNAVAILABLE is tried again (with backoff) and succeeds, a call that
is not idempotent is never repeated, and a caller's deadline bounds every attempt together."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from analytics.data.v1 import data_pb2, data_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.call_context import deadline_var
from services.runtime.channels import open_channel


@dataclass
class Flaky:
    """Answers UNAVAILABLE to the first `failures` calls of each method, then succeeds."""

    failures: int
    calls: dict[str, int] = field(default_factory=dict)

    def handler(self, method: str, reply: Callable[[], Any]) -> Any:
        async def handle(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.calls[method] = self.calls.get(method, 0) + 1
            if self.calls[method] <= self.failures:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
            return reply()

        return handle


@dataclass
class Peer:
    address: str
    flaky: Flaky


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    flaky = Flaky(failures=2)
    server = grpc.aio.server()
    health = flaky.handler("Check", health_pb2.HealthCheckResponse)
    versions = flaky.handler("GetDataVersions", data_pb2.GetDataVersionsResponse)
    ingest = flaky.handler("IngestRows", data_pb2.IngestRowsResponse)
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {
                    "Check": grpc.unary_unary_rpc_method_handler(
                        health,
                        request_deserializer=health_pb2.HealthCheckRequest.FromString,
                        response_serializer=health_pb2.HealthCheckResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "analytics.data.v1.DataInternalService",
                {
                    "GetDataVersions": grpc.unary_unary_rpc_method_handler(
                        versions,
                        request_deserializer=data_pb2.GetDataVersionsRequest.FromString,
                        response_serializer=data_pb2.GetDataVersionsResponse.SerializeToString,
                    )
                },
            ),
            grpc.method_handlers_generic_handler(
                "analytics.data.v1.DataService",
                {
                    "IngestRows": grpc.unary_unary_rpc_method_handler(
                        ingest,
                        request_deserializer=data_pb2.IngestRowsRequest.FromString,
                        response_serializer=data_pb2.IngestRowsResponse.SerializeToString,
                    )
                },
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield Peer(f"127.0.0.1:{port}", flaky)
    finally:
        await server.stop(0)


async def test_idempotent_calls_are_retried_until_they_succeed(peer: Peer) -> None:
    channel = open_channel(peer.address, default_timeout=5.0)
    try:
        await data_pb2_grpc.DataInternalServiceStub(channel).GetDataVersions(
            data_pb2.GetDataVersionsRequest(client_id="acme")
        )
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    finally:
        await channel.close()
    assert peer.flaky.calls == {"GetDataVersions": 3, "Check": 3}


async def test_a_call_that_is_not_idempotent_is_never_repeated(peer: Peer) -> None:
    channel = open_channel(peer.address, default_timeout=5.0)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await data_pb2_grpc.DataServiceStub(channel).IngestRows(
                data_pb2.IngestRowsRequest(client_id="acme")
            )
    finally:
        await channel.close()
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
    assert peer.flaky.calls == {"IngestRows": 1}


async def test_retries_stay_inside_the_callers_deadline(peer: Peer) -> None:
    peer.flaky.failures = 1_000  # never recovers
    channel = open_channel(peer.address, default_timeout=30.0)
    # As inside a handler whose caller allowed 0.3 s.
    token = deadline_var.set(time.monotonic() + 0.3)
    started = time.monotonic()
    try:
        with pytest.raises(grpc.aio.AioRpcError):
            await data_pb2_grpc.DataInternalServiceStub(channel).GetDataVersions(
                data_pb2.GetDataVersionsRequest(client_id="acme")
            )
    finally:
        deadline_var.reset(token)
        await channel.close()
    assert time.monotonic() - started < 0.35
    assert peer.flaky.calls["GetDataVersions"] >= 2
