"""Batches sent as `IngestColumns` messages: read into the sent columns the column validation
(services.data.ingest_columns) judges. No validation here beyond telling which typed list holds a
column's values (a column filling two lists is refused here).

Also the other way, rows made into such a message, for Python senders.

Speed: each list is copied out of the message by one C-level conversion; nothing is done per
value in Python.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from analytics.data.v1 import data_pb2

from services.catalog.domain import FieldType, ObjectModel
from services.data.ingest_columns import SentColumn, ValueKind, days_of, micros_of
from services.errors import FieldViolation, InvalidArgument

_KINDS = tuple(ValueKind)


def sent_columns(
    batch: data_pb2.IngestColumns, field_prefix: str = "columns.columns"
) -> list[SentColumn]:
    """The batch's columns; InvalidArgument naming (`{field_prefix}[i]`) each column whose values
    fill more than one typed list."""
    columns: list[SentColumn] = []
    violations: list[FieldViolation] = []
    for index, column in enumerate(batch.columns):
        filled = [kind for kind in _KINDS if len(getattr(column, kind.value))]
        if len(filled) > 1:
            lists = ", ".join(kind.value for kind in filled)
            violations.append(FieldViolation(
                f"{field_prefix}[{index}]", f"fills {lists}; send the values in one list"))
            continue
        kind = filled[0] if filled else None
        values: Sequence[object] = list(getattr(column, kind.value)) if kind else ()
        columns.append(SentColumn(column.field, kind, values, list(column.nulls)))
    if violations:
        raise InvalidArgument("the batch's columns are malformed: "
                              f"{violations[0].field} {violations[0].description}", violations)
    return columns


def columns_message(
    model: ObjectModel, rows: Sequence[Mapping[str, object]]
) -> data_pb2.IngestColumns:
    """JSON-like rows (as IngestRows takes them as Structs) as typed columns, for a Python
    sender: decimals travel as exact text (floats as doubles), timestamps as microseconds, dates
    as days. A value of the wrong kind raises TypeError or ValueError here, not at the server."""
    message = data_pb2.IngestColumns(row_count=len(rows))
    for field in model.fields:
        values = [row.get(field.name) for row in rows]
        present = [value for value in values if value is not None]
        if not present:
            continue
        column = message.columns.add(field=field.name)
        if len(present) < len(values):
            column.nulls.extend([value is None for value in values])
        kind, encode, filler = _encoding(field.type, present)
        getattr(column, kind.value).extend(
            [filler if value is None else encode(value) for value in values])
    return message


def _encoding(
    field_type: FieldType, present: Sequence[object]
) -> tuple[ValueKind, Callable[[Any], object], object]:
    """The list a field's values go to, how one value is encoded, and the placeholder of a null."""
    match field_type:
        case FieldType.STRING:
            return ValueKind.STRING, str, ""
        case FieldType.INTEGER:
            return ValueKind.INTEGER, int, 0
        case FieldType.DECIMAL:
            if all(isinstance(value, float) for value in present):
                return ValueKind.DOUBLE, float, 0.0
            return ValueKind.STRING, _decimal_text, "0"
        case FieldType.BOOLEAN:
            return ValueKind.BOOLEAN, bool, False
        case FieldType.TIMESTAMP:
            return ValueKind.TIMESTAMP_MICROS, _micros, 0
        case FieldType.DATE:
            return ValueKind.DATE_DAYS, _days, 0


def _decimal_text(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def _micros(value: object) -> int:
    moment = datetime.datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime.datetime) or moment.utcoffset() is None:
        raise ValueError(f"{value!r} is not a timestamp with a UTC offset")
    return micros_of(moment)


def _days(value: object) -> int:
    day = datetime.date.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(day, datetime.date) or isinstance(day, datetime.datetime):
        raise ValueError(f"{value!r} is not a calendar date")
    return days_of(day)
