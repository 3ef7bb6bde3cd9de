"""Validation of a batch sent as typed columns (no grpc, no SQL): the same rules and the same
violations (`rows[3].order_value`) as rows sent as JSON-like objects (services.data.ingest), with
the values already typed by the sender.

A column is read whole: its kind is checked once against its field's type, its nulls applied,
and its values converted by the column pass of the row validation (or, for timestamps sent as
microseconds, kept as they are after a range check: that is how the store sends them on). When a
column holds any value the column pass refuses, the batch is judged value by value, which names
every problem by row index and field in row order.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from services.catalog.domain import Field, FieldType, ObjectModel
from services.data.ingest import (
    TypedValue,
    ValueRefused,
    batch_error,
    convert_column,
    convert_value,
)
from services.errors import FieldViolation, InvalidArgument


class ValueKind(enum.Enum):
    """Which typed list of a column holds its values."""

    STRING = "string_values"
    INTEGER = "integer_values"
    DOUBLE = "double_values"
    BOOLEAN = "bool_values"
    TIMESTAMP_MICROS = "timestamp_micros"
    DATE_DAYS = "date_days"


@dataclass(frozen=True)
class SentColumn:
    """One field's values as sent: one entry per row (a placeholder where `nulls` is true), or
    no entry at all when every row is null."""

    field: str
    # None when no list holds any value.
    kind: ValueKind | None
    values: Sequence[object]
    # Empty when every row has a value.
    nulls: Sequence[bool]


@dataclass(frozen=True)
class CheckedColumns:
    """A batch that passed validation, one tuple per field of the object model in declared order,
    one value per row (None where a row has none). TIMESTAMP columns hold microseconds since 1970
    UTC, the form the store sends them in; the other columns hold what `validate_rows` gives."""

    columns: tuple[str, ...]
    column_values: tuple[tuple[TypedValue, ...], ...]
    row_count: int


# The kinds each field type takes.
_KINDS: dict[FieldType, frozenset[ValueKind]] = {
    FieldType.STRING: frozenset({ValueKind.STRING}),
    FieldType.INTEGER: frozenset({ValueKind.INTEGER}),
    FieldType.DECIMAL: frozenset({ValueKind.STRING, ValueKind.DOUBLE, ValueKind.INTEGER}),
    FieldType.BOOLEAN: frozenset({ValueKind.BOOLEAN}),
    FieldType.TIMESTAMP: frozenset({ValueKind.TIMESTAMP_MICROS}),
    FieldType.DATE: frozenset({ValueKind.DATE_DAYS}),
}

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)
# The instants PostgreSQL and Python both hold: the years 1 to 9999.
_MIN_MICROS = (datetime.datetime(1, 1, 1, tzinfo=datetime.UTC) - _EPOCH) // _MICROSECOND
_MAX_MICROS = (
    datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=datetime.UTC) - _EPOCH
) // _MICROSECOND
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_MIN_DAYS = 1 - _EPOCH_ORDINAL
_MAX_DAYS = datetime.date(9999, 12, 31).toordinal() - _EPOCH_ORDINAL
_OUT_OF_RANGE = "is outside the years 1 to 9999"


def validate_columns(
    model: ObjectModel,
    sent: Sequence[SentColumn],
    row_count: int,
    *,
    field_prefix: str = "rows",
    columns_prefix: str = "columns.columns",
) -> CheckedColumns:
    """Checks a batch of typed columns against `model` and converts it, or raises
    InvalidArgument: a malformed column (unknown or repeated field, a list that does not fit the
    field's type, a length other than `row_count`) is named `{columns_prefix}[i]`; a bad value
    `{field_prefix}[row].{field}`, as for rows sent as objects."""
    if row_count <= 0:
        raise InvalidArgument.for_field(field_prefix, "at least one row is required")
    by_field = _columns_by_field(model, sent, row_count, columns_prefix)
    values: list[Sequence[object]] = [
        by_field.get(field.name) or [None] * row_count for field in model.fields
    ]
    converted = _convert_by_column(model, values)
    if converted is None:
        converted = _convert_by_value(model, values, field_prefix)
    return CheckedColumns(
        tuple(field.name for field in model.fields), tuple(converted), row_count
    )


def _columns_by_field(
    model: ObjectModel, sent: Sequence[SentColumn], row_count: int, prefix: str
) -> dict[str, list[object]]:
    """Each sent field's values with None where a row has none, or InvalidArgument naming every
    malformed column."""
    fields = {field.name: field for field in model.fields}
    violations: list[FieldViolation] = []
    by_field: dict[str, list[object]] = {}
    for index, column in enumerate(sent):
        where = f"{prefix}[{index}]"
        field = fields.get(column.field)
        if field is None:
            problem = (
                "names no field (`field` is required)"
                if not column.field
                else f"names {column.field!r}, which is not a field of object model {model.code}"
            )
        elif column.field in by_field:
            problem = f"repeats field {column.field!r}; send each field once"
        else:
            problem = _shape_problem(field, column, row_count)
        if problem:
            violations.append(FieldViolation(where, problem))
            continue
        by_field[column.field] = _with_nulls(column, row_count)
    if violations:
        raise batch_error(model, violations)
    return by_field


def _shape_problem(field: Field, column: SentColumn, row_count: int) -> str:
    if column.nulls and len(column.nulls) != row_count:
        return f"holds {len(column.nulls)} nulls for {row_count} rows"
    if column.kind is None:
        if column.nulls and all(column.nulls):
            return ""
        return f"holds no values for {row_count} rows"
    accepted = _KINDS[field.type]
    if column.kind not in accepted:
        lists = " or ".join(sorted(kind.value for kind in accepted))
        return (
            f"sends {column.kind.value} for {field.type.value.upper()} field {field.name!r}, "
            f"which takes {lists}"
        )
    if len(column.values) != row_count:
        return f"holds {len(column.values)} values for {row_count} rows"
    return ""


def _with_nulls(column: SentColumn, row_count: int) -> list[object]:
    if column.kind is None:
        return [None] * row_count
    if column.nulls and any(column.nulls):
        return [None if null else value
                for value, null in zip(column.values, column.nulls, strict=True)]
    return list(column.values)


def _convert_by_column(
    model: ObjectModel, values: list[Sequence[object]]
) -> list[tuple[TypedValue, ...]] | None:
    converted: list[tuple[TypedValue, ...]] = []
    for field, column in zip(model.fields, values, strict=True):
        result = _convert_column(model, field, column)
        if result is None:
            return None
        converted.append(result)
    return converted


def _convert_column(
    model: ObjectModel, field: Field, column: Sequence[object]
) -> tuple[TypedValue, ...] | None:
    present = [value for value in column if value is not None] if None in column else column
    if len(present) < len(column) and field.required:
        return None
    if field.type is FieldType.TIMESTAMP:
        micros = cast("list[int]", present)
        if micros and (min(micros) < _MIN_MICROS or max(micros) > _MAX_MICROS):
            return None
        return tuple(cast("list[TypedValue]", column))
    if field.type is FieldType.DATE:
        days = cast("list[int]", present)
        if days and (min(days) < _MIN_DAYS or max(days) > _MAX_DAYS):
            return None
        return tuple(None if value is None else _date(cast(int, value)) for value in column)
    return convert_column(model, field.name, column if isinstance(column, list) else list(column))


def _convert_by_value(
    model: ObjectModel, values: list[Sequence[object]], field_prefix: str
) -> list[tuple[TypedValue, ...]]:
    """The batch judged value by value: every problem named in row order, or the values
    converted when the column pass only left something it does not take on to this pass."""
    violations: list[FieldViolation] = []
    rows: list[list[TypedValue]] = []
    for index, row in enumerate(zip(*values, strict=True)):
        converted: list[TypedValue] = []
        for field, value in zip(model.fields, row, strict=True):
            try:
                converted.append(_convert_value(model, field, value))
            except ValueRefused as refused:
                violations.append(FieldViolation(f"{field_prefix}[{index}].{field.name}",
                                                 str(refused)))
        rows.append(converted)
    if violations:
        raise batch_error(model, violations)
    return [tuple(column) for column in zip(*rows, strict=True)]


def _convert_value(model: ObjectModel, field: Field, value: object) -> TypedValue:
    if value is None:
        if field.required:
            raise ValueRefused("is required")
        return None
    if field.type is FieldType.TIMESTAMP:
        if not _MIN_MICROS <= cast(int, value) <= _MAX_MICROS:
            raise ValueRefused(_OUT_OF_RANGE)
        return cast(int, value)
    if field.type is FieldType.DATE:
        if not _MIN_DAYS <= cast(int, value) <= _MAX_DAYS:
            raise ValueRefused(_OUT_OF_RANGE)
        return _date(cast(int, value))
    return convert_value(model, field.name, value)


def _date(days: int) -> datetime.date:
    return datetime.date.fromordinal(_EPOCH_ORDINAL + days)


def instant(micros: int) -> datetime.datetime:
    """The instant of a TIMESTAMP value of CheckedColumns."""
    return _EPOCH + _MICROSECOND * micros


def micros_of(moment: datetime.datetime) -> int:
    """A TIMESTAMP value in the form CheckedColumns holds it."""
    return (moment - _EPOCH) // _MICROSECOND


def days_of(day: datetime.date) -> int:
    """A DATE value in the form IngestColumn.date_days sends it."""
    return day.toordinal() - _EPOCH_ORDINAL

