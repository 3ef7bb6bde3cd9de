"""The committed object-model migration is what the catalog renders to, and renders the layout the
data service writes."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.object_model_tables import (
    ADDED_FIELD_MIGRATIONS,
    CARRIED_FIELD_MIGRATIONS,
    TARGET,
    _added_columns,
    render,
    render_added_fields,
    render_carried,
    render_hour_rollups,
)
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Field, FieldType, ObjectModel

ROOT = Path(__file__).resolve().parents[2]


def test_committed_migration_is_fresh() -> None:
    result = subprocess.run([sys.executable, "scripts/object_model_tables.py", "--check"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_object_model_has_a_raw_table_and_a_minute_rollup() -> None:
    catalog = load_catalog_files()
    rendered = TARGET.read_text(encoding="utf-8")
    for model in catalog.object_models:
        assert f"'{model.schema_name}', '{model.table_name}'," in rendered
        assert f"'{model.schema_name}', '{model.table_name}__minute'," in rendered


def test_order_layout() -> None:
    catalog = load_catalog_files()
    order = catalog.object_model("ORDER")
    assert order is not None
    sql = render((order,))
    # Fields in declared order with their types; required ones NOT NULL.
    assert ('client_id text NOT NULL,\n        "order_id" text NOT NULL,\n'
            '        "customer_id" text NOT NULL,') in sql
    assert '"order_value" numeric NOT NULL' in sql
    assert '"shipped_at" timestamptz,' in sql
    assert '"delivered_in_full" boolean,' in sql
    assert ('ON "scor_data"."orders" (client_id, "order_id", "created_at");') in sql
    # Dimensions: strings with allowed values and booleans; free text (region) is not one.
    assert ('ON "scor_data"."orders__minute" (client_id, bucket, "channel", "status", '
            '"delivered_in_full", "delivered_damage_free", "documentation_accurate") '
            'NULLS NOT DISTINCT;') in sql
    assert '"sum__order_value" numeric NOT NULL DEFAULT 0' in sql
    assert '"region"' not in sql.split("orders__minute")[1]


def test_a_key_time_field_is_not_repeated_in_the_natural_key() -> None:
    snapshot = load_catalog_files().object_model("INVENTORY_SNAPSHOT")
    assert snapshot is not None
    sql = render((snapshot,))
    assert ('ON "scor_data"."inventory_snapshots" (client_id, "snapshot_date", "product_id", '
            '"location_id");') in sql


def test_migrations_before_an_added_field_do_not_know_it() -> None:
    models = load_catalog_files().object_models
    earlier = [render(models), render_hour_rollups(models),
               *(render_carried(models, entry) for entry in range(len(CARRIED_FIELD_MIGRATIONS)))]
    assert all("extended_list_price" not in sql for sql in earlier)


def test_the_added_field_migration_fills_old_rows_then_sums_the_field_in_both_rollups() -> None:
    sql = render_added_fields(load_catalog_files().object_models, 0)
    assert ADDED_FIELD_MIGRATIONS[0][0] == "0017_order_line_list_value.sql"
    backfill = sql.index('UPDATE "scor_data"."order_lines" AS adding')
    not_null = sql.index('ALTER COLUMN "extended_list_price" SET NOT NULL')
    assert sql.index('ADD COLUMN "extended_list_price" numeric;') < backfill < not_null
    for table in ('"scor_data"."order_lines__minute"', '"scor_data"."order_lines__hour"'):
        assert (f'ALTER TABLE {table}\n    ADD COLUMN "sum__extended_list_price" numeric NOT NULL '
                "DEFAULT 0;") in sql
        assert sql.index(f"TRUNCATE {table};") > not_null
    assert 'COALESCE(sum(raw."extended_list_price"), 0)' in sql


def _with_field(model: ObjectModel, field: Field, position: int | None = None) -> ObjectModel:
    fields = list(model.fields)
    fields.insert(len(fields) if position is None else position, field)
    return dataclasses.replace(model, fields=tuple(fields))


def test_a_required_added_field_needs_a_backfill() -> None:
    lines = load_catalog_files().object_model("ORDER_LINE")
    assert lines is not None
    unfilled = Field("tax", FieldType.DECIMAL, "x", required=True)
    with pytest.raises(SystemExit, match=r"ORDER_LINE\.tax is required: add its backfill"):
        _added_columns(_with_field(lines, unfilled), [unfilled])
    optional = Field("tax", FieldType.DECIMAL, "x")
    sql = _added_columns(_with_field(lines, optional), [optional])
    assert "SET NOT NULL" not in sql and 'ADD COLUMN "sum__tax" numeric' in sql


def test_an_added_field_must_be_declared_last() -> None:
    lines = load_catalog_files().object_model("ORDER_LINE")
    assert lines is not None
    early = Field("tax", FieldType.DECIMAL, "x")
    with pytest.raises(SystemExit, match="declare the added fields tax last"):
        _added_columns(_with_field(lines, early, position=2), [early])
