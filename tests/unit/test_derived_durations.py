"""Derived durations: declared in the catalog, carried by the contracts, rendered into a migration
that stores them and keeps their sums and counts in the rollups, and read by the SQL builder for
the total or average of the duration they stand for."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from scripts.object_model_tables import (
    DERIVED_DURATION_MIGRATIONS,
    derived_field_problems,
    render,
    render_durations,
    render_hour_rollups,
)
from services.catalog import messages
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, DerivedDuration, ObjectModel
from tests.unit.catalog_edits import problems_after_editing


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


@pytest.fixture(scope="module")
def models(catalog: Catalog) -> dict[str, ObjectModel]:
    return {model.code: model for model in catalog.object_models}


def test_the_catalog_declares_the_fulfillment_durations(models: dict[str, ObjectModel]) -> None:
    order = models["ORDER"]
    assert order.derived_duration_for("created_at", "delivered_at") == DerivedDuration(
        "fulfillment_seconds",
        "From order entry to delivery; absent until delivered.",
        "created_at",
        "delivered_at",
    )
    assert order.derived_duration_for("delivered_at", "created_at") is None
    assert models["SHIPMENT"].derived_duration_for("shipped_at", "delivered_at") is not None


def test_object_models_carry_their_durations_through_the_contract(
    models: dict[str, ObjectModel],
) -> None:
    message = messages.object_model(models["SHIPMENT"])
    (duration,) = message.derived_durations
    assert (duration.name, duration.expression, duration.start_field, duration.end_field) == (
        "transit_seconds", "seconds(shipped_at, delivered_at)", "shipped_at", "delivered_at")
    for model in models.values():
        assert messages.object_model_from_proto(messages.object_model(model)) == model


def problems_with(tmp_path: pathlib.Path, *durations: dict[str, str]) -> list[str]:
    def add(order: dict[str, Any]) -> None:
        order["derived_durations"] = [*order["derived_durations"], *durations]

    return problems_after_editing(tmp_path, "ORDER", add)


@pytest.mark.parametrize(
    ("name", "start", "end", "problem"),
    [
        ("lead", "created_at", "nope", "'nope' is not a field"),
        ("lead", "created_at", "created_at", "must be two timestamps or two dates"),
        ("lead", "order_value", "created_at", "must be two timestamps or two dates"),
        ("status", "created_at", "promised_at", "'status' is already a field"),
        ("delivered_on_time", "created_at", "promised_at", "already a field or derived field"),
        ("fulfillment_seconds", "created_at", "promised_at", "already a field"),
        ("row_count", "created_at", "promised_at", "a column the platform adds"),
        ("lead__time", "created_at", "promised_at", "without '__'"),
    ],
)
def test_a_broken_derived_duration_is_refused_naming_it(
    tmp_path: pathlib.Path, name: str, start: str, end: str, problem: str
) -> None:
    problems = problems_with(
        tmp_path, {"name": name, "start": start, "end": end, "description": "x"}
    )
    assert any(p.startswith("object_models/scor.yaml: object model ORDER: derived duration 2")
               and problem in p for p in problems), problems


def test_migrations_before_the_durations_do_not_know_them(catalog: Catalog) -> None:
    for earlier in (render(catalog.object_models), render_hour_rollups(catalog.object_models)):
        assert "fulfillment_seconds" not in earlier and "transit_seconds" not in earlier


def test_the_duration_migration_stores_them_and_sums_them_in_both_rollups(
    catalog: Catalog,
) -> None:
    sql = render_durations(catalog.object_models, 0)
    assert DERIVED_DURATION_MIGRATIONS[0][0] == "0014_derived_durations.sql"
    assert ('ADD COLUMN "fulfillment_seconds" numeric GENERATED ALWAYS AS '
            '(extract(epoch from ("delivered_at" - "created_at"))) STORED') in sql
    for table in ('"scor_data"."orders__minute"', '"scor_data"."orders__hour"'):
        assert f"ALTER TABLE {table}\n" in sql
        assert f"TRUNCATE {table};" in sql
    assert 'count(raw."fulfillment_seconds")' in sql
    assert 'sum("count__fulfillment_seconds")' in sql
    assert "ADD COLUMN derived_durations jsonb" in sql


def test_a_duration_outside_every_migration_is_reported(catalog: Catalog) -> None:
    order = next(m for m in catalog.object_models if m.code == "ORDER")
    extra = DerivedDuration("promise_seconds", "x", "created_at", "promised_at")
    changed = tuple(
        ObjectModel(**{**m.__dict__, "derived_durations": (*m.derived_durations, extra)})
        if m is order else m
        for m in catalog.object_models
    )
    assert derived_field_problems(changed) == [
        "ORDER.promise_seconds is in no entry of DERIVED_DURATION_MIGRATIONS: add an entry (a "
        "new migration) for it"
    ]


@pytest.mark.parametrize(
    ("duration", "problem"),
    [
        ({"start": "created_at", "end": "delivered_at", "weight": "status"},
         "weight 'status' must be a numeric field of the row"),
        ({"start": "created_at", "end": "delivered_at", "weight": "nope"},
         "weight 'nope' must be a numeric field"),
        ({"start": "created_at", "end": "customer.created_at"},
         "'customer.created_at' is not a field of a relationship that the row carries"),
    ],
)
def test_a_broken_weighted_duration_is_refused_naming_it(
    tmp_path: pathlib.Path, duration: dict[str, str], problem: str
) -> None:
    problems = problems_with(tmp_path, {"name": "odd", "description": "x", **duration})
    assert any("derived duration 2" in p and problem in p for p in problems), problems


def test_a_duration_between_copies_must_join_two_dates_or_two_timestamps(
    tmp_path: pathlib.Path,
) -> None:
    def add(lines: dict[str, Any]) -> None:
        lines["derived_durations"] = [{"name": "odd", "description": "x",
                                       "start": "order.status", "end": "created_at"}]

    problems = problems_after_editing(tmp_path, "ORDER_LINE", add)
    assert any("ORDER_LINE: derived duration 0" in p and "start order.status (string) and end "
               "created_at (timestamp) must be two timestamps or two dates" in p
               for p in problems), problems


def test_the_payments_weighted_durations_read_their_invoices_dates(
    models: dict[str, ObjectModel],
) -> None:
    payment = models["PAYMENT"]
    weighted = payment.derived_duration_for("invoice.issue_date", "value_date", "amount")
    assert weighted is not None and weighted.name == "amount_seconds_to_collect"
    assert weighted.expression == "amount * seconds(invoice.issue_date, value_date)"
    assert payment.derived_duration_for("invoice.issue_date", "value_date") is None
    invoice_date = payment.operand("invoice.issue_date")
    assert invoice_date is not None and invoice_date.type.value == "date"
