"""Render the tables of every catalog object model into sql/0005_object_model_tables.sql, and
the derived fields added since into their own migrations.

Per object model: the raw table `{schema}.{table}` (client_id, then one column per field in declared
order) and its per-minute rollup `{schema}.{table}__minute`, both time-series tables made by
`public.create_time_series_table`. The layout itself (names, types, dimensions, sums) is defined
once in services.data.tables, which ingest also writes through, so DDL and DML cannot disagree.

Derived fields (booleans computed from two fields of a row) came after 0005 had been applied to
databases holding client data, so 0005 renders the object models without them, and each entry of
DERIVED_FIELD_MIGRATIONS renders the migration that adds its derived fields: a generated column
of the raw table, a grouping column of the rollup (whose unique key therefore changes) and the
rollup summarised again from the raw rows. A derived field declared in the catalog but in no
entry fails the check: it needs a new entry (and so a new migration), never an edited one.

`--check` renders into memory and fails when a committed migration differs (the test suite runs
it). The runner refuses an applied migration whose text changed, so a catalog change to a
released model needs a new migration.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import (
    DerivedDuration,
    Field,
    ObjectModel,
    Relationship,
    carried_column,
)
from services.data.carried_copies import waiting_index_condition
from services.data.tables import (
    COUNT_PREFIX,
    RESERVED_COLUMNS,
    SQL_TYPES,
    SUM_PREFIX,
    bucket_sql,
    carried_fields,
    count_column,
    derived_value,
    duration_fields,
    duration_value,
    hour_of,
    hour_rollup_table,
    hour_rollup_table_name,
    natural_key,
    quote,
    raw_table,
    rollup_dimensions,
    rollup_sums,
    rollup_table,
    rollup_table_name,
    sum_column,
)

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "sql" / "0005_object_model_tables.sql"
# The migrations that added derived fields, in order, each with the fields it added
# ("MODEL.field"). A new derived field goes into a new entry with the next free migration number.
DERIVED_FIELD_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "0012_derived_field_columns.sql",
        (
            "ORDER.delivered_on_time",
            "INVENTORY_SNAPSHOT.below_safety_stock",
            "PURCHASE_ORDER.received_on_time",
            "WORK_ORDER.completed_on_time",
            "AP_INVOICE.paid_on_time",
        ),
    ),
    ("0016_derived_field_short_shipped.sql", ("ORDER_LINE.short_shipped",)),
    ("0020_payment_collected_on_time.sql", ("PAYMENT.collected_on_time",)),
)
# The migration that added the per-hour rollups (summed from the minute rollups it found).
HOUR_ROLLUP_MIGRATION = "0013_hour_rollups.sql"
# The migrations that added derived durations, in order, each with the durations it added
# ("MODEL.name"). A new derived duration goes into a new entry with the next free number.
DERIVED_DURATION_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "0014_derived_durations.sql",
        (
            "ORDER.fulfillment_seconds",
            "ORDER.order_to_ship_seconds",
            "SHIPMENT.transit_seconds",
        ),
    ),
    (
        "0021_payment_weighted_collection.sql",
        ("PAYMENT.amount_seconds_to_collect", "PAYMENT.amount_seconds_past_due"),
    ),
)
# The migrations that added carried fields ("MODEL.relationship.field"), in order. A new carried
# field goes into a new entry with the next free number.
CARRIED_FIELD_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0015_carried_fields.sql", ("ORDER_LINE.order.status",)),
    ("0019_payment_invoice_dates.sql", ("PAYMENT.invoice.issue_date", "PAYMENT.invoice.due_date")),
)
# The migrations that added fields to object models already released ("MODEL.field"), in order.
# A new field of a released model goes into a new entry with the next free number, and is
# declared last in its model (the column is appended to the table).
ADDED_FIELD_MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0017_order_line_list_value.sql", ("ORDER_LINE.extended_list_price",)),
    ("0018_payment_value_date.sql", ("PAYMENT.value_date",)),
)
# How the rows already stored get a value for an added field: an UPDATE of the raw table (alias
# `adding`). A required field needs one, since its column is NOT NULL from then on; an optional
# field without one stays NULL on older rows.
ADDED_FIELD_BACKFILLS: dict[str, str] = {
    # The lines stored before the field existed are valued at the product's current list price,
    # the best record left of the price they were sold against; a line of an unknown product
    # counts as sold at list (no discount), not as missing.
    "ORDER_LINE.extended_list_price": """\
