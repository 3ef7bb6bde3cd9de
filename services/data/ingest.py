"""Validation of incoming client rows against their object model (no grpc, no SQL).

Rows arrive as JSON-like mappings (a google.protobuf.Struct turned into a dict, or a Python
caller's dict). A batch is judged as a whole: every problem is reported at once, each naming the
row index and the field (`rows[3].order_value`), so a sender fixes a batch in one round; a batch
with any problem is refused whole. Accepted values are converted to the Python types the database
adapter writes (str, int, Decimal, bool, aware datetime, date).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.catalog.domain import Field, FieldType, ObjectModel
from services.errors import FieldViolation, InvalidArgument

TypedValue = str | int | Decimal | bool | datetime.datetime | datetime.date | None

# Violations travel in the gRPC status trailer, whose default size limit is 8 KiB; a batch of
# thousands of bad rows must still produce a readable answer, so only the first ones are named.
MAX_REPORTED_VIOLATIONS = 25

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# PostgreSQL numeric: up to 131072 digits before the decimal point and 16383 after it.
_NUMERIC_MAX_ADJUSTED_EXPONENT = 131071
_NUMERIC_MIN_EXPONENT = -16383

_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ValidatedRows:
    """A batch that passed validation: one tuple per row, values in `columns` order (every field
    of the object model, in declared order; None where a row has no value)."""

    columns: tuple[str, ...]
    rows: tuple[tuple[TypedValue, ...], ...]


class _Rejected(Exception):
    """A value cannot be accepted; the text says what a valid value looks like."""


Converter = Callable[[object], TypedValue]


def validate_rows(
    model: ObjectModel, rows: Sequence[object], *, field_prefix: str = "rows"
) -> ValidatedRows:
    """Checks every row against `model` and converts it, or raises InvalidArgument with one
    FieldViolation per problem (`{field_prefix}[index].{field}`): unknown fields, missing
    required values, values of the wrong type or that do not parse, values outside a field's
    allowed values."""
    if not rows:
        raise InvalidArgument.for_field(field_prefix, "at least one row is required")
    plan = [(field.name, field.required, _converter(field)) for field in model.fields]
    names = frozenset(field.name for field in model.fields)
    violations: list[FieldViolation] = []
    converted: list[tuple[TypedValue, ...]] = []
    for index, row in enumerate(rows):
        where = f"{field_prefix}[{index}]"
        if not isinstance(row, Mapping):
            violations.append(FieldViolation(where, "must be an object keyed by field name"))
            continue
        for unknown in sorted(str(key) for key in row.keys() - names):
            violations.append(
                FieldViolation(f"{where}.{unknown}", f"is not a field of object model {model.code}")
            )
        values: list[TypedValue] = []
        for name, required, convert in plan:
            raw = row.get(name)
            if raw is None:
                if required:
                    violations.append(FieldViolation(f"{where}.{name}", "is required"))
                values.append(None)
                continue
            try:
                values.append(convert(raw))
            except _Rejected as rejected:
                violations.append(FieldViolation(f"{where}.{name}", str(rejected)))
        converted.append(tuple(values))
    if violations:
        raise _batch_error(model, violations)
    return ValidatedRows(tuple(name for name, _, _ in plan), tuple(converted))


def _batch_error(model: ObjectModel, violations: list[FieldViolation]) -> InvalidArgument:
    first = violations[0]
    more = len(violations) - 1
    message = f"the {model.code} batch was refused: {first.field} {first.description}"
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidArgument(message, violations[:MAX_REPORTED_VIOLATIONS])


def _converter(field: Field) -> Converter:
    if field.type is FieldType.STRING and field.allowed_values:
        return _one_of(frozenset(field.allowed_values), field.allowed_values)
    return _CONVERTERS[field.type]


def _one_of(allowed: frozenset[str], in_order: tuple[str, ...]) -> Converter:
    description = "must be one of: " + ", ".join(in_order)

    def convert(value: object) -> TypedValue:
        text = _string(value)
        if text not in allowed:
            raise _Rejected(description)
        return text

    return convert


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise _Rejected("must be a string")
    if "\x00" in value:
        raise _Rejected("must not contain NUL characters")
    return value


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise _Rejected("must be an integer")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        # JSON and Struct carry every number as a double: 3.0 is the integer 3, 3.5 is not one.
        if not value.is_integer():
            raise _Rejected("must be a whole number")
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        number = int(value)
    else:
        raise _Rejected("must be an integer (a JSON number or a string of digits)")
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise _Rejected("is outside the 64-bit integer range")
    return number


def _decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise _Rejected("must be a decimal number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest text that reads back as the same double: 0.1 stays 0.1.
        number = Decimal(repr(value))
    elif isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value.strip()):
        number = Decimal(value.strip())
    elif isinstance(value, Decimal):
        number = value
    else:
        raise _Rejected("must be a decimal number (a JSON number or a decimal string)")
    if not number.is_finite():
        raise _Rejected("must be a finite number")
    exponent = number.as_tuple().exponent
    too_precise = not isinstance(exponent, int) or exponent < _NUMERIC_MIN_EXPONENT
    too_large = not number.is_zero() and number.adjusted() > _NUMERIC_MAX_ADJUSTED_EXPONENT
    if too_precise or too_large:
        raise _Rejected("is too large or too precise for a decimal")
    return number


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Rejected("must be true or false")
    return value


def _timestamp(value: object) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Rejected("must be an RFC 3339 timestamp, e.g. 2026-10-01T12:30:00Z") from None
    else:
        raise _Rejected("must be an RFC 3339 timestamp string, e.g. 2026-10-01T12:30:00Z")
    # Without an offset the instant is ambiguous; guessing a zone would file rows in the wrong
    # buckets silently.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise _Rejected("must carry a UTC offset, e.g. 2026-10-01T12:30:00Z")
    return moment


def _date(value: object) -> datetime.date:
    if isinstance(value, datetime.datetime):
        raise _Rejected("must be a calendar date YYYY-MM-DD, not a timestamp")
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _Rejected("must be a calendar date YYYY-MM-DD")


_CONVERTERS: dict[FieldType, Converter] = {
    FieldType.STRING: _string,
    FieldType.INTEGER: _integer,
    FieldType.DECIMAL: _decimal,
    FieldType.BOOLEAN: _boolean,
    FieldType.TIMESTAMP: _timestamp,
    FieldType.DATE: _date,
}
