"""The catalog's formula reference check: what a formula reads, and what it names wrongly."""

from __future__ import annotations

import pytest

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.catalog.formula_references import find_references

CATALOG = load_catalog_files()
MODELS: dict[str, ObjectModel] = {model.code: model for model in CATALOG.object_models}
KPIS = {kpi.code for kpi in CATALOG.kpis}


def references(formula: str) -> tuple[set[str], set[str], list[str]]:
    found = find_references(formula, MODELS, KPIS)
    return set(found.object_model_codes), set(found.kpi_codes), list(found.errors)


def test_models_reached_through_relationships_are_read() -> None:
    models, kpis, errors = references(
        "sum(PAYMENT.amount * duration_days(PAYMENT.invoice.issue_date, PAYMENT.received_at))"
        " / sum(PAYMENT.amount where invoice.customer.segment = 'smb')"
    )
    assert (models, kpis, errors) == ({"PAYMENT", "INVOICE", "CUSTOMER"}, set(), [])


def test_kpi_references() -> None:
    assert references("kpi(FIN_DSO) - kpi(FIN_DPO)") == (set(), {"FIN_DSO", "FIN_DPO"}, [])


@pytest.mark.parametrize(
    ("formula", "error"),
    [
        ("count(ORDER where statuz = 'open')", "column 19: ORDER has no field 'statuz'"),
        ("count(ORDER where status = 'opened')",
         "column 28: 'opened' is not an allowed value of status "
         "(open, allocated, shipped, delivered, cancelled)"),
        ("count(ORDER where status not in ('open', 'gone'))",
         "column 42: 'gone' is not an allowed value of status "
         "(open, allocated, shipped, delivered, cancelled)"),
        ("avg(duration_days(ORDER.created_at, ORDER.order_value))",
         "column 37: ORDER.order_value is decimal, not a timestamp or date"),
        ("sum(ORDER.lines.quantity)",
         "column 5: ORDER.lines leads to many rows; use an aggregate over ORDER_LINE instead"),
        ("count(ORDER where SHIPMENT.damaged)",
         "column 19: SHIPMENT.damaged mixes SHIPMENT into an aggregate over ORDER"),
        ("count(ORDERS)", "column 1: count() names no object model"),
        ("kpi(SCOR_NOPE)", "column 5: unknown KPI SCOR_NOPE"),
        ("order_value / 2", "column 1: field order_value is used outside an aggregate"),
        ("count(ORDER where status = 'open'", "unbalanced parentheses: a '(' is never closed"),
        ("count(ORDER) ; drop", "column 14: unexpected character ';'"),
    ],
)
def test_errors_point_at_the_reference(formula: str, error: str) -> None:
    assert error in references(formula)[2]
