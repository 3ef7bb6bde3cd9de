"""StreamService: translates the request messages and hands each stream to the hub."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc

from gateway.streaming.hub import StreamHub
from gateway.streaming.session import stream_session
from gateway.streaming.stream_request import dashboard_stream_request, kpi_stream_request
from services.runtime.wire import PreEncoded, serializer
from services.security.tenancy import tenant_for

Context = grpc.aio.ServicerContext[Any, Any]


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub

    # Snapshots go out pre-encoded (gateway.streaming.wire), hence the wider message type.
    async def StreamKpi(  # type: ignore[override]
        self, request: stream_pb2.StreamKpiRequest, context: Context
    ) -> AsyncIterator[stream_pb2.StreamKpiResponse | PreEncoded]:
        # aclosing: the session's cleanup (releasing its subscriptions) must run when the call ends,
        # not whenever the garbage collector finalises the generator.
        async with contextlib.aclosing(
            stream_session(
                self._hub, kpi_stream_request(_for_tenant(request)), stream_pb2.StreamKpiResponse
            )
        ) as session:
            async for message in session:
                yield message

    async def StreamDashboard(  # type: ignore[override]
        self, request: stream_pb2.StreamDashboardRequest, context: Context
    ) -> AsyncIterator[stream_pb2.StreamDashboardResponse | PreEncoded]:
        async with contextlib.aclosing(
            stream_session(
                self._hub,
                dashboard_stream_request(_for_tenant(request)),
                stream_pb2.StreamDashboardResponse,
            )
        ) as session:
            async for message in session:
                yield message


StreamMessage = TypeVar(
    "StreamMessage", stream_pb2.StreamKpiRequest, stream_pb2.StreamDashboardRequest
)


def _for_tenant(request: StreamMessage) -> StreamMessage:
    """The request as it applies to the caller's own client (an admin's stays as named); a client
    that is not the caller's is NOT_FOUND, so a probe learns nothing."""
    named = type(request)()
    named.CopyFrom(request)
    named.client_id = tenant_for(request.client_id)
    return named


SERVICE_NAME = stream_pb2.DESCRIPTOR.services_by_name["StreamService"].full_name


def registration(servicer: StreamServicer) -> Callable[[grpc.aio.Server], None]:
    """The generated registration, with response serializers that send pre-encoded messages."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {
        "StreamKpi": grpc.unary_stream_rpc_method_handler(
            servicer.StreamKpi,
            request_deserializer=stream_pb2.StreamKpiRequest.FromString,
            response_serializer=serializer(stream_pb2.StreamKpiResponse.SerializeToString),
        ),
        "StreamDashboard": grpc.unary_stream_rpc_method_handler(
            servicer.StreamDashboard,
            request_deserializer=stream_pb2.StreamDashboardRequest.FromString,
            response_serializer=serializer(stream_pb2.StreamDashboardResponse.SerializeToString),
        ),
    }

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),)
        )

    return register
