"""Validation of formulas against the catalog's object models and KPIs."""

from __future__ import annotations

import pytest

from services.calculation.formula.errors import FormulaError
from services.calculation.formula.validation import check_formula
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import KpiDefinition

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
KPI_CODES = {kpi.code for kpi in CATALOG.kpis}


@pytest.mark.parametrize("kpi", CATALOG.kpis, ids=lambda kpi: kpi.code)
def test_every_catalog_formula_validates_and_reads_its_required_models(
    kpi: KpiDefinition,
) -> None:
    checked = check_formula(kpi.formula, MODELS, KPI_CODES)
    read = set(checked.object_model_codes)
    for code in checked.kpi_codes:
        read |= set(CATALOG.kpi(code).required_object_model_codes)  # type: ignore[union-attr]
    assert read == set(kpi.required_object_model_codes)


def test_what_a_formula_reads() -> None:
    checked = check_formula(
        "sum(PAYMENT.amount * duration_days(PAYMENT.invoice.issue_date, PAYMENT.received_at))"
        " / sum(PAYMENT.amount where invoice.customer.segment = 'smb') + kpi(FIN_DSO)",
        MODELS, KPI_CODES)
    assert checked.object_model_codes == {"PAYMENT", "INVOICE", "CUSTOMER"}
    assert checked.kpi_codes == {"FIN_DSO"}


@pytest.mark.parametrize(
    ("formula", "column", "text", "message"),
    [
        ("count(ORDER where delivery_at <= promised_at)", 19, "delivery_at",
         "unknown field 'delivery_at' of ORDER"),
        ("sum(PAYMENT.amount where invoice.due_dat > received_at)", 34, "due_dat",
         "unknown field 'due_dat' of INVOICE"),
        ("sum(PAYMENT.invoce.amount)", 13, "invoce", "unknown relationship 'invoce' of PAYMENT"),
        ("count(ORDER where status = 'opened')", 28, "'opened'",
         "'opened' is not an allowed value of status (open, allocated, shipped, delivered, "
         "cancelled)"),
        ("count(ORDER where status not in ('open', 'gone'))", 42, "'gone'",
         "'gone' is not an allowed value of status"),
        ("avg(duration_days(ORDER.created_at, ORDER.order_value))", 37, "ORDER.order_value",
         "ORDER.order_value is decimal, not a timestamp or date"),
        ("sum(ORDER.lines.quantity)", 11, "lines",
         "ORDER.lines leads to many ORDER_LINE rows; paths through one-to-many relationships "
         "are not supported"),
        ("count(ORDER where SHIPMENT.damaged)", 19, "SHIPMENT.damaged",
         "SHIPMENT.damaged mixes SHIPMENT into an aggregate over ORDER"),
        ("count(ORDERS)", 7, "ORDERS", "unknown object model 'ORDERS' (did you mean ORDER?)"),
        ("kpi(SCOR_NOPE)", 1, "kpi(SCOR_NOPE)", "unknown KPI SCOR_NOPE"),
        ("order_value / 2", 1, "order_value", "field order_value is used outside an aggregate"),
        ("sum(ORDER.status)", 5, "ORDER.status", "sum() needs a number"),
        ("avg(ORDER.created_at)", 5, "ORDER.created_at", "avg() needs a number"),
        ("count(ORDER where order_value > 'big')", 19, "order_value > 'big'",
         "cannot compare order_value (decimal) with 'big' (text)"),
        ("count(ORDER where delivered_in_full < true)", 19, "delivered_in_full < true",
         "booleans compare only with = or !="),
        ("count(ORDER where status)", 19, "status", "a where filter must be a condition"),
        ("count(ORDER) > 3", 1, "count(ORDER) > 3", "a condition is only allowed after 'where'"),
        ("sum(count(ORDER.order_id))", 5, "count(ORDER.order_id)", "aggregates cannot be nested"),
        ("percentile(ORDER.order_value, 90)", 31, "90", "a percentile is a fraction between 0 "
                                                        "and 1"),
        ("sum(ORDER.order_value where abs(order_value) > 1)", 29, "abs(order_value)",
         "abs() inside an aggregate is supported only in the argument of sum, avg, min or max"),
        ("sum(ORDER.order_value * period_days())", 25, "period_days()",
         "period_days() is the length of the bucket"),
        ("sum(ORDER.order_value where created_at > 5)", 29, "created_at > 5",
         "cannot compare created_at (timestamp) with 5 (number)"),
        ("sum(order_value)", 5, "order_value", "'order_value' is not an object model"),
        ("count(ORDER where customer.segment in ('smb', 2))", 47, "2",
         "2 (number) cannot be compared with customer.segment (string)"),
        ("'text'", 1, "'text'", "a formula must compute a number; this is text"),
        ("sum(ORDER.created_at - ORDER.promised_at)", 5, "ORDER.created_at",
         "use duration_days(start, end)"),
    ],
)
def test_validation_errors_name_the_field_and_point_at_it(
    formula: str, column: int, text: str, message: str
) -> None:
    with pytest.raises(FormulaError) as raised:
        check_formula(formula, MODELS, KPI_CODES)
    found = [(d.column, d.text, d.message) for d in raised.value.diagnostics]
    assert any(column == c and text == t and message in m for c, t, m in found), found


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(FormulaError) as raised:
        check_formula("count(ORDER where statuz = 'x') / sum(LEAD.amount) + kpi(NOPE)",
                      MODELS, KPI_CODES, kpi_code="CUSTOM_1")
    diagnostics = raised.value.diagnostics
    assert len(diagnostics) == 3
    assert all(d.kpi_code == "CUSTOM_1" for d in diagnostics)
    assert [v.field for v in raised.value.violations] == ["formula"] * 3
    assert "unknown field 'statuz' of ORDER" in raised.value.message
