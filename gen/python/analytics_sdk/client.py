"""The client helper: one channel to the gateway, a bearer token on every call, default deadlines
on unary calls (streams stay open until cancelled), and a typed stub per service."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc
from analytics.archival.v1 import archival_pb2_grpc
from analytics.calculation.v1 import calculation_pb2_grpc
from analytics.catalog.v1 import catalog_pb2_grpc
from analytics.config.v1 import config_pb2_grpc, proposal_pb2_grpc
from analytics.data.v1 import data_pb2_grpc
from analytics.entities.v1 import entities_pb2_grpc
from analytics.gateway.v1 import stream_pb2_grpc
from analytics.ml.v1 import ml_pb2_grpc
from analytics.monitor.v1 import monitor_pb2_grpc

if TYPE_CHECKING:
    from types import TracebackType

DEFAULT_TIMEOUT_SECONDS = 10.0


class _CallDetails(grpc.aio.ClientCallDetails):
    pass


def _decorate(
    details: grpc.aio.ClientCallDetails, token: str | None, timeout: float | None
) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if token and not metadata.get_all("authorization"):
        metadata.add("authorization", f"Bearer {token}")
    return _CallDetails(
        details.method,
        details.timeout if details.timeout is not None else timeout,
        metadata,
        details.credentials,
        details.wait_for_ready,
    )


class _Unary(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, token: str | None, timeout: float) -> None:
        self._token, self._timeout = token, timeout

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_decorate(client_call_details, self._token, self._timeout), request)

    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        details = _decorate(client_call_details, self._token, self._timeout)
        return await continuation(details, request_iterator)


class _Streaming(grpc.aio.UnaryStreamClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, token: str | None) -> None:
        self._token = token

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_decorate(client_call_details, self._token, None), request)

    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(_decorate(client_call_details, self._token, None), request_iterator)


class AnalyticsClient:
    """Async client for every public service, through one connection to the gateway."""

    def __init__(
        self,
        target: str = "localhost:8080",
        *,
        token: str | None = None,
        default_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        interceptors: list[grpc.aio.ClientInterceptor] = [
            _Unary(token, default_timeout),
            _Streaming(token),
        ]
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(target, interceptors=interceptors)
        else:
            self.channel = grpc.aio.secure_channel(target, credentials, interceptors=interceptors)
        # One typed stub per public service, all sharing the channel.
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)
        self.calculation = calculation_pb2_grpc.CalculationServiceStub(self.channel)
        self.clients = config_pb2_grpc.ClientConfigServiceStub(self.channel)
        self.demo = config_pb2_grpc.DemoDataServiceStub(self.channel)
        self.proposals = proposal_pb2_grpc.ProposalServiceStub(self.channel)
        self.data = data_pb2_grpc.DataServiceStub(self.channel)
        self.archival = archival_pb2_grpc.ArchivalServiceStub(self.channel)
        self.streams = stream_pb2_grpc.StreamServiceStub(self.channel)
        self.ml = ml_pb2_grpc.MlServiceStub(self.channel)
        self.entities = entities_pb2_grpc.EntityResolutionServiceStub(self.channel)
        self.monitor = monitor_pb2_grpc.MonitorServiceStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AnalyticsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
