"""Outbound gRPC channels: every call carries the request id and a deadline, derived from the
incoming call's deadline when there is one (so a chain of calls never outlives its caller), even
when the call names a timeout of its own. Idempotent calls are retried on UNAVAILABLE with backoff
and jitter (`retry_policy`), and a circuit breaker per peer (`peer_breaker`) makes calls to a peer
that is down fail at once, naming it, instead of spending the caller's deadline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from services import errors
from services.runtime import telemetry
from services.runtime.call_context import remaining_seconds, request_id_var
from services.runtime.interceptors import REQUEST_ID_HEADER
from services.runtime.peer_breaker import BreakerInterceptor
from services.runtime.retry_policy import service_config

# Time kept back from the inherited deadline so that, when a dependency hangs, our own answer
# (UNAVAILABLE, naming it) still reaches the caller before the caller gives up: a tenth of what is
# left, between 50 ms and half a second.
_DEADLINE_MARGIN_SECONDS = 0.05
_DEADLINE_MARGIN_SHARE = 0.1
_DEADLINE_MARGIN_MAX_SECONDS = 0.5

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.keepalive_permit_without_calls", 1),
    # Peers are mesh neighbours that a supervisor restarts within seconds. gRPC's default
    # reconnect backoff grows to two minutes, during which every call fails fast with the last
    # connection error although the peer is back; retrying a local peer often costs nothing.
    ("grpc.initial_reconnect_backoff_ms", 250),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    # The least time one connection attempt is given (20 s by default).
    ("grpc.min_reconnect_backoff_ms", 1_000),
]


def outbound_timeout(default: float | None) -> float | None:
    """The timeout for an outbound call: the default (None: no limit of its own), shortened to fit
    the incoming call's deadline."""
    remaining = remaining_seconds()
    if remaining is None:
        return default
    margin = min(
        max(_DEADLINE_MARGIN_SECONDS, remaining * _DEADLINE_MARGIN_SHARE),
        _DEADLINE_MARGIN_MAX_SECONDS,
    )
    budget = remaining - margin
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
    own = details.timeout if details.timeout is not None else default_timeout
    timeout = outbound_timeout(own)
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
        options=[
            *CHANNEL_OPTIONS,
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config()),
        ],
        interceptors=[
            _UnaryUnary(default_timeout),
            BreakerInterceptor(address),
            _UnaryStream(),
            *telemetry.client_interceptors(),
        ],
    )
