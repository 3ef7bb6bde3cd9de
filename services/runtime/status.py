"""The one mapping from domain errors (and a few library exceptions) to gRPC statuses."""

from __future__ import annotations

import asyncio
import logging

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services import errors

log = logging.getLogger(__name__)

_CODES: dict[type[errors.DomainError], int] = {
    errors.NotFound: code_pb2.NOT_FOUND,
    errors.AlreadyExists: code_pb2.ALREADY_EXISTS,
    errors.InvalidArgument: code_pb2.INVALID_ARGUMENT,
    errors.FailedPrecondition: code_pb2.FAILED_PRECONDITION,
    errors.Conflict: code_pb2.ABORTED,
    errors.PermissionDenied: code_pb2.PERMISSION_DENIED,
    errors.Unauthenticated: code_pb2.UNAUTHENTICATED,
    errors.Unavailable: code_pb2.UNAVAILABLE,
    errors.ResourceExhausted: code_pb2.RESOURCE_EXHAUSTED,
}


def domain_error_status(error: errors.DomainError) -> status_pb2.Status:
    code = next(
        (c for kind, c in _CODES.items() if isinstance(error, kind)), code_pb2.UNKNOWN
    )
    status = status_pb2.Status(code=code, message=error.message)
    if isinstance(error, errors.InvalidArgument) and error.violations:
        detail = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        status.details.add().Pack(detail)
    return status


def exception_status(exc: BaseException, request_id: str) -> status_pb2.Status:
    """Status for any exception a handler let escape. Never leaks exception text to the caller."""
    if isinstance(exc, errors.DomainError):
        return domain_error_status(exc)
    if isinstance(exc, NotImplementedError):
        return status_pb2.Status(
            code=code_pb2.UNIMPLEMENTED, message="this method is not implemented yet"
        )
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return status_pb2.Status(
            code=code_pb2.DEADLINE_EXCEEDED, message="the call ran out of time; retry later"
        )
    if isinstance(exc, (ConnectionError, OSError)):
        log.warning("dependency unavailable: %r", exc)
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE,
            message="a dependency is unavailable; retry later",
        )
    log.error("unhandled error", exc_info=exc)
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message=f"internal error (request id {request_id})"
    )


async def abort_with(
    context: grpc.aio.ServicerContext[object, object], status: status_pb2.Status
) -> None:
    converted = rpc_status.to_status(status)
    await context.abort(converted.code, converted.details, converted.trailing_metadata)
