"""The one mapping from domain errors (and a few library exceptions) to gRPC statuses."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import grpc
from analytics.type.v1 import types_pb2
from google.protobuf import message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from services import errors
from services.calculation.formula.errors import Diagnostic

log = logging.getLogger(__name__)

_UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)

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
    if isinstance(error, errors.InvalidArgument):
        for fact in error.details:
            if (extra := detail_message(fact)) is not None:
                status.details.add().Pack(extra)
    return status


def detail_message(fact: object) -> message.Message | None:
    """The status detail a domain error's plain fact becomes; None for facts no contract names
    (they stay in the server's hands rather than failing the call)."""
    text = fact.text if isinstance(fact, errors.InText) else None
    detail = fact.detail if isinstance(fact, errors.InText) else fact
    if isinstance(detail, Diagnostic):
        return formula_diagnostic(detail, text)
    log.warning("no status detail for %s; dropped", type(detail).__name__)
    return None


def formula_diagnostic(
    diagnostic: Diagnostic, formula: str | None = None
) -> types_pb2.FormulaDiagnostic:
    """A formula problem with its position: `start` at the offending text, `end` just after it
    (one column for a point, such as the end of the formula). Offsets are counted in `formula`;
    without it they are known on the first line only (and left 0 elsewhere)."""
    end_column = diagnostic.column + max(len(diagnostic.text), 1)
    line_start = _line_offset(formula, diagnostic.line)
    return types_pb2.FormulaDiagnostic(
        severity=types_pb2.DIAGNOSTIC_SEVERITY_ERROR,
        message=str(diagnostic),
        start=types_pb2.SourcePosition(
            line=diagnostic.line, column=diagnostic.column,
            offset=line_start + diagnostic.column - 1 if line_start is not None else 0),
        end=types_pb2.SourcePosition(
            line=diagnostic.line, column=end_column,
            offset=line_start + end_column - 1 if line_start is not None else 0),
        found=diagnostic.text,
    )


def _line_offset(formula: str | None, line: int) -> int | None:
    """Code points before line `line` (1-based) of `formula`."""
    if line == 1:
        return 0
    if formula is None:
        return None
    lines = formula.splitlines(keepends=True)
    return sum(len(text) for text in lines[: line - 1]) if line - 1 <= len(lines) else None


def exception_status(exc: BaseException, request_id: str) -> status_pb2.Status:
    """Status for any exception a handler let escape. Never leaks exception text to the caller."""
    if isinstance(exc, errors.DomainError):
        return domain_error_status(exc)
    if isinstance(exc, _UNSTORABLE_TEXT):
        # A request string PostgreSQL cannot hold (a NUL character): valid protobuf, bad input.
        return domain_error_status(
            errors.InvalidArgument(
                "the request holds text with a character that cannot be stored (NUL)"
            )
        )
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
