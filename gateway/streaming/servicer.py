"""StreamService: translates the request messages and hands each stream to the hub."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc

from gateway.streaming.hub import StreamHub
from gateway.streaming.session import stream_session
from gateway.streaming.stream_request import dashboard_stream_request, kpi_stream_request

Context = grpc.aio.ServicerContext[Any, Any]


class StreamServicer(stream_pb2_grpc.StreamServiceServicer):
    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub

    async def StreamKpi(
        self, request: stream_pb2.StreamKpiRequest, context: Context
    ) -> AsyncIterator[stream_pb2.StreamKpiResponse]:
        # aclosing: the session's cleanup (releasing its subscriptions) must run when the call ends,
        # not whenever the garbage collector finalises the generator.
        async with contextlib.aclosing(
            stream_session(self._hub, kpi_stream_request(request), stream_pb2.StreamKpiResponse)
        ) as session:
            async for message in session:
                yield message

    async def StreamDashboard(
        self, request: stream_pb2.StreamDashboardRequest, context: Context
    ) -> AsyncIterator[stream_pb2.StreamDashboardResponse]:
        async with contextlib.aclosing(
            stream_session(
                self._hub, dashboard_stream_request(request), stream_pb2.StreamDashboardResponse
            )
        ) as session:
            async for message in session:
                yield message


SERVICE_NAME = stream_pb2.DESCRIPTOR.services_by_name["StreamService"].full_name


def registration(servicer: StreamServicer) -> Callable[[grpc.aio.Server], None]:
    def register(server: grpc.aio.Server) -> None:
        stream_pb2_grpc.add_StreamServiceServicer_to_server(servicer, server)

    return register
