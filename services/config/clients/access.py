"""Who may read and change client configurations, on top of the shared tenancy rules (the tenant
comes from the token; only an admin names any client): any tenant role reads its own client's
configuration, the sales role (and the admin) changes it."""

from __future__ import annotations

from services.security.caller import Role
from services.security.tenancy import require_caller, require_role, tenant_for

# Roles that may change a configuration besides the admin.
EDITORS = (Role.SALES,)


def reading(requested_client_id: str, field: str = "client_id") -> str:
    """The client a read acts for."""
    return tenant_for(requested_client_id, field=field)


def changing(requested_client_id: str, field: str = "client_id") -> str:
    """The client a change acts for."""
    require_role(*EDITORS)
    return tenant_for(requested_client_id, field=field)


def creating(requested_client_id: str, field: str = "client.client_id") -> str | None:
    """The client a create acts for; None when an admin leaves the id to be assigned."""
    caller = require_role(*EDITORS)
    if caller.is_admin and not requested_client_id.strip():
        return None
    return tenant_for(requested_client_id, field=field)


def listing() -> str | None:
    """The one client a listing may show, or None (an admin) for all of them."""
    caller = require_caller()
    return None if caller.is_admin else tenant_for("")


def reading_any() -> None:
    """A read that concerns no client (e.g. analysing catalog KPIs): any signed-in caller."""
    require_caller()