UPDATE "scor_data"."order_lines" AS adding
SET "extended_list_price" = COALESCE(adding."quantity" * (
    SELECT product."list_price" FROM "scor_data"."products" AS product
    WHERE product.client_id = adding.client_id AND product."product_id" = adding."product_id"
    ORDER BY product."created_at" DESC LIMIT 1), adding."extended_price");""",
    # The day the money arrived, in UTC: the platform's zone for days it has to name alone.
    "PAYMENT.value_date": """\
UPDATE "financial_data"."payments" AS adding
SET "value_date" = (adding."received_at" AT TIME ZONE 'UTC')::date;""",
}
_MAX_IDENTIFIER = 63

HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's object models; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model:
--   {schema}.{table}          client_id, then one column per field in declared order; unique on
--                              the natural key (client_id, key fields, time field) so a re-sent
--                              row replaces instead of duplicating; indexed on (client_id, time).
--   {schema}.{table}__minute  per-minute (UTC) rollup kept current in the ingest transaction:
--                              per client, minute and dimension values (booleans and strings with
--                              allowed values), row_count and sum__{field} of every numeric field.
--
-- Only additive measures live in rollups: COUNT, SUM and AVG (= sum / count) of numeric fields.
-- MIN, MAX, COUNT_DISTINCT, percentiles, durations between timestamps, fields reached through
-- relationships, and filters on non-dimension fields cannot be combined from per-minute partial
-- results, so those are computed from the raw tables. Sums are NOT NULL (an all-NULL group sums
-- to 0), and no per-field non-null count is kept: COUNT/AVG of a nullable numeric field must read
-- the raw table.
"""


DERIVED_HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's derived fields; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model, its derived fields (booleans computed from two fields of a row):
--   - a generated column of the raw table (STORED, so it is computed once, when a row is written;
--     NULL when either field is NULL, exactly like the comparison it stands for);
--   - a grouping column of the per-minute rollup, like every boolean field: the rollup's unique
--     key gains it, so the rollup is summarised again from the raw rows under the new key.
-- A formula comparing the two fields as declared (or mirrored) is then read from the rollup.
"""


HOUR_HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's object models; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model, its per-hour (UTC) rollup {schema}.{table}__hour: the columns and key of the
-- per-minute rollup, each row the sum of the minute rows of its hour and dimension values, kept
-- so in the ingest transaction from then on. A read whose buckets and range are whole UTC hours
-- (days, weeks and months in a zone offset from UTC by whole hours) reads it instead of the
-- minutes: a year of orders per day reads 95k rows instead of 876k. Each is analysed once
-- filled, so the first reads are planned from its real size.
"""


