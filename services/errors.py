"""Typed domain errors.

Domain and service-layer code raise these; it never imports grpc. The runtime maps each class to
one gRPC status code in a single place (services.runtime.status), so a NOT_FOUND is a NOT_FOUND
whichever service raised it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One field that is at fault, with a description a person can act on."""

    field: str
    description: str


@dataclass(frozen=True)
class InText:
    """A detail (e.g. a formula diagnostic) together with the text its line and column refer to,
    so that character offsets can be given too."""

    detail: object
    text: str


class DomainError(Exception):
    """Base of every error a caller is meant to see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    """The named thing does not exist (or the caller may not know that it does)."""


class AlreadyExists(DomainError):
    """A create collided with an existing item."""


class InvalidArgument(DomainError):
    """The request is malformed; `violations` name the fields at fault. `details` are further
    machine-readable facts about the fault (plain dataclasses such as formula diagnostics) that the
    runtime sends along as status details."""

    def __init__(
        self,
        message: str,
        violations: Iterable[FieldViolation] = (),
        details: Iterable[object] = (),
    ) -> None:
        super().__init__(message)
        self.violations = tuple(violations)
        self.details = tuple(details)

    @classmethod
    def for_field(cls, field: str, description: str) -> InvalidArgument:
        return cls(f"{field}: {description}", [FieldViolation(field, description)])


class FailedPrecondition(DomainError):
    """The system is not in a state that allows the operation (e.g. a stale version)."""


class Conflict(DomainError):
    """A concurrent change won; re-read and retry."""


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class Unauthenticated(DomainError):
    """The caller did not prove who they are."""


class Unavailable(DomainError):
    """A dependency is down or overloaded; the call may be retried."""


class ResourceExhausted(DomainError):
    """A quota or limit was reached."""
