"""Row security rules: which callers they limit, the filters they become, the SQL those filters
become, and the catalog's checks of a rule."""

from __future__ import annotations

import datetime

import pytest

from services.aggregates import query as q
from services.calculation.formula.compiler import CompiledKpi
from services.calculation.formula.row_access import (
    effective_rules,
    hierarchy_model_codes,
    row_filters,
    rule_problems,
)
from services.calculation.formula.values import Constant
from services.calculation.scopes import scoped
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import RowAccessRule
from services.data.sql_builder import build_statement
from services.errors import PermissionDenied
from services.security.caller import Caller, Role

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
REGION = RowAccessRule("OPPORTUNITY", "owner.region", "region")
SUBTREE = RowAccessRule("OPPORTUNITY", "owner_id", "org_node", "SALES_REP", "manager")


def _caller(role: Role, **attributes: str) -> Caller:
    return Caller(subject="u", role=role, client_id="acme", attributes=attributes)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST])
def test_admins_and_analysts_see_every_row(role: Role) -> None:
    assert row_filters("K", [REGION, SUBTREE], _caller(role), MODELS) == {}
    assert row_filters("K", [REGION], None, MODELS) == {}


@pytest.mark.parametrize("role", [Role.MANAGER, Role.SALES])
def test_restricted_roles_get_one_filter_per_model(role: Role) -> None:
    filters = row_filters(
        "K", [REGION, SUBTREE], _caller(role, region="emea", org_node="R1"), MODELS
    )
    assert filters == {
        "OPPORTUNITY": q.AllOf(
            (
                q.Compare(q.FieldRef("region", ("owner",)), q.Comparator.EQ, q.Literal("emea")),
                q.Subtree(q.FieldRef("owner_id"), "SALES_REP", "sales_rep_id", "manager_id", "R1"),
            )
        )
    }


def test_a_missing_claim_is_refused_naming_it() -> None:
    with pytest.raises(PermissionDenied, match="org_node"):
        row_filters("K", [SUBTREE], _caller(Role.MANAGER, region="emea"), MODELS)


def test_inlined_kpis_bring_their_rules() -> None:
    rules = effective_rules("A", {"B"}, {"B": (SUBTREE,), "A": ()})
    assert rules == (SUBTREE,)
    assert hierarchy_model_codes(rules) == ("SALES_REP",)


def test_rule_checks_name_the_problem() -> None:
    assert rule_problems(REGION, MODELS) == []
    assert rule_problems(SUBTREE, MODELS) == []
    bad_field = RowAccessRule("OPPORTUNITY", "owner.nope", "region")
    assert "unknown field 'nope'" in rule_problems(bad_field, MODELS)[0]
    not_text = RowAccessRule("OPPORTUNITY", "amount", "region")
    assert "text field" in rule_problems(not_text, MODELS)[0]
    not_a_hierarchy = RowAccessRule("OPPORTUNITY", "owner_id", "org_node", "OPPORTUNITY", "owner")
    assert "to itself" in rule_problems(not_a_hierarchy, MODELS)[0]


def test_scopes_keep_callers_with_different_filters_apart() -> None:
    compiled_measures = {"OPPORTUNITY": (q.Measure("m", q.AggregateFunction.COUNT),)}
    kpi = CompiledKpi("K", "count(OPPORTUNITY)", Constant(1.0), compiled_measures, frozenset())
    open_scope = scoped(kpi, {})
    emea = scoped(kpi, row_filters("K", [REGION], _caller(Role.MANAGER, region="emea"), MODELS))
    apac = scoped(kpi, row_filters("K", [REGION], _caller(Role.MANAGER, region="apac"), MODELS))
    assert list(open_scope.kpi.measures) == ["OPPORTUNITY"] and not open_scope.restricted
    assert emea.restricted and set(emea.kpi.measures).isdisjoint(apac.kpi.measures)


def test_the_subtree_becomes_a_recursive_query_scoped_to_the_client() -> None:
    start = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
    query = q.AggregateQuery(
        "q",
        "OPPORTUNITY",
        q.TimeRange(start, start + datetime.timedelta(days=1)),
        (q.Measure("m", q.AggregateFunction.COUNT),),
        row_filter=q.Subtree(
            q.FieldRef("owner_id"), "SALES_REP", "sales_rep_id", "manager_id", "R1"
        ),
    )
    statement = build_statement(query, MODELS, client_id="acme")
    assert not statement.used_rollups
    assert "WITH RECURSIVE subtree(node)" in statement.sql
    assert '"sales_data"."sales_reps"' in statement.sql and ".client_id = $1" in statement.sql
    assert "R1" in statement.params and "R1" not in statement.sql
