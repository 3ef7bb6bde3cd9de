"""The tables of client data in PostgreSQL: names, natural keys, the per-minute rollup's
dimensions and sums, and the SQL of a row's minute bucket.

Layout (rendered into migrations by scripts/object_model_tables.py, written by
services.data.store):
- `{schema}.{table}`: `client_id`, then one column per field in declared order, unique on the
  natural key (client_id, key fields, time field); then one generated column per derived field
  (a comparison of two fields, computed by the database: never sent, never written here).
- `{schema}.{table}__hour`: the same per hour (UTC), summed from the minutes in the same
  transaction; year-long reads per day or month read 60 times fewer rows from it (a year of
  orders: 95k hour groups against 876k minute groups).
- `{schema}.{table}__minute`: per client, minute (UTC) and dimension values, `row_count` and
  `sum__{field}` of every numeric field. Only additive measures live there: COUNT, SUM and AVG
  (sum / count) of a numeric field can be answered from it; MIN, MAX, COUNT_DISTINCT,
  percentiles, durations between timestamps and anything reached through a relationship cannot be
  rolled up additively and are computed from the raw table. Sums are kept NOT NULL (a group whose
  values are all NULL sums to 0, where SQL's SUM over raw rows gives NULL), and no per-field
  non-null count is kept, so COUNT(field) and AVG(field) of a NULLABLE numeric field cannot be
  served from the rollup either (today every numeric field of the catalog is required). Derived
  durations (seconds between two time fields of a row, absent when either is) are the exception:
  the rollups keep `sum__{name}` and `count__{name}`, the rows that have one, so their SUM and
  AVG are exact from sums.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import (
    Callable,
    Mapping,
)

from services.catalog.domain import (
    DerivedDuration,
    DerivedField,
    Field,
    FieldType,
    ObjectModel,
    carried_column,
    operand_column,
)

SQL_TYPES: Mapping[FieldType, str] = {
    FieldType.STRING: "text",
    FieldType.INTEGER: "bigint",
    FieldType.DECIMAL: "numeric",
    FieldType.BOOLEAN: "boolean",
    FieldType.TIMESTAMP: "timestamptz",
    FieldType.DATE: "date",
}
ROLLUP_SUFFIX = "__minute"
HOUR_ROLLUP_SUFFIX = "__hour"
SUM_PREFIX = "sum__"
# Rollup columns counting the rows that have a value (derived durations, which may be absent).
COUNT_PREFIX = "count__"
# Columns of the raw and rollup tables that are not fields; no field may take these names.
RESERVED_COLUMNS = frozenset({"client_id", "bucket", "row_count"})

_UTC = datetime.UTC
_MINUTE = datetime.timedelta(minutes=1)
_DAY = datetime.timedelta(days=1)


def quote(identifier: str) -> str:
    """An SQL identifier, always quoted: field names such as `order` or `end` stay legal."""
    return '"' + identifier.replace('"', '""') + '"'


def raw_table(model: ObjectModel) -> str:
    return f"{quote(model.schema_name)}.{quote(model.table_name)}"


def rollup_table_name(model: ObjectModel) -> str:
    return model.table_name + ROLLUP_SUFFIX


def rollup_table(model: ObjectModel) -> str:
    return f"{quote(model.schema_name)}.{quote(rollup_table_name(model))}"


def hour_rollup_table_name(model: ObjectModel) -> str:
    return model.table_name + HOUR_ROLLUP_SUFFIX


def hour_rollup_table(model: ObjectModel) -> str:
    return f"{quote(model.schema_name)}.{quote(hour_rollup_table_name(model))}"


def natural_key(model: ObjectModel) -> tuple[str, ...]:
    """Key fields, then the time field (a partitioned table's unique index must hold it)."""
    keys = tuple(field.name for field in model.fields if field.key)
    return keys if model.time_field in keys else (*keys, model.time_field)


def rollup_dimensions(model: ObjectModel) -> tuple[Field, ...]:
    """Fields a rollup groups by: booleans and strings with a closed set of values (few distinct
    values, so a minute holds few groups); free text would make the rollup as large as the data.
    Then the derived fields, booleans too (a generated column of the raw table each), and the
    carried fields of those kinds (a column each, named by carried_column)."""
    return (
        tuple(field for field in model.fields if _groups_well(field))
        + tuple(Field(d.name, FieldType.BOOLEAN, d.description) for d in model.derived_fields)
        + tuple(column for column in carried_fields(model) if _groups_well(column))
    )


def _groups_well(field: Field) -> bool:
    return field.type is FieldType.BOOLEAN or (
        field.type is FieldType.STRING and bool(field.allowed_values)
    )


def carried_fields(model: ObjectModel) -> tuple[Field, ...]:
    """The columns of copies of related rows' fields, named by carried_column (`order__status`)."""
    return tuple(
        dataclasses.replace(field, name=carried_column(rel, field))
        for rel in model.relationships
        for field in rel.carried_fields
    )


def derived_value(derived: DerivedField, column: Callable[[str], str]) -> str:
    """SQL computing a derived field from the SQL of its two columns' values (`column(name)`;
    a carried operand's column is its copy, see operand_column): NULL when either is NULL, as
    the comparison written in a formula is."""
    left = column(operand_column(derived.left_field))
    right = column(operand_column(derived.right_field))
    return f"({left} {derived.comparator.value} {right})"


def rollup_sums(model: ObjectModel) -> tuple[Field, ...]:
    return tuple(field for field in model.fields if field.type.is_numeric)


def duration_value(
    model: ObjectModel, duration: DerivedDuration, column: Callable[[str], str]
) -> str:
    """SQL computing a derived duration in seconds (times its weight, when it has one) from the
    SQL of its columns' values (`column(name)`, as for derived_value): NULL when either end is
    NULL. Both are timestamps or both dates (the catalog allows nothing else), so the value never
    depends on the session's time zone."""
    start = column(operand_column(duration.start_field))
    end = column(operand_column(duration.end_field))
    spec = model.operand(duration.start_field)
    if spec is not None and spec.type is FieldType.DATE:
        seconds = f"(({end} - {start}) * 86400)::numeric"
    else:
        seconds = f"extract(epoch from ({end} - {start}))"
    if duration.weight_field:
        return f"({column(duration.weight_field)} * {seconds})"
    return seconds


def duration_fields(model: ObjectModel) -> tuple[Field, ...]:
    """The derived durations as the nullable numeric columns they are stored as."""
    return tuple(
        Field(d.name, FieldType.DECIMAL, d.description) for d in model.derived_durations
    )


def sum_column(field: Field) -> str:
    return SUM_PREFIX + field.name


def count_column(field: Field) -> str:
    return COUNT_PREFIX + field.name


def time_is_date(model: ObjectModel) -> bool:
    time = model.field(model.time_field)
    return time is not None and time.type is FieldType.DATE


def bucket_sql(model: ObjectModel, alias: str) -> str:
    """The minute (UTC) a row falls in; a date-placed row falls at its day's UTC midnight.
    date_bin works on absolute time, so the session time zone cannot shift a bucket."""
    column = f"{alias}.{quote(model.time_field)}"
    if time_is_date(model):
        return f"({column}::timestamp AT TIME ZONE 'UTC')"
    return f"date_bin('1 minute', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


def hour_of(minute_bucket: str) -> str:
    """The hour (UTC) holding a minute bucket (SQL of a timestamptz), absolute like the minute."""
    return f"date_bin('1 hour', {minute_bucket}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