DURATION_HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's derived durations; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model, its derived durations (seconds from one time field of a row to another):
--   - a generated numeric column of the raw table (STORED: computed once, when a row is written;
--     NULL when either field is NULL, like the duration it stands for);
--   - in the minute and hour rollups, sum__{name} and count__{name} (the rows that have one),
--     filled again from the raw rows, so the total and average of the duration are read from them.
"""


def render(models: tuple[ObjectModel, ...]) -> str:
    """0005: the tables as they were before derived fields existed."""
    return HEADER + "".join(
        "\n" + _model_tables(_as_of(model, TARGET.name)) for model in models
    )


def _as_of(model: ObjectModel, migration: str) -> ObjectModel:
    """The model as migration `migration` leaves it: with the derived fields and durations of
    the entries up to and including it."""

    def added(entries: tuple[tuple[str, tuple[str, ...]], ...]) -> set[str]:
        return {name for file_name, names in entries if file_name <= migration for name in names}

    fields, durations = added(DERIVED_FIELD_MIGRATIONS), added(DERIVED_DURATION_MIGRATIONS)
    carried = added(CARRIED_FIELD_MIGRATIONS)
    later_fields = {
        name for file_name, names in ADDED_FIELD_MIGRATIONS if file_name > migration
        for name in names
    }
    return dataclasses.replace(
        model,
        fields=tuple(f for f in model.fields if f"{model.code}.{f.name}" not in later_fields),
        relationships=tuple(
            dataclasses.replace(
                rel,
                carried_fields=tuple(
                    f for f in rel.carried_fields
                    if f"{model.code}.{rel.name}.{f.name}" in carried
                ),
            )
            for rel in model.relationships
        ),
        derived_fields=tuple(
            d for d in model.derived_fields if f"{model.code}.{d.name}" in fields
        ),
        derived_durations=tuple(
            d for d in model.derived_durations if f"{model.code}.{d.name}" in durations
        ),
    )


def render_derived(models: tuple[ObjectModel, ...], entry: int) -> str:
    """The migration of DERIVED_FIELD_MIGRATIONS[entry]."""
    file_name, names = DERIVED_FIELD_MIGRATIONS[entry]
    added = set(names)
    parts = [DERIVED_HEADER]
    for model in models:
        new = [d for d in model.derived_fields if f"{model.code}.{d.name}" in added]
        if not new:
            continue
        # Migrations after the hour rollups' add the new columns to them too.
        with_hours = file_name > HOUR_ROLLUP_MIGRATION
        parts.append("\n" + _derived_columns(
            _as_of(model, file_name), tuple(d.name for d in new), with_hours))
    return "".join(parts)


def render_durations(models: tuple[ObjectModel, ...], entry: int) -> str:
    """The migration of DERIVED_DURATION_MIGRATIONS[entry]; the first also makes the catalog's
    table of object models keep them."""
    file_name, names = DERIVED_DURATION_MIGRATIONS[entry]
    parts = [DURATION_HEADER]
    if entry == 0:
        parts.append("\nALTER TABLE catalog.object_models\n"
                     "    ADD COLUMN derived_durations jsonb NOT NULL DEFAULT '[]'::jsonb;\n")
    for model in models:
        new = [d for d in model.derived_durations if f"{model.code}.{d.name}" in names]
        if new:
            parts.append("\n" + _duration_columns(_as_of(model, file_name), new))
    return "".join(parts)


def _duration_columns(model: ObjectModel, added: list[DerivedDuration]) -> str:
    raw, minutes, hours = raw_table(model), rollup_table(model), hour_rollup_table(model)
    generated = ",\n    ".join(
        f"ADD COLUMN {quote(d.name)} numeric GENERATED ALWAYS AS "
        f"({duration_value(model, d, quote)}) STORED"
        for d in added
    )
    comments = "".join(
        f"COMMENT ON COLUMN {raw}.{quote(d.name)} IS "
        f"{_literal(f'{d.name} := {d.expression}: {d.description}')};\n"
        for d in added
    )
    summed = ",\n    ".join(
        f"ADD COLUMN {quote(SUM_PREFIX + d.name)} numeric NOT NULL DEFAULT 0,\n"
        f"    ADD COLUMN {quote(COUNT_PREFIX + d.name)} bigint NOT NULL DEFAULT 0"
        for d in added
    )
    return f"""\
-- {model.code}: {", ".join(f"{d.name} := {d.expression}" for d in added)}.
ALTER TABLE {raw}
    {generated};
{comments}ALTER TABLE {minutes}
    {summed};
ALTER TABLE {hours}
    {summed};
TRUNCATE {minutes};
{_minutes_from_raw(model)}
TRUNCATE {hours};
{_hours_from_minutes(model)}
ANALYZE {minutes}, {hours};
"""


CARRIED_HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's carried fields; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model, the fields of related rows it keeps a copy of (relationship__field):
--   - a column of the raw table, filled from the related rows, and an index finding the rows of
--     one related row (ingest moves their copies when the related row's fields change);
--   - a grouping column of the minute and hour rollups for the kinds of fields they group by,
--     so the rollups are keyed again and summarised again from the raw rows.
"""


def render_carried(models: tuple[ObjectModel, ...], entry: int) -> str:
    """The migration of CARRIED_FIELD_MIGRATIONS[entry]."""
    file_name, names = CARRIED_FIELD_MIGRATIONS[entry]
    by_code = {model.code: model for model in models}
    parts = [CARRIED_HEADER]
    for model in models:
        present = _as_of(model, file_name)
        new = [
            (rel, field)
            for rel in present.relationships
            for field in rel.carried_fields
            if f"{model.code}.{rel.name}.{field.name}" in names
        ]
        if new:
            parts.append("\n" + _carried_columns(present, new, by_code))
    return "".join(parts)


