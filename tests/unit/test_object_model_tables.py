"""The committed object-model migration is what the catalog renders to, and renders the layout the
data service writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scripts.object_model_tables import TARGET, render
from services.catalog.catalog_files import load_catalog_files

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
