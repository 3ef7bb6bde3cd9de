"""Carried fields in the catalog: resolved into copies of the target's field specifications,
carried by the contracts, rendered into a migration, and refused with a named problem when a
declaration cannot be kept exact."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from scripts.object_model_tables import CARRIED_FIELD_MIGRATIONS, render, render_carried
from services.catalog import messages
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, FieldType
from services.data import tables
from tests.unit.catalog_edits import problems_after_editing


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


def test_order_lines_carry_their_orders_status(catalog: Catalog) -> None:
    lines = catalog.object_model("ORDER_LINE")
    assert lines is not None
    relationship = lines.relationship("order")
    assert relationship is not None
    (status,) = relationship.carried_fields
    assert status.name == "status" and status.type is FieldType.STRING
    assert "cancelled" in status.allowed_values
    assert not status.required and not status.key  # absent while the order is missing
    assert [field.name for field in tables.carried_fields(lines)] == ["order__status"]
    assert "order__status" in [field.name for field in tables.rollup_dimensions(lines)]
    message = messages.object_model(lines)
    assert [f.name for r in message.relationships for f in r.carried_fields] == ["status"]
    assert messages.object_model_from_proto(message) == lines


def test_the_migration_fills_indexes_and_rekeys(catalog: Catalog) -> None:
    assert CARRIED_FIELD_MIGRATIONS[0][0] == "0015_carried_fields.sql"
    sql = render_carried(catalog.object_models, 0)
    assert 'ADD COLUMN "order__status" text;' in sql
    assert ('UPDATE "scor_data"."order_lines" AS copying '
            'SET "order__status" = related."status"') in sql
    assert ('CREATE INDEX "order_lines_waiting_for_order" ON "scor_data"."order_lines" '
            '(client_id, "order_id") WHERE "order__status" IS NULL;') in sql
    assert 'CREATE UNIQUE INDEX "order_lines__hour_group"' in sql
    assert "order__status" not in render(catalog.object_models)


def problems_with(tmp_path: pathlib.Path, model_code: str, relationship: str,
                  **changes: Any) -> list[str]:
    def change(model: dict[str, Any]) -> None:
        next(r for r in model["relationships"] if r["name"] == relationship).update(changes)

    return problems_after_editing(tmp_path, model_code, change)


@pytest.mark.parametrize(
    ("model", "relationship", "carried", "problem"),
    [
        ("ORDER_LINE", "order", ["nope"], "carried field 'nope' is not a field of ORDER"),
        ("ORDER", "lines", ["quantity"], "carried_fields are for many_to_one relationships"),
        # Order lines carry from ORDER: ORDER carrying from CUSTOMER would make it two deep.
        ("ORDER", "customer", ["segment"], "ORDER carries fields itself"),
    ],
)
def test_a_carried_field_that_cannot_be_kept_exact_is_refused(
    tmp_path: pathlib.Path, model: str, relationship: str, carried: list[str], problem: str
) -> None:
    problems = problems_with(tmp_path, model, relationship, carried_fields=carried)
    assert any(problem in p for p in problems), problems