def _carried_columns(
    model: ObjectModel,
    added: list[tuple[Relationship, Field]],
    models: dict[str, ObjectModel],
) -> str:
    raw, minutes = raw_table(model), rollup_table(model)
    columns = ",\n    ".join(
        f"ADD COLUMN {quote(carried_column(rel, field))} {SQL_TYPES[field.type]}"
        for rel, field in added
    )
    comments = "".join(
        f"COMMENT ON COLUMN {raw}.{quote(carried_column(rel, field))} IS "
        f"{_literal(f'Copy of {rel.name}.{field.name}: {field.description}')};\n"
        for rel, field in added
    )
    statements = [f"-- {model.code}: {', '.join(carried_column(r, f) for r, f in added)}.",
                  f"ALTER TABLE {raw}\n    {columns};", comments.rstrip("\n")]
    for rel in {rel.name: rel for rel, _ in added}.values():
        target = models[rel.target_object_model_code]
        index = quote(f"{model.table_name}_by_{rel.source_field}")
        copied = [field for r, field in added if r.name == rel.name]
        statements += [
            f"UPDATE {raw} AS copying SET "
            + ", ".join(f"{quote(carried_column(rel, f))} = related.{quote(f.name)}"
                        for f in copied)
            + f"\nFROM {raw_table(target)} AS related\nWHERE related.client_id = copying.client_id"
            f" AND related.{quote(rel.target_field)} = copying.{quote(rel.source_field)};",
            # The rows of one related row, whose copies move when its fields change.
            f"CREATE INDEX {index} ON {raw} (client_id, {quote(rel.source_field)});",
            # The rows still waiting for their related row: tells cheaply whether any is.
            f"CREATE INDEX {quote(f'{model.table_name}_waiting_for_{rel.name}')} ON {raw}"
            f" (client_id, {quote(rel.source_field)}) WHERE {waiting_index_condition(rel)};",
        ]
    grouping = ",\n    ".join(
        f"ADD COLUMN {quote(carried_column(rel, field))} {SQL_TYPES[field.type]}"
        for rel, field in added
        if any(d.name == carried_column(rel, field) for d in rollup_dimensions(model))
    )
    if grouping:
        index = quote(rollup_table_name(model) + "_group")
        statements += [
            f"ALTER TABLE {minutes}\n    {grouping};",
            f"DROP INDEX {quote(model.schema_name)}.{index};",
            f"TRUNCATE {minutes};",
            _minutes_from_raw(model),
            f"CREATE UNIQUE INDEX {index} ON {minutes} ({_group_key(model)}) NULLS NOT DISTINCT;",
            _hours_again(model, grouping).rstrip("\n"),
        ]
    statements.append(f"ANALYZE {raw}, {minutes};")
    return "\n".join(part for part in statements if part) + "\n"


ADDED_FIELD_HEADER = """\
-- GENERATED by scripts/object_model_tables.py from the catalog's object models; do not edit.
-- Regenerate with `.venv/bin/python scripts/object_model_tables.py`.
--
-- Per object model, the fields it gained after its tables held client data:
--   - a column appended to the raw table, given a value on the rows already stored (see
--     ADDED_FIELD_BACKFILLS in the script), and NOT NULL from then on when the field is required;
--   - for a numeric field, its sum__ column in the minute and hour rollups, which are summarised
--     again from the raw rows.
"""


def render_added_fields(models: tuple[ObjectModel, ...], entry: int) -> str:
    """The migration of ADDED_FIELD_MIGRATIONS[entry]."""
    file_name, names = ADDED_FIELD_MIGRATIONS[entry]
    parts = [ADDED_FIELD_HEADER]
    for model in models:
        present = _as_of(model, file_name)
        new = [f for f in present.fields if f"{model.code}.{f.name}" in names]
        if new:
            parts.append("\n" + _added_columns(present, new))
    return "".join(parts)


