"""Server interceptor that every service installs: request id, deadline, the verified caller and
their right to call the method, structured call log and the mapping of escaped exceptions to
statuses. Written once so handlers only hold domain logic."""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import contextmanager
from typing import Any

import grpc
from google.rpc import code_pb2

from services.errors import DomainError, PermissionDenied, Unauthenticated
from services.runtime.call_context import deadline_var, request_id_var, rpc_method_var
from services.runtime.status import abort_with, exception_status
from services.security import permissions
from services.security.caller import Caller, current_caller, set_current_caller
from services.security.tokens import InvalidToken, TokenVerifier

log = logging.getLogger("services.rpc")

REQUEST_ID_HEADER = "x-request-id"
AUTHORIZATION_HEADER = "authorization"
_BEARER = "bearer "
# Probes arrive every few seconds; logging them at INFO would drown the real calls.
_QUIET_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

Context = grpc.aio.ServicerContext[Any, Any]


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> str | None:
    for item_key, value in details.invocation_metadata or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


class Gatekeeper:
    """Who is calling (the bearer token, verified again here after Envoy) and whether the
    permission table lets them call the method."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    def admit(self, details: grpc.HandlerCallDetails) -> tuple[Caller | None, DomainError | None]:
        """The caller (None when anonymous) and, when the call must be refused, why."""
        method: str = details.method
        authorization = _metadata_value(details, AUTHORIZATION_HEADER)
        caller: Caller | None = None
        if authorization is not None:
            if not authorization.lower().startswith(_BEARER):
                return None, Unauthenticated("the authorization header must be `Bearer <jwt>`")
            try:
                caller = self._verifier.verify(authorization[len(_BEARER) :].strip())
            except InvalidToken as error:
                return None, Unauthenticated(str(error))
        if permissions.is_internal(method):
            # Reached only from other components, which name the tenant in the request.
            return caller, None
        if permissions.rule_for(method).allows(caller):
            return caller, None
        message = permissions.denial(caller, method)
        return caller, (Unauthenticated(message) if caller is None else PermissionDenied(message))


class _Call:
    """Bookkeeping for one call: context variables in, one log line out."""

    def __init__(
        self,
        method: str,
        request_id: str,
        caller: Caller | None = None,
        refusal: DomainError | None = None,
    ) -> None:
        self.method = method
        self.request_id = request_id
        self.caller = caller
        self.refusal = refusal
        self.code = code_pb2.OK
        self.quiet = method.startswith(_QUIET_PREFIXES)

    @contextmanager
    def scope(self, context: Context) -> Any:
        remaining = context.time_remaining()
        previous = (request_id_var.get(), rpc_method_var.get(), deadline_var.get())
        previous_caller = current_caller()
        request_id_var.set(self.request_id)
        rpc_method_var.set(self.method)
        deadline_var.set(None if remaining is None else time.monotonic() + remaining)
        set_current_caller(self.caller)
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            level = logging.DEBUG if self.quiet and self.code == code_pb2.OK else logging.INFO
            log.log(
                level,
                "rpc finished",
                extra={
                    "code": code_pb2.Code.Name(self.code),
                    "duration_ms": round(elapsed_ms, 2),
                    # Who made the call (never the token itself), for the audit trail.
                    "caller": self.caller.subject if self.caller else "anonymous",
                    "role": self.caller.role.value if self.caller else "anonymous",
                },
            )
            # Restored by value, not with reset(token): grpc.aio may close a cancelled stream's
            # generator from another task, whose context never saw these tokens.
            request_id_var.set(previous[0])
            rpc_method_var.set(previous[1])
            deadline_var.set(previous[2])
            set_current_caller(previous_caller)

    async def fail(self, context: Context, exc: Exception) -> None:
        status = exception_status(exc, self.request_id)
        self.code = status.code
        await abort_with(context, status)


def _wrap_unary(behavior: Callable[..., Awaitable[Any]], call_for: Callable[[], _Call]) -> Any:
    async def handler(request: Any, context: Context) -> Any:
        call = call_for()
        with call.scope(context):
            if call.refusal is not None:
                await call.fail(context, call.refusal)
                return None
            try:
                result = behavior(request, context)
                # Generated base servicers are plain functions (raising NotImplementedError).
                return await result if inspect.isawaitable(result) else result
            except grpc.aio.AbortError:
                aborted = context.code()
                call.code = aborted.value[0] if aborted is not None else code_pb2.UNKNOWN
                raise
            except Exception as exc:  # noqa: BLE001 - every escape becomes a status
                await call.fail(context, exc)

    return handler


def _wrap_streaming(behavior: Callable[..., Any], call_for: Callable[[], _Call]) -> Any:
    """Always an async generator, because outer interceptors (OpenTelemetry) iterate streaming
    handlers; handlers written with `context.write` are awaited inside it."""

    async def generator(request: Any, context: Context) -> AsyncIterator[Any]:
        call = call_for()
        with call.scope(context):
            if call.refusal is not None:
                await call.fail(context, call.refusal)
                return
            try:
                if inspect.isasyncgenfunction(behavior):
                    async for item in behavior(request, context):
                        yield item
                else:
                    result = behavior(request, context)
                    if inspect.isawaitable(result):
                        await result
            except grpc.aio.AbortError:
                raise
            except Exception as exc:  # noqa: BLE001
                await call.fail(context, exc)

    return generator


class ServerCallInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, gatekeeper: Gatekeeper) -> None:
        self._gatekeeper = gatekeeper

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        request_id = _metadata_value(handler_call_details, REQUEST_ID_HEADER) or uuid.uuid4().hex
        caller, refusal = self._gatekeeper.admit(handler_call_details)

        def call_for() -> _Call:
            return _Call(method, request_id, caller, refusal)

        serializers: dict[str, Any] = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, call_for), **serializers
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_streaming(handler.unary_stream, call_for), **serializers
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, call_for), **serializers
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_streaming(handler.stream_stream, call_for), **serializers
            )
        return handler
