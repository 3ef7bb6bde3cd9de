"""Who may see and make which proposals.

Proposal RPCs are open to admins, sales and managers (the role table in services.security). Within
that, a proposal belongs to one client:
- sales and managers act for the client their token is bound to: they price, save, list and read
  that client's proposals only; naming another client answers NOT_FOUND, as if it did not exist;
- creating (saving) a proposal takes the sales role; a manager may only read and use the
  questionnaire;
- an admin acts for any client and must name it when creating; listing without a client lists all.
"""

from __future__ import annotations

from services.config.clients.rules import CLIENT_ID
from services.errors import InvalidArgument, NotFound
from services.security.caller import Caller, Role
from services.security.tenancy import require_role, tenant_for

READERS = (Role.SALES, Role.MANAGER)


def caller_who_may_read() -> Caller:
    return require_role(*READERS)


def caller_who_may_create() -> Caller:
    return require_role(Role.SALES)


def client_to_act_for(requested: str, field: str) -> str:
    client_id = tenant_for(requested, field=field)
    if not CLIENT_ID.match(client_id):
        raise InvalidArgument.for_field(
            field, "is not a client id (lowercase letters, digits and '-', e.g. \"acme\")")
    return client_id


def client_to_list(caller: Caller, requested: str) -> str | None:
    """The client whose proposals a list shows; None (admin, none named) for every client."""
    if caller.is_admin and not requested.strip():
        return None
    return client_to_act_for(requested, "client_id")


def check_visible(caller: Caller, proposal_client_id: str, proposal_id: str) -> None:
    if caller.is_admin or caller.client_id == proposal_client_id:
        return
    raise NotFound(f"proposal {proposal_id!r} not found")