def _added_columns(model: ObjectModel, added: list[Field]) -> str:
    raw, minutes, hours = raw_table(model), rollup_table(model), hour_rollup_table(model)
    if model.fields[-len(added):] != tuple(added):
        raise SystemExit(f"{model.code}: declare the added fields "
                         f"{', '.join(f.name for f in added)} last (their columns are appended)")
    statements = [
        f"-- {model.code}: {', '.join(f.name for f in added)}.",
        f"ALTER TABLE {raw}\n    "
        + ",\n    ".join(f"ADD COLUMN {quote(f.name)} {SQL_TYPES[f.type]}" for f in added) + ";",
        *(f"COMMENT ON COLUMN {raw}.{quote(f.name)} IS {_literal(f.description)};"
          for f in added),
    ]
    for field in added:
        backfill = ADDED_FIELD_BACKFILLS.get(f"{model.code}.{field.name}")
        if field.required and backfill is None:
            raise SystemExit(f"{model.code}.{field.name} is required: add its backfill to "
                             "ADDED_FIELD_BACKFILLS")
        if backfill is not None:
            statements.append(backfill)
        if field.required:
            statements.append(f"ALTER TABLE {raw} ALTER COLUMN {quote(field.name)} SET NOT NULL;")
    summed = [f for f in added if f in rollup_sums(model)]
    if summed:
        columns = ",\n    ".join(
            f"ADD COLUMN {quote(sum_column(f))} numeric NOT NULL DEFAULT 0" for f in summed
        )
        statements += [
            f"ALTER TABLE {minutes}\n    {columns};",
            f"ALTER TABLE {hours}\n    {columns};",
            f"TRUNCATE {minutes};",
            _minutes_from_raw(model),
            f"TRUNCATE {hours};",
            _hours_from_minutes(model),
        ]
    statements.append(f"ANALYZE {raw}, {minutes}, {hours};")
    return "\n".join(statements) + "\n"


def _summed_columns(model: ObjectModel) -> list[tuple[str, str, str]]:
    """The rollups' summed columns: (column, its SQL type, its aggregate over raw rows)."""
    return [
        *((quote(sum_column(field)), "numeric", f"COALESCE(sum(raw.{quote(field.name)}), 0)")
          for field in rollup_sums(model)),
        *((quote(sum_column(field)), "numeric", f"COALESCE(sum(raw.{quote(field.name)}), 0)")
          for field in duration_fields(model)),
        *((quote(count_column(field)), "bigint", f"count(raw.{quote(field.name)})")
          for field in duration_fields(model)),
    ]


def _minutes_from_raw(model: ObjectModel) -> str:
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    summed = _summed_columns(model)
    summarised = ", ".join(
        ["client_id", "bucket", *dimensions, "row_count", *(c for c, _, _ in summed)]
    )
    summary = ", ".join(
        [
            "raw.client_id",
            bucket_sql(model, "raw"),
            *(f"raw.{name}" for name in dimensions),
            "count(*)",
            *(aggregate for _, _, aggregate in summed),
        ]
    )
    positions = ", ".join(str(position) for position in range(1, 3 + len(dimensions)))
    return f"""\
INSERT INTO {rollup_table(model)} ({summarised})
SELECT {summary}
FROM {raw_table(model)} AS raw
GROUP BY {positions};"""


def render_hour_rollups(models: tuple[ObjectModel, ...]) -> str:
    """The migration adding the hour rollups, with the derived fields of the entries before it."""
    parts = [HOUR_HEADER]
    for model in models:
        parts.append("\n" + _hour_rollup(_as_of(model, HOUR_ROLLUP_MIGRATION)))
    return "".join(parts)


def derived_field_problems(models: tuple[ObjectModel, ...]) -> list[str]:
    """Derived fields in no migration entry or in several, and entries naming no such field."""
    declared = {f"{m.code}.{d.name}" for m in models for d in m.derived_fields}
    listed = [name for _, names in DERIVED_FIELD_MIGRATIONS for name in names]
    problems = [f"{name} is in no entry of DERIVED_FIELD_MIGRATIONS: add an entry (a new "
                "migration) for it" for name in sorted(declared - set(listed))]
    problems += [f"{name} is listed in DERIVED_FIELD_MIGRATIONS but not declared in the catalog"
                 for name in sorted(set(listed) - declared)]
    problems += [f"{name} is listed in DERIVED_FIELD_MIGRATIONS more than once"
                 for name in sorted({n for n in listed if listed.count(n) > 1})]
    declared = {f"{m.code}.{d.name}" for m in models for d in m.derived_durations}
    listed = [name for _, names in DERIVED_DURATION_MIGRATIONS for name in names]
    problems += [f"{name} is in no entry of DERIVED_DURATION_MIGRATIONS: add an entry (a new "
                 "migration) for it" for name in sorted(declared - set(listed))]
    problems += [f"{name} is listed in DERIVED_DURATION_MIGRATIONS but not declared in the "
                 "catalog" for name in sorted(set(listed) - declared)]
    problems += [f"{name} is listed in DERIVED_DURATION_MIGRATIONS more than once"
                 for name in sorted({n for n in listed if listed.count(n) > 1})]
    return problems


