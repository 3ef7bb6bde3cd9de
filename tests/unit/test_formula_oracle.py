"""The independent row evaluator (tests/oracle) on tiny hand-made rows."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

import pytest

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import KpiDefinition
from tests.oracle.row_evaluator import (
    DIVISION_BY_ZERO,
    NO_DATA,
    OracleValue,
    Row,
    evaluate_formula,
)

CATALOG = load_catalog_files()
MODELS = {model.code: model for model in CATALOG.object_models}
KPI_FORMULAS = {kpi.code: kpi.formula for kpi in CATALOG.kpis}
UTC = datetime.UTC
JAN_1 = datetime.datetime(2025, 1, 1, tzinfo=UTC)
JAN_3 = datetime.datetime(2025, 1, 3, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime.datetime:
    return datetime.datetime(2025, 1, day, hour, tzinfo=UTC)


def order(number: int, day: int, status: str, value: float | None = 100.0, *,
          on_time: bool = True, region: str | None = "north", hour: int = 12) -> Row:
    created = at(day, hour)
    return {"order_id": f"O{number}", "customer_id": "C1", "status": status, "region": region,
            "order_value": value, "created_at": created,
            "promised_at": created + datetime.timedelta(days=3),
            "delivered_at": (created + datetime.timedelta(days=2 if on_time else 5)
                             if status == "delivered" else None),
            "delivered_in_full": True, "delivered_damage_free": True,
            "documentation_accurate": status == "delivered"}


ORDERS = [
    order(1, 1, "delivered"),
    order(2, 1, "delivered", on_time=False),
    order(3, 1, "cancelled", 50.0),
    order(4, 2, "delivered", 300.0, region="south"),
    order(5, 2, "open", None, region="south"),
    order(6, 5, "delivered"),  # outside [Jan 1, Jan 3)
]


def run(formula: str, rows: Mapping[str, Sequence[Row]], bucket: str | None = None,
        group_by: Mapping[str, str] | None = None, start: datetime.datetime = JAN_1,
        end: datetime.datetime = JAN_3, time_zone: str = "UTC",
        ) -> dict[tuple[datetime.datetime | None, tuple[object, ...]], OracleValue]:
    return evaluate_formula(formula, MODELS, KPI_FORMULAS, rows, start, end, bucket, time_zone,
                            group_by)


def test_a_ratio_over_the_range() -> None:
    assert run(KPI_FORMULAS["SCOR_OTD"], {"ORDER": ORDERS}) == {
        (None, ()): OracleValue(100 * 2 / 3)}


def test_daily_buckets_and_division_by_zero() -> None:
    values = run("100 * count(ORDER where status = 'cancelled') / count(ORDER where status = "
                 "'cancelled' or status = 'open' and order_value is null)",
                 {"ORDER": ORDERS}, bucket="day")
    assert values == {(JAN_1, ()): OracleValue(100.0), (at(2, 0), ()): OracleValue(0.0)}
    empty = run("count(ORDER where status = 'delivered') / count(ORDER where status = 'open')",
                {"ORDER": ORDERS[:3]}, bucket="day")
    assert empty[(JAN_1, ())] == OracleValue(None, DIVISION_BY_ZERO)
    assert empty[(at(2, 0), ())] == OracleValue(None, DIVISION_BY_ZERO)


def test_sums_of_nothing_have_no_data_and_nulls_are_skipped() -> None:
    values = run("sum(ORDER.order_value where status = 'open') + 1", {"ORDER": ORDERS})
    assert values == {(None, ()): OracleValue(None, NO_DATA)}
    average = run("avg(ORDER.order_value where region = 'south')", {"ORDER": ORDERS})
    assert average == {(None, ()): OracleValue(300.0)}
    counted = run("count(ORDER.order_value) + count_distinct(ORDER.order_value) * 10",
                  {"ORDER": ORDERS})
    assert counted == {(None, ()): OracleValue(4 + 3 * 10)}


def test_three_valued_logic() -> None:
    # order 5 has no value: `not (order_value > 10)` is unknown for it, so it is not counted.
    values = run("count(ORDER where not (order_value > 100)) + 10 * count(ORDER where "
                 "order_value not in (100) or region = 'south')", {"ORDER": ORDERS})
    assert values == {(None, ()): OracleValue(3 + 10 * 3)}


def test_group_by_and_period_days() -> None:
    values = run("sum(ORDER.order_value) / period_days()", {"ORDER": ORDERS},
                 group_by={"ORDER": "region"})
    assert values == {(None, ("north",)): OracleValue(250 / 2),
                      (None, ("south",)): OracleValue(300 / 2)}
    monthly = run("period_days() + 0 * count(ORDER)", {"ORDER": ORDERS}, bucket="month")
    assert monthly == {(JAN_1, ()): OracleValue(2.0)}


def test_durations_percentiles_and_abs() -> None:
    rows = {"ORDER": ORDERS}
    assert run("avg(duration_days(ORDER.created_at, ORDER.delivered_at) "
               "where status = 'delivered')", rows) == {(None, ()): OracleValue(3.0)}
    assert run("percentile(ORDER.order_value, 0.5)", rows) == {(None, ()): OracleValue(100.0)}
    assert run("percentile(ORDER.order_value, 0.75)", rows) == {(None, ()): OracleValue(150.0)}
    assert run("sum(abs(ORDER.order_value - 150))", rows) == {
        (None, ()): OracleValue(50 + 50 + 100 + 150)}
    assert run("min(ORDER.order_value) - max(ORDER.order_value)", rows) == {
        (None, ()): OracleValue(-250.0)}


def test_relationships_and_kpi_references() -> None:
    invoices = [
        {"invoice_id": "I1", "customer_id": "C1", "status": "paid", "amount": 100.0,
         "issue_date": datetime.date(2024, 12, 22), "due_date": datetime.date(2025, 1, 1)},
        {"invoice_id": "I2", "customer_id": "C1", "status": "paid", "amount": 300.0,
         "issue_date": datetime.date(2024, 12, 1), "due_date": datetime.date(2025, 1, 10)},
    ]
    payments = [
        {"payment_id": "P1", "invoice_id": "I1", "amount": 100.0, "method": "wire",
         "received_at": at(1, 0), "value_date": datetime.date(2025, 1, 1)},
        {"payment_id": "P2", "invoice_id": "I2", "amount": 300.0, "method": "ach",
         "received_at": at(2, 0), "value_date": datetime.date(2025, 1, 2)},
        {"payment_id": "P3", "invoice_id": "MISSING", "amount": 50.0, "method": "ach",
         "received_at": at(2, 6), "value_date": datetime.date(2025, 1, 2)},
    ]
    rows = {"PAYMENT": payments, "INVOICE": invoices}
    on_time = run("100 * sum(PAYMENT.amount where received_at <= invoice.due_date) "
                  "/ sum(PAYMENT.amount)", rows)
    assert on_time == {(None, ()): OracleValue(100 * 400 / 450)}
    # DSO: amount-weighted days from invoice to payment; P3's invoice is missing (null days).
    dso = run("kpi(FIN_DSO)", rows)
    assert dso == {(None, ()): OracleValue((100 * 10 + 300 * 32) / 450)}


def test_buckets_follow_the_time_zone() -> None:
    late = order(7, 1, "open", hour=23)  # Jan 2, 00:00 in Berlin
    values = run("count(ORDER)", {"ORDER": [late]}, bucket="day", time_zone="Europe/Berlin",
                 start=JAN_1 - datetime.timedelta(hours=1), end=JAN_3 - datetime.timedelta(hours=1))
    berlin = datetime.timezone(datetime.timedelta(hours=1))
    assert {label.astimezone(berlin).day: value.value  # type: ignore[union-attr]
            for (label, _), value in values.items()} == {1: 0.0, 2: 1.0}


@pytest.mark.parametrize("kpi", CATALOG.kpis, ids=lambda kpi: kpi.code)
def test_every_catalog_kpi_evaluates_without_rows(kpi: KpiDefinition) -> None:
    values = run(kpi.formula, {}, bucket="day")
    assert set(values) == {(JAN_1, ()), (at(2, 0), ())}
    # Without rows, counts are 0 and every other aggregate has no value.
    assert all(value.value is None or value.value == 0 for value in values.values())
    assert all(value.reason in (None, NO_DATA, DIVISION_BY_ZERO) for value in values.values())
