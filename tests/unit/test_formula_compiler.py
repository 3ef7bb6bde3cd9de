"""Compilation of formulas to measures per object model and a value expression, and the
evaluation of that expression."""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.aggregates import query
from services.calculation.formula import (
    FormulaCatalog,
    FormulaError,
    NoValueReason,
    aggregate_queries,
    compile_formula,
    compile_kpi,
    compile_kpis,
    dimension,
    evaluate,
    value_without_rows,
)
from services.calculation.formula.values import (
    Binary,
    Combine,
    CombineMode,
    Constant,
    MeasureValue,
    Negate,
    PeriodDays,
    measure_ids,
)
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import KpiDefinition
from services.errors import NotFound

CATALOG = load_catalog_files()
FORMULAS = FormulaCatalog.from_catalog(CATALOG)


def _with_kpis(**formulas: str) -> FormulaCatalog:
    template = CATALOG.kpis[0]
    extra = {code: dataclasses.replace(template, code=code, formula=formula)
             for code, formula in formulas.items()}
    return FormulaCatalog(FORMULAS.object_models, {**FORMULAS.kpis, **extra})


@pytest.mark.parametrize("kpi", CATALOG.kpis, ids=lambda kpi: kpi.code)
def test_every_catalog_kpi_compiles(kpi: KpiDefinition) -> None:
    compiled = compile_kpi(kpi.code, FORMULAS)
    provided = {m.measure_id for measures in compiled.measures.values() for m in measures}
    assert measure_ids(compiled.value) == provided
    for model_code, measures in compiled.measures.items():
        assert model_code in kpi.required_object_model_codes
        assert all(m.measure_id.startswith(f"{model_code}.") for m in measures)
    assert compile_kpi(kpi.code, FORMULAS) == compiled  # deterministic


def test_a_dashboard_shares_measures_per_object_model() -> None:
    codes = [kpi.code for kpi in CATALOG.kpis]
    compiled = compile_kpis(codes, FORMULAS)
    assert set(compiled.kpis) == set(codes)
    separately = sum(len(measures) for kpi in compiled.kpis.values()
                     for measures in kpi.measures.values())
    merged = sum(len(measures) for measures in compiled.measures.values())
    assert merged < separately
    for measures in compiled.measures.values():
        assert len({m.measure_id for m in measures}) == len(measures)
        assert len(set(dataclasses.replace(m, measure_id="") for m in measures)) == len(measures)
    perfect = compiled.kpis["SCOR_POF"].measures["ORDER"]
    on_time = compiled.kpis["SCOR_OTD"].measures["ORDER"]
    assert {m.measure_id for m in perfect} & {m.measure_id for m in on_time}


def test_identical_aggregates_are_one_measure() -> None:
    compiled = compile_formula(
        "count(ORDER where status = 'delivered') / (count(ORDER where status = 'delivered')"
        " + count(ORDER where status='delivered' and order_value > 2.50))", FORMULAS)
    (delivered, valuable) = compiled.measures["ORDER"]
    assert delivered.function is query.AggregateFunction.COUNT and delivered.argument is None
    assert delivered.filter == query.Compare(query.FieldRef("status"), query.Comparator.EQ,
                                             query.Literal("delivered"))
    assert valuable.filter == query.AllOf((
        delivered.filter,
        query.Compare(query.FieldRef("order_value"), query.Comparator.GT,
                      query.Literal(Decimal("2.5")))))