def _derived_columns(model: ObjectModel, added: tuple[str, ...], with_hours: bool) -> str:
    raw, rollup = raw_table(model), rollup_table(model)
    derived = [d for d in model.derived_fields if d.name in added]
    generated = ",\n    ".join(
        f"ADD COLUMN {quote(d.name)} boolean GENERATED ALWAYS AS {derived_value(d, quote)} STORED"
        for d in derived
    )
    comments = "".join(
        f"COMMENT ON COLUMN {raw}.{quote(d.name)} IS "
        f"{_literal(f'{d.name} := {d.expression}: {d.description}')};\n"
        for d in derived
    )
    grouping = ",\n    ".join(f"ADD COLUMN {quote(d.name)} boolean" for d in derived)
    group = _group_key(model)
    index = quote(rollup_table_name(model) + "_group")
    return f"""\
-- {model.code}: {", ".join(f"{d.name} := {d.expression}" for d in derived)}.
ALTER TABLE {raw}
    {generated};
{comments}ALTER TABLE {rollup}
    {grouping};
DROP INDEX {quote(model.schema_name)}.{index};
TRUNCATE {rollup};
{_minutes_from_raw(model)}
CREATE UNIQUE INDEX {index} ON {rollup} ({group}) NULLS NOT DISTINCT;
{_hours_again(model, grouping) if with_hours else ""}"""


def _hours_again(model: ObjectModel, grouping: str) -> str:
    """The hour rollup gaining the rollup's new grouping columns, summed again from the minutes."""
    hours = hour_rollup_table(model)
    index = quote(hour_rollup_table_name(model) + "_group")
    return f"""\
ALTER TABLE {hours}
    {grouping};
DROP INDEX {quote(model.schema_name)}.{index};
TRUNCATE {hours};
{_hours_from_minutes(model)}
CREATE UNIQUE INDEX {index} ON {hours} ({_group_key(model)}) NULLS NOT DISTINCT;
ANALYZE {hours};
"""


def _group_key(model: ObjectModel) -> str:
    return ", ".join(
        ["client_id", "bucket", *(quote(field.name) for field in rollup_dimensions(model))]
    )


def _hours_from_minutes(model: ObjectModel) -> str:
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    sums = [column for column, _, _ in _summed_columns(model)]
    summarised = ", ".join(["client_id", "bucket", *dimensions, "row_count", *sums])
    summary = ", ".join(
        ["client_id", hour_of("bucket"), *dimensions, "sum(row_count)",
         *(f"sum({name})" for name in sums)]
    )
    positions = ", ".join(str(position) for position in range(1, 3 + len(dimensions)))
    return f"""\
INSERT INTO {hour_rollup_table(model)} ({summarised})
SELECT {summary}
FROM {rollup_table(model)}
GROUP BY {positions};"""


def _hour_rollup(model: ObjectModel) -> str:
    _check_names(model)
    schema, hours = model.schema_name, hour_rollup_table_name(model)
    table, index = hour_rollup_table(model), quote(hours + "_group")
    comment = _literal(f"{model.code} per hour (UTC): the sums of its per-minute rollup's rows")
    return f"""\
-- {model.code}.
SELECT public.create_time_series_table(
    {_literal(schema)}, {_literal(hours)},
    $columns$
        {_column_list(_rollup_columns(model))}
    $columns$,
    'bucket'
);
{_hours_from_minutes(model)}
CREATE UNIQUE INDEX {index} ON {table} ({_group_key(model)}) NULLS NOT DISTINCT;
ANALYZE {table};
COMMENT ON TABLE {table} IS {comment};
"""


def _rollup_columns(model: ObjectModel) -> list[str]:
    return [
        "client_id text NOT NULL",
        "bucket timestamptz NOT NULL",
        *(f"{quote(field.name)} {SQL_TYPES[field.type]}" for field in rollup_dimensions(model)),
        "row_count bigint NOT NULL",
        *(f"{column} {kind} NOT NULL DEFAULT 0" for column, kind, _ in _summed_columns(model)),
    ]


