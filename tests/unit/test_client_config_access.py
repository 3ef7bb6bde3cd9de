"""Which client a configuration call acts for, by the caller's role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.config.clients import access
from services.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from services.security.caller import Caller, Role, set_current_caller


@pytest.fixture(autouse=True)
def no_caller_afterwards() -> Iterator[None]:
    yield
    set_current_caller(None)


def acting_as(role: Role, client_id: str | None = None) -> None:
    set_current_caller(Caller(subject="someone", role=role, client_id=client_id))


def test_an_admin_acts_for_the_client_it_names_and_may_leave_a_new_id_to_be_assigned() -> None:
    acting_as(Role.ADMIN)
    assert access.reading("acme") == access.changing("acme") == "acme"
    assert access.listing() is None
    assert access.creating("") is None
    assert access.creating("acme") == "acme"
    with pytest.raises(InvalidArgument):
        access.reading("")


def test_sales_configures_the_client_of_its_token() -> None:
    acting_as(Role.SALES, "acme")
    assert access.changing("") == access.creating("") == access.creating("acme") == "acme"
    assert access.listing() == "acme"
    with pytest.raises(NotFound):
        access.changing("beta")


def test_other_tenant_roles_read_their_own_client_only_and_change_nothing() -> None:
    for role in (Role.ANALYST, Role.MANAGER):
        acting_as(role, "acme")
        assert access.reading("") == access.reading("acme") == "acme"
        assert access.listing() == "acme"
        with pytest.raises(NotFound):
            access.reading("beta")
        with pytest.raises(PermissionDenied):
            access.changing("acme")
        with pytest.raises(PermissionDenied):
            access.creating("acme")


def test_roles_without_a_client_and_anonymous_callers_are_refused() -> None:
    acting_as(Role.OPERATOR)
    with pytest.raises(PermissionDenied):
        access.reading("acme")
    set_current_caller(None)
    with pytest.raises(Unauthenticated):
        access.reading("acme")
    with pytest.raises(Unauthenticated):
        access.reading_any()
