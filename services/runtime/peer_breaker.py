"""The circuit breaker (`breaker.py`) as a client interceptor on a channel to one peer.

A call refused by an open breaker fails like a call to an unreachable peer — an `AioRpcError`
with UNAVAILABLE — so every caller handles it the way it already handles the peer being down,
and its message names the peer and says when the next attempt goes out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc

from services.runtime.breaker import CircuitBreaker

# A deadline exceeded may be a slow answer, not an absent peer, so it neither opens nor closes
# the breaker.
_NO_VERDICT = grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED
# Every status our services answer with carries its details in this trailer (`status.abort_with`);
# a failure of the connection itself never does.
_STATUS_DETAILS = "grpc-status-details-bin"


def unreachable(error: grpc.aio.AioRpcError) -> bool:
    """Whether the call failed because the peer could not be reached — not because the peer,
    reached, answered UNAVAILABLE about a dependency of its own (which says nothing about whether
    its other calls can succeed)."""
    if error.code() is not grpc.StatusCode.UNAVAILABLE:
        return False
    trailing = error.trailing_metadata() or ()
    return not any(key == _STATUS_DETAILS for key, _ in trailing)


def peer_name(method: str | bytes, address: str) -> str:
    """ "data" for "/analytics.data.v1.DataInternalService/QueryAggregates"; the address for
    calls outside the platform's packages (health checks)."""
    text = method.decode() if isinstance(method, bytes) else method
    parts = text.lstrip("/").split(".")
    if len(parts) > 2 and parts[0] == "analytics":
        return f"{parts[1]} service ({address})"
    return address


def refusal(breaker: CircuitBreaker, peer: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(
        grpc.StatusCode.UNAVAILABLE,
        grpc.aio.Metadata(),
        grpc.aio.Metadata(),
        details=(
            f"the {peer} is unavailable: {breaker.consecutive_failures} calls in a row could not "
            f"reach it; the next attempt goes out in {breaker.retry_after():.1f} s"
        ),
    )


class BreakerInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, address: str, breaker: CircuitBreaker | None = None) -> None:
        self.address = address
        self.breaker = breaker or CircuitBreaker()

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        if not self.breaker.allow():
            raise refusal(self.breaker, peer_name(client_call_details.method, self.address))
        call = await continuation(client_call_details, request)
        try:
            await call
        except grpc.aio.AioRpcError as error:
            if unreachable(error):
                self.breaker.failed()
            elif error.code() in _NO_VERDICT:
                self.breaker.abandoned()
            else:
                self.breaker.succeeded()  # the peer answered, with a refusal
        except asyncio.CancelledError:
            self.breaker.abandoned()
            raise
        else:
            self.breaker.succeeded()
        return call
