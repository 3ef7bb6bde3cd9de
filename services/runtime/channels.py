"""Outbound gRPC channels: every call carries the request id and a deadline, derived from the
incoming call's deadline when there is one (so a chain of calls never outlives its caller)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from services import errors
from services.runtime import telemetry
from services.runtime.call_context import remaining_seconds, request_id_var
from services.runtime.interceptors import REQUEST_ID_HEADER

# Time kept back from the inherited deadline so the callee's answer can still travel home.
_DEADLINE_MARGIN_SECONDS = 0.05

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
]


def outbound_timeout(default: float | None) -> float | None:
    """The timeout for an outbound call: the default (None: no limit of its own), shortened to fit
    the incoming call's deadline."""
    remaining = remaining_seconds()
    if remaining is None:
        return default
    budget = remaining - _DEADLINE_MARGIN_SECONDS
    if budget <= 0:
        raise errors.Unavailable("the caller's deadline has passed before a dependency was called")
    return budget if default is None else min(default, budget)


class _OutboundDetails(grpc.aio.ClientCallDetails):
    pass


def _with_defaults(details: grpc.aio.ClientCallDetails, default_timeout: float | None) -> Any:
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    request_id = request_id_var.get()
    if request_id and not metadata.get_all(REQUEST_ID_HEADER):
        metadata.add(REQUEST_ID_HEADER, request_id)
    timeout = details.timeout if details.timeout is not None else outbound_timeout(default_timeout)
    return _OutboundDetails(
        details.method, timeout, metadata, details.credentials, details.wait_for_ready
    )


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, default_timeout: float) -> None:
        self._timeout = default_timeout

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        return await continuation(_with_defaults(client_call_details, self._timeout), request)


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    """Streams get the request id but no default timeout: they are meant to stay open."""

    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        details = _with_defaults(client_call_details, default_timeout=None)
        return await continuation(details, request)


def open_channel(address: str, default_timeout: float) -> grpc.aio.Channel:
    """An insecure (mesh-internal) channel to `address` with the runtime's interceptors."""
    return grpc.aio.insecure_channel(
        address,
        options=CHANNEL_OPTIONS,
        interceptors=[
            _UnaryUnary(default_timeout),
            _UnaryStream(),
            *telemetry.client_interceptors(),
        ],
    )