def _model_tables(model: ObjectModel) -> str:
    _check_names(model)
    schema, table = model.schema_name, model.table_name
    rollup = rollup_table_name(model)
    columns = ["client_id text NOT NULL"] + [
        f"{quote(field.name)} {SQL_TYPES[field.type]}" + (" NOT NULL" if field.required else "")
        for field in model.fields
    ]
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    rollup_columns = _rollup_columns(model)
    key = ", ".join(["client_id", *(quote(name) for name in natural_key(model))])
    group = ", ".join(["client_id", "bucket", *dimensions])
    qualified = f"{quote(schema)}.{quote(table)}"
    qualified_rollup = f"{quote(schema)}.{quote(rollup)}"
    return f"""\
-- {model.code} ({model.name}), placed in time by {model.time_field}.
SELECT public.create_time_series_table(
    {_literal(schema)}, {_literal(table)},
    $columns$
        {_column_list(columns)}
    $columns$,
    {_literal(model.time_field)}
);
CREATE UNIQUE INDEX {quote(table + "_natural_key")} ON {qualified} ({key});
CREATE INDEX {quote(table + "_client_time")} ON {qualified} (client_id, {quote(model.time_field)});
COMMENT ON TABLE {qualified} IS {_literal(f"{model.code}: {model.description}")};

SELECT public.create_time_series_table(
    {_literal(schema)}, {_literal(rollup)},
    $columns$
        {_column_list(rollup_columns)}
    $columns$,
    'bucket'
);
CREATE UNIQUE INDEX {quote(rollup + "_group")} ON {qualified_rollup} ({group}) NULLS NOT DISTINCT;
COMMENT ON TABLE {qualified_rollup} IS {_literal(f"{model.code} per minute (UTC): row_count and "
                                                  "sums of numeric fields per dimension values")};
"""


def _column_list(columns: list[str]) -> str:
    return ",\n        ".join(columns)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_names(model: ObjectModel) -> None:
    names = (
        {field.name for field in model.fields}
        | {d.name for d in model.derived_fields}
        | {d.name for d in model.derived_durations}
        | {field.name for field in carried_fields(model)}
    )
    clashes = sorted(RESERVED_COLUMNS & names)
    if clashes:
        raise SystemExit(f"{model.code}: fields may not be named {', '.join(clashes)} "
                         "(columns the platform adds)")
    index_names = (
        rollup_table_name(model) + "_group",
        hour_rollup_table_name(model) + "_group",
        model.table_name + "_natural_key",
    )
    if any(len(name) > _MAX_IDENTIFIER for name in index_names):
        raise SystemExit(f"{model.code}: table name {model.table_name!r} is too long for the "
                         f"index names derived from it ({_MAX_IDENTIFIER} characters)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when the migration is stale")
    arguments = parser.parse_args(argv)
    models = load_catalog_files().object_models
    problems = derived_field_problems(models)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    rendered = {TARGET: render(models)} | {
        ROOT / "sql" / file_name: render_derived(models, entry)
        for entry, (file_name, _) in enumerate(DERIVED_FIELD_MIGRATIONS)
    } | {ROOT / "sql" / HOUR_ROLLUP_MIGRATION: render_hour_rollups(models)} | {
        ROOT / "sql" / file_name: render_durations(models, entry)
        for entry, (file_name, _) in enumerate(DERIVED_DURATION_MIGRATIONS)
    } | {
        ROOT / "sql" / file_name: render_carried(models, entry)
        for entry, (file_name, _) in enumerate(CARRIED_FIELD_MIGRATIONS)
    } | {
        ROOT / "sql" / file_name: render_added_fields(models, entry)
        for entry, (file_name, _) in enumerate(ADDED_FIELD_MIGRATIONS)
    }
    if arguments.check:
        stale = [
            path for path, text in rendered.items()
            if (path.read_text(encoding="utf-8") if path.exists() else "") != text
        ]
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run "
                  "`.venv/bin/python scripts/object_model_tables.py`", file=sys.stderr)
        if stale:
            return 1
        print(", ".join(str(path.relative_to(ROOT)) for path in rendered) + " are up to date")
        return 0
    for path, text in rendered.items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
