"""Derived fields: declared in the catalog, carried by the contracts, rendered into migrations,
and read by the SQL builder in place of the comparison they stand for (so rollups can answer)."""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from typing import Any

import pytest

from scripts.object_model_tables import (
    DERIVED_FIELD_MIGRATIONS,
    derived_field_problems,
    render,
    render_derived,
)
from services.aggregates import query as q
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi
from services.catalog import messages
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, Comparator, DerivedField, ObjectModel
from services.data.sql_builder import Statement, build_statement
from tests.unit.catalog_edits import problems_after_editing

UTC = datetime.UTC
YEAR = q.TimeRange(datetime.datetime(2025, 10, 1, tzinfo=UTC),
                   datetime.datetime(2026, 10, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


@pytest.fixture(scope="module")
def models(catalog: Catalog) -> dict[str, ObjectModel]:
    return {model.code: model for model in catalog.object_models}


def f(name: str, *path: str) -> q.FieldRef:
    return q.FieldRef(name, tuple(path))


def compare(left: str, comparator: q.Comparator, right: str) -> q.Compare:
    return q.Compare(f(left), comparator, f(right))


ON_TIME = compare("delivered_at", q.Comparator.LE, "promised_at")
MIRRORED = compare("promised_at", q.Comparator.GE, "delivered_at")


def orders(where: q.Filter, **changes: Any) -> q.AggregateQuery:
    measures = (q.Measure("n", q.AggregateFunction.COUNT),
                q.Measure("hit", q.AggregateFunction.COUNT, filter=where))
    return q.AggregateQuery("q", "ORDER", YEAR, measures, bucket=q.Period.DAY, **changes)


def build(query: q.AggregateQuery, models: dict[str, ObjectModel], **options: Any) -> Statement:
    return build_statement(query, models, client_id="c", **options)


# -- the domain -----------------------------------------------------------------------------


def test_a_derived_field_is_its_comparison_as_written_or_mirrored() -> None:
    on_time = DerivedField("on_time", "", "delivered_at", Comparator.LE, "promised_at")
    assert on_time.expression == "delivered_at <= promised_at"
    assert on_time.defines("delivered_at", Comparator.LE, "promised_at")
    assert on_time.defines("promised_at", Comparator.GE, "delivered_at")
    # Another operator, or the operands swapped without mirroring the operator, is another
    # comparison (equal timestamps tell <= from <, and a <= b from b <= a).
    assert not on_time.defines("delivered_at", Comparator.LT, "promised_at")
    assert not on_time.defines("promised_at", Comparator.LE, "delivered_at")
    assert not on_time.defines("delivered_at", Comparator.GE, "promised_at")
    assert not on_time.defines("shipped_at", Comparator.LE, "promised_at")
    equal = DerivedField("same", "", "a", Comparator.EQ, "b")
    assert equal.defines("b", Comparator.EQ, "a")


def test_the_catalog_declares_the_on_time_flags(models: dict[str, ObjectModel]) -> None:
    declared = {
        (code, d.name, d.expression) for code, m in models.items() for d in m.derived_fields
    }
    assert declared == {
        ("ORDER", "delivered_on_time", "delivered_at <= promised_at"),
        ("PURCHASE_ORDER", "received_on_time", "received_at <= promised_at"),
        ("WORK_ORDER", "completed_on_time", "completed_at <= planned_end_at"),
        ("AP_INVOICE", "paid_on_time", "paid_date <= due_date"),
        ("INVENTORY_SNAPSHOT", "below_safety_stock", "on_hand_quantity < safety_stock_quantity"),
        ("ORDER_LINE", "short_shipped", "shipped_quantity < quantity"),
        # A date of the row against its copy of the invoice's date.
        ("PAYMENT", "collected_on_time", "value_date <= invoice.due_date"),
    }
    order = models["ORDER"]
    # Not a field: fields are what clients send (ingest refuses unknown names).
    assert order.field("delivered_on_time") is None
    assert order.derived_field("delivered_on_time") is not None


def test_object_models_carry_their_derived_fields_through_the_contract(
    models: dict[str, ObjectModel],
) -> None:
    message = messages.object_model(models["ORDER"])
    (derived,) = message.derived_fields
    assert (derived.name, derived.expression, derived.left_field, derived.comparator,
            derived.right_field) == ("delivered_on_time", "delivered_at <= promised_at",
                                     "delivered_at", "<=", "promised_at")
    assert [f.name for f in message.fields if f.name == "delivered_on_time"] == []
    for model in models.values():
        assert messages.object_model_from_proto(messages.object_model(model)) == model


# -- broken declarations --------------------------------------------------------------------


def problems_with(tmp_path: pathlib.Path, *derived: dict[str, str]) -> list[str]:
    def add(order: dict[str, Any]) -> None:
        order["derived_fields"] = [*order["derived_fields"], *derived]

    return problems_after_editing(tmp_path, "ORDER", add)


@pytest.mark.parametrize(
    ("name", "expression", "problem"),
    [
        ("late", "delivered_at > nope", "expression: 'nope' is not a field"),
        ("late", "delivered_at > 3", "must compare two fields"),
        ("late", "delivered_at - promised_at", "must compare two fields"),
        ("same", "created_at = created_at", "compares a field with itself"),
        ("web", "channel = region", "must both be numbers, both timestamps or both dates"),
        ("odd", "order_value < created_at", "must both be numbers, both timestamps or both dates"),
        ("status", "shipped_at <= promised_at", "'status' is already a field"),
        ("delivered_on_time", "shipped_at <= promised_at", "already a field or derived field"),
        ("row_count", "shipped_at <= promised_at", "a column the platform adds"),
        ("sum__x", "shipped_at <= promised_at", "a column the platform adds"),
        ("Late", "shipped_at <= promised_at", "must be lower_snake_case"),
    ],
)
def test_a_broken_derived_field_is_refused_naming_it(
    tmp_path: pathlib.Path, name: str, expression: str, problem: str
) -> None:
    problems = problems_with(tmp_path, {"name": name, "expression": expression,
                                        "description": "x"})
    assert any(p.startswith("object_models/scor.yaml: object model ORDER: derived field 1")
               and problem in p for p in problems), problems


# -- migrations -----------------------------------------------------------------------------


def test_0005_is_rendered_without_derived_fields(catalog: Catalog) -> None:
    base = render(catalog.object_models)
    assert "delivered_on_time" not in base and "GENERATED ALWAYS" not in base


def test_the_derived_field_migration_adds_generated_columns_and_rekeys_rollups(
    catalog: Catalog,
) -> None:
    (file_name, names), later, _ = DERIVED_FIELD_MIGRATIONS
    sql = render_derived(catalog.object_models, 0)
    assert ('ADD COLUMN "delivered_on_time" boolean GENERATED ALWAYS AS '
            '("delivered_at" <= "promised_at") STORED;') in sql
    assert ('CREATE UNIQUE INDEX "orders__minute_group" ON "scor_data"."orders__minute" '
            '(client_id, bucket, "channel", "status", "delivered_in_full", '
            '"delivered_damage_free", "documentation_accurate", "delivered_on_time") '
            'NULLS NOT DISTINCT;') in sql
    assert 'raw."delivered_on_time", count(*)' in sql
    # Date-placed models bucket at the date's UTC midnight, as ingest does.
    assert '(raw."snapshot_date"::timestamp AT TIME ZONE \'UTC\')' in sql
    assert sql.count("GENERATED ALWAYS AS") == len(names) == 5
    # Models without derived fields are left alone, and the hour rollups came later.
    assert "opportunities" not in sql and "__hour" not in sql
    # A later entry (after the hour rollups): both rollups gain the column, keyed by what the
    # model has by then (the copy of the order's status), and are summed again.
    assert later == ("0016_derived_field_short_shipped.sql", ("ORDER_LINE.short_shipped",))
    sql = render_derived(catalog.object_models, 1)
    for level in ("minute", "hour"):
        assert (f'CREATE UNIQUE INDEX "order_lines__{level}_group" ON '
                f'"scor_data"."order_lines__{level}" (client_id, bucket, "short_shipped", '
                '"order__status") NULLS NOT DISTINCT;') in sql
        assert f'TRUNCATE "scor_data"."order_lines__{level}";' in sql


def test_a_derived_field_outside_every_migration_is_reported(catalog: Catalog) -> None:
    assert derived_field_problems(catalog.object_models) == []
    order = catalog.object_model("ORDER")
    assert order is not None
    late_ship = DerivedField("shipped_on_time", "", "shipped_at", Comparator.LE, "promised_at")
    grown = tuple(
        dataclasses.replace(m, derived_fields=(*m.derived_fields, late_ship)) if m is order else m
        for m in catalog.object_models
    )
    assert derived_field_problems(grown) == [
        "ORDER.shipped_on_time is in no entry of DERIVED_FIELD_MIGRATIONS: add an entry (a new "
        "migration) for it"
    ]
    shrunk = tuple(dataclasses.replace(m, derived_fields=()) if m is order else m
                   for m in catalog.object_models)
    assert derived_field_problems(shrunk) == [
        "ORDER.delivered_on_time is listed in DERIVED_FIELD_MIGRATIONS but not declared in the "
        "catalog"
    ]


# -- the SQL builder ------------------------------------------------------------------------


@pytest.mark.parametrize("where", [ON_TIME, MIRRORED, q.Not(ON_TIME), q.Not(MIRRORED)],
                         ids=["written", "mirrored", "not written", "not mirrored"])
@pytest.mark.parametrize("allow_rollups", [True, False], ids=["rollup", "raw"])
def test_the_declared_comparison_reads_the_derived_column(
    models: dict[str, ObjectModel], where: q.Filter, allow_rollups: bool
) -> None:
    statement = build(orders(where), models, allow_rollups=allow_rollups)
    assert statement.used_rollups is allow_rollups, statement.rollup_refusal
    assert 't."delivered_on_time"' in statement.sql
    assert "delivered_at" not in statement.sql and "promised_at" not in statement.sql


@pytest.mark.parametrize(
    "where",
    [
        compare("delivered_at", q.Comparator.LT, "promised_at"),
        compare("promised_at", q.Comparator.LE, "delivered_at"),
        compare("delivered_at", q.Comparator.GE, "promised_at"),
        compare("shipped_at", q.Comparator.LE, "promised_at"),
        q.Compare(f("delivered_at"), q.Comparator.LE, q.Literal("2026-01-01T00:00:00+00:00")),
    ],
    ids=["other operator", "swapped, not mirrored", "reversed", "other field", "literal"],
)
def test_any_other_comparison_reads_the_fields(
    models: dict[str, ObjectModel], where: q.Compare
) -> None:
    statement = build(orders(where), models)
    assert not statement.used_rollups
    assert statement.rollup_refusal is not None and "filter" in statement.rollup_refusal
    assert "delivered_on_time" not in statement.sql


def test_a_related_rows_declared_comparison_reads_its_derived_column(
    models: dict[str, ObjectModel],
) -> None:
    line_of_an_on_time_order = q.Compare(
        f("delivered_at", "order"), q.Comparator.LE, f("promised_at", "order")
    )
    query = q.AggregateQuery(
        "l", "ORDER_LINE", YEAR,
        (q.Measure("n", q.AggregateFunction.COUNT, filter=line_of_an_on_time_order),),
    )
    statement = build(query, models)
    assert not statement.used_rollups  # the rollup holds no related rows
    assert '(j1."delivered_on_time")' in statement.sql
    # Fields of two different rows are two values, not one row's derived field.
    across = q.Compare(f("created_at"), q.Comparator.LE, f("promised_at", "order"))
    query = dataclasses.replace(
        query, measures=(q.Measure("n", q.AggregateFunction.COUNT, filter=across),)
    )
    assert "delivered_on_time" not in build(query, models).sql


def test_a_derived_field_can_be_named_directly(models: dict[str, ObjectModel]) -> None:
    query = orders(q.Compare(f("delivered_on_time"), q.Comparator.EQ, q.Literal(True)),
                   group_by=(q.Dimension("on_time", f("delivered_on_time")),))
    statement = build(query, models)
    assert statement.used_rollups, statement.rollup_refusal
    assert 't."delivered_on_time" AS d0' in statement.sql


ANSWERED_BY_ROLLUPS_NOW = [
    "SCOR_POF", "SCOR_OTD", "SCOR_SUPPLIER_OTD", "SCOR_SUPPLIER_OTIF", "SCOR_SCHEDULE_ADHERENCE",
    "SCOR_BELOW_SAFETY_STOCK", "FIN_SUPPLIER_ON_TIME_PAYMENT",
]


@pytest.mark.parametrize("code", ANSWERED_BY_ROLLUPS_NOW)
def test_on_time_kpis_are_answered_by_the_rollups(
    catalog: Catalog, models: dict[str, ObjectModel], code: str
) -> None:
    # The formula compiler knows nothing of derived fields: the rewrite is the SQL builder's.
    compiled = compile_kpi(code, FormulaCatalog.from_catalog(catalog))
    for model_code, measures in compiled.measures.items():
        query = q.AggregateQuery("q", model_code, YEAR, measures, bucket=q.Period.DAY)
        statement = build(query, models)
        assert statement.used_rollups, (code, statement.rollup_refusal)
        derived = {d.name for d in models[model_code].derived_fields}
        assert any(f't."{name}"' in statement.sql for name in derived)
        without = dataclasses.replace(models[model_code], derived_fields=())
        assert not build(query, {**models, model_code: without}).used_rollups


@pytest.mark.parametrize(
    ("expression", "where", "problem"),
    [
        # ORDER_LINE carries its order's status only.
        ("created_at <= order.promised_at", "derived field 1",
         "'order.promised_at' is not a field of a relationship that the row carries a copy of"),
        ("created_at <= product.list_price", "derived field 1", "the row carries a copy of"),
        # The copy's type is known once every model is read, and checked then.
        ("quantity < order.status", "derived field 1",
         "quantity (decimal) and order.status (string) must both be numbers"),
    ],
)
def test_a_derived_field_over_a_copy_is_checked_like_one_over_fields(
    tmp_path: pathlib.Path, expression: str, where: str, problem: str
) -> None:
    def add(lines: dict[str, Any]) -> None:
        lines["derived_fields"] = [*lines["derived_fields"],
                                   {"name": "odd", "expression": expression, "description": "x"}]

    problems = problems_after_editing(tmp_path, "ORDER_LINE", add)
    assert any(f"object model ORDER_LINE: {where}" in p and problem in p
               for p in problems), problems
