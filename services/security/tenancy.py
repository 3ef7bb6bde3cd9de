"""Which client a call acts for, and whether the caller's role may make it.

The tenant comes from the token. Only an admin names a client in the request; anyone else who
names a client other than their own is told it does not exist, so a probe cannot learn which
client ids are real.
"""

from __future__ import annotations

from services.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.security.caller import Caller, Role, current_caller


def require_caller() -> Caller:
    caller = current_caller()
    if caller is None:
        raise Unauthenticated("this call needs a bearer token (Authorization: Bearer <jwt>)")
    return caller


def require_role(*roles: Role) -> Caller:
    """The caller, if their role is one of `roles` (admin always is)."""
    caller = require_caller()
    if caller.is_admin or caller.role in roles:
        return caller
    allowed = ", ".join(sorted(role.value for role in {Role.ADMIN, *roles}))
    raise PermissionDenied(
        f"role {caller.role.value!r} may not do this; it needs one of: {allowed}"
    )


def tenant_for(requested_client_id: str, *, field: str = "client_id") -> str:
    """The client this call acts for: the admin's choice, otherwise the caller's own client."""
    caller = require_caller()
    requested = requested_client_id.strip()
    if caller.is_admin:
        if not requested:
            raise InvalidArgument.for_field(field, "an admin must name the client to act for")
        return requested
    if caller.client_id is None:
        raise PermissionDenied(f"role {caller.role.value!r} is not bound to a client")
    if requested and requested != caller.client_id:
        raise NotFound(f"client {requested!r} not found")
    return caller.client_id
