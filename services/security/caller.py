"""The verified caller of the current call.

Envoy verifies the token at the edge; every service verifies it again (defence in depth) and puts
the result here. Domain code asks `current_caller()` instead of reading metadata, so it never
depends on gRPC and never trusts a client id from a request body.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field


class Role(enum.StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    MANAGER = "manager"
    SALES = "sales"
    OPERATOR = "operator"


@dataclass(frozen=True, kw_only=True)
class Caller:
    subject: str
    role: Role
    client_id: str | None
    """The tenant the token is bound to; None for roles that are not bound to one client."""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Claims that RBAC KPIs filter by (e.g. region, team, org_node)."""

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def security_context(self) -> str:
        """A stable digest of everything that can change what this caller sees. Caches and stream
        subscriptions are keyed by it, so two callers with different rights never share a value."""
        shape = {"role": self.role.value, "client": self.client_id, "attrs": dict(self.attributes)}
        encoded = json.dumps(shape, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()[:32]


ANONYMOUS_SUBJECT = "anonymous"

_current: ContextVar[Caller | None] = ContextVar("caller", default=None)


def current_caller() -> Caller | None:
    """The caller of the call being handled, or None outside a call or for an anonymous caller."""
    return _current.get()


def set_current_caller(caller: Caller | None) -> None:
    """Set by the runtime interceptor; restored by value like the other per-call variables."""
    _current.set(caller)