def test_relationship_paths_become_field_refs() -> None:
    compiled = compile_formula(
        "sum(PAYMENT.amount * duration_days(PAYMENT.invoice.issue_date, PAYMENT.received_at)"
        " where received_at <= invoice.due_date and method in ('wire', 'ach')"
        " and amount between 10 and 20 and invoice.paid_date is not null)", FORMULAS)
    (measure,) = compiled.measures["PAYMENT"]
    assert measure.argument == query.Arithmetic(
        query.ArithmeticOperator.MULTIPLY, query.FieldRef("amount"),
        query.Duration(query.FieldRef("issue_date", ("invoice",)), query.FieldRef("received_at"),
                       query.DurationUnit.DAYS))
    assert measure.filter == query.AllOf((
        query.Compare(query.FieldRef("received_at"), query.Comparator.LE,
                      query.FieldRef("due_date", ("invoice",))),
        query.InList(query.FieldRef("method"), ("wire", "ach")),
        query.Between(query.FieldRef("amount"), 10, 20),
        query.Not(query.IsNull(query.FieldRef("paid_date", ("invoice",)))),
    ))


def test_percentile_and_boolean_fields() -> None:
    compiled = compile_formula(
        "percentile(ORDER.order_value, 0.9 where delivered_in_full and created_at >= "
        "date '2025-01-01')", FORMULAS)
    (measure,) = compiled.measures["ORDER"]
    assert measure.function is query.AggregateFunction.PERCENTILE
    assert measure.percentile == 0.9
    assert measure.filter == query.AllOf((
        query.Compare(query.FieldRef("delivered_in_full"), query.Comparator.EQ,
                      query.Literal(True)),
        query.Compare(query.FieldRef("created_at"), query.Comparator.GE,
                      query.Literal(datetime.date(2025, 1, 1)))))


def test_abs_splits_on_the_sign_of_its_operand() -> None:
    compiled = compile_formula(
        "avg(abs(DEMAND_FORECAST.forecast_quantity - DEMAND_FORECAST.actual_quantity))", FORMULAS)
    positive, negative, count = compiled.measures["DEMAND_FORECAST"]
    error = query.Arithmetic(query.ArithmeticOperator.SUBTRACT,
                             query.FieldRef("forecast_quantity"), query.FieldRef("actual_quantity"))
    assert positive.argument == error
    assert positive.filter == query.Compare(error, query.Comparator.GE, query.Literal(0))
    assert negative.argument == query.Arithmetic(query.ArithmeticOperator.SUBTRACT,
                                                 query.Literal(0), error)
    assert negative.filter == query.Compare(error, query.Comparator.LT, query.Literal(0))
    assert count.function is query.AggregateFunction.COUNT and count.argument == error
    # rows with errors +3, -5, +1: mean absolute error 3
    values = {positive.measure_id: 4.0, negative.measure_id: 5.0, count.measure_id: 3.0}
    assert evaluate(compiled.value, values, 1.0).value == 3.0
    only_negative = {positive.measure_id: None, negative.measure_id: 5.0, count.measure_id: 1.0}
    assert evaluate(compiled.value, only_negative, 1.0).value == 5.0


def test_kpi_references_are_inlined() -> None:
    compiled = compile_kpi("SCOR_CASH_TO_CASH", FORMULAS)
    assert {"FIN_DSO", "FIN_DIO", "FIN_DPO"} <= compiled.referenced_kpi_codes
    parts = [compile_kpi(code, FORMULAS) for code in ("FIN_DSO", "FIN_DIO", "FIN_DPO")]
    assert compiled.value == Binary(query.ArithmeticOperator.SUBTRACT,
                                    Binary(query.ArithmeticOperator.ADD, parts[0].value,
                                           parts[1].value), parts[2].value)


def test_cycles_are_rejected_where_they_close() -> None:
    formulas = _with_kpis(X_A="kpi(X_B) + 1", X_B="2 * kpi(X_C)", X_C="kpi(X_A)")
    with pytest.raises(FormulaError) as raised:
        compile_kpi("X_A", formulas)
    (diagnostic,) = raised.value.diagnostics
    assert diagnostic.kpi_code == "X_C" and diagnostic.column == 1
    assert "kpi(X_A) refers back to itself: X_A → X_B → X_C → X_A" in diagnostic.message
    with pytest.raises(FormulaError):
        compile_kpi("X_SELF", _with_kpis(X_SELF="kpi(X_SELF)"))


