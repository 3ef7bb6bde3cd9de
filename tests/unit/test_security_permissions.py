"""The role × RPC table: complete, shown in the README as it is, and what the runtime enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_engine import descriptor
from services.security import permissions
from services.security.caller import Caller, Role

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_METHODS = [
    m.path
    for service in descriptor.load(ROOT / "gen" / "descriptor.binpb")
    if service.public
    for m in service.methods
]


def caller(role: Role) -> Caller:
    tenant = "acme" if role in {Role.ANALYST, Role.MANAGER, Role.SALES} else None
    return Caller(subject="t", role=role, client_id=tenant)


def test_every_public_rpc_has_a_row_and_no_row_is_stale() -> None:
    assert sorted(PUBLIC_METHODS) == sorted(permissions.PERMISSIONS)


def test_the_readme_shows_the_table_in_the_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(permissions.README_START) + len(permissions.README_START)
    end = readme.index(permissions.README_END)
    assert readme[start:end].strip() == permissions.readme_table(), (
        "README's role table is stale: paste services.security.permissions.readme_table()"
    )


def test_anonymous_callers_read_the_catalog_and_nothing_else() -> None:
    for method in PUBLIC_METHODS:
        allowed = permissions.rule_for(method).allows(None)
        assert allowed == method.startswith("/analytics.catalog.v1.CatalogService/"), method


def test_admin_may_call_everything_and_unknown_methods_only_admin() -> None:
    for method in [*PUBLIC_METHODS, "/analytics.x.v1.NewService/Thing"]:
        assert permissions.rule_for(method).allows(caller(Role.ADMIN))
    unknown = permissions.rule_for("/analytics.x.v1.NewService/Thing")
    assert not any(unknown.allows(caller(role)) for role in Role if role is not Role.ADMIN)


@pytest.mark.parametrize(
    ("method", "role", "allowed"),
    [
        ("/analytics.calculation.v1.CalculationService/Calculate", Role.ANALYST, True),
        ("/analytics.calculation.v1.CalculationService/Calculate", Role.OPERATOR, False),
        ("/analytics.data.v1.DataService/IngestRows", Role.ANALYST, False),
        ("/analytics.data.v1.DataService/IngestRows", Role.MANAGER, True),
        ("/analytics.monitor.v1.MonitorService/GetSystemHealth", Role.OPERATOR, True),
        ("/analytics.monitor.v1.MonitorService/GetSystemHealth", Role.MANAGER, False),
        ("/analytics.config.v1.ProposalService/CreateProposal", Role.SALES, True),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Role.OPERATOR, True),
        ("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", Role.ANALYST, False),
    ],
)
def test_examples_of_the_table(method: str, role: Role, allowed: bool) -> None:
    assert permissions.rule_for(method).allows(caller(role)) is allowed


def test_health_is_open_in_the_services_but_the_operators_board_at_the_edge() -> None:
    check = "/grpc.health.v1.Health/Check"
    assert permissions.rule_for(check).allows(None)
    assert permissions.rule_for(check).allows(caller(Role.SALES))
    assert not permissions.edge_rule_for(check).allows(None)
    assert not permissions.edge_rule_for(check).allows(caller(Role.ANALYST))
    assert permissions.edge_rule_for(check).allows(caller(Role.OPERATOR))


def test_internal_services_are_recognised() -> None:
    assert permissions.is_internal("/analytics.data.v1.DataInternalService/QueryAggregates")
    assert not permissions.is_internal("/analytics.data.v1.DataService/IngestRows")