def test_many_kpis_report_every_broken_formula() -> None:
    formulas = _with_kpis(X_BAD="count(ORDER where statuz = 'x')", X_WORSE="sum(ORDER.)")
    with pytest.raises(FormulaError) as raised:
        compile_kpis(["SCOR_OTD", "X_BAD", "X_WORSE"], formulas)
    assert [d.kpi_code for d in raised.value.diagnostics] == ["X_BAD", "X_WORSE"]
    with pytest.raises(NotFound):
        compile_kpis(["SCOR_OTD", "NOPE"], FORMULAS)


def test_evaluation_of_a_ratio() -> None:
    compiled = compile_kpi("SCOR_OTD", FORMULAS)
    on_time, delivered = (m.measure_id for m in compiled.measures["ORDER"])
    assert evaluate(compiled.value, {on_time: 3, delivered: 4}, 1.0).value == 75.0
    no_deliveries = evaluate(compiled.value, {on_time: 0, delivered: 0}, 1.0)
    assert (no_deliveries.value, no_deliveries.reason) == (None, NoValueReason.DIVISION_BY_ZERO)
    missing = evaluate(compiled.value, {on_time: 3, delivered: None}, 1.0)
    assert missing.reason is NoValueReason.NO_DATA


def test_period_days_and_combine() -> None:
    expression = Binary(query.ArithmeticOperator.DIVIDE, MeasureValue("m"), PeriodDays())
    assert evaluate(expression, {"m": 14.0}, 7.0).value == 2.0
    least = Combine(CombineMode.LEAST, (MeasureValue("a"), MeasureValue("b")))
    assert evaluate(least, {"a": None, "b": 4.0}, 1).value == 4.0
    assert evaluate(least, {}, 1).reason is NoValueReason.NO_DATA


_FINITE = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False)


@given(_FINITE, _FINITE)
def test_division_by_zero_gives_no_value_and_says_so(numerator: float, other: float) -> None:
    zero = Binary(query.ArithmeticOperator.SUBTRACT, MeasureValue("b"), MeasureValue("b"))
    expression = Binary(query.ArithmeticOperator.ADD, Constant(other),
                        Negate(Binary(query.ArithmeticOperator.DIVIDE, MeasureValue("a"), zero)))
    result = evaluate(expression, {"a": numerator, "b": other}, 1.0)
    assert result.value is None and result.reason is NoValueReason.DIVISION_BY_ZERO
    fine = evaluate(Binary(query.ArithmeticOperator.DIVIDE, MeasureValue("a"), Constant(2.0)),
                    {"a": numerator}, 1.0)
    assert fine.value == numerator / 2 and fine.reason is None


def test_query_building_helpers() -> None:
    compiled = compile_kpis(["SCOR_RETURN_RATE", "SCOR_OTD"], FORMULAS)
    window = query.TimeRange(datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC),
                             datetime.datetime(2025, 2, 1, tzinfo=datetime.UTC))
    models = FORMULAS.object_models
    region = dimension("region", "order.region", models["ORDER_LINE"], models)
    assert region == query.Dimension("region", query.FieldRef("region", ("order",)))
    queries = aggregate_queries(compiled.measures, window, query.Period.DAY,
                                group_by={"ORDER_LINE": [region]})
    assert [q.object_model_code for q in queries] == sorted(compiled.measures)
    by_model = {q.object_model_code: q for q in queries}
    assert by_model["ORDER_LINE"].group_by == (region,)
    assert by_model["ORDER"].measures == compiled.measures["ORDER"]
    with pytest.raises(FormulaError, match="unknown field 'regio' of ORDER"):
        dimension("region", "order.regio", models["ORDER_LINE"], models)
    counts = [value_without_rows(m) for m in compiled.measures["ORDER"]]
    assert counts == [0.0, 0.0]
    assert value_without_rows(query.Measure("s", query.AggregateFunction.SUM)) is None
