"""Validation of incoming client rows against their object model (no grpc, no SQL).

Rows arrive as JSON-like mappings (a google.protobuf.Struct turned into a dict, or a Python
caller's dict). A batch is judged as a whole: every problem is reported at once, each naming the
row index and the field (`rows[3].order_value`), so a sender fixes a batch in one round; a batch
with any problem is refused whole. Accepted values are converted to the Python types the database
adapter writes (str, int, Decimal, bool, aware datetime, date).

Speed: ingest must keep up with 100k rows/s, so a batch is converted column by column. Each
field's values are gathered once, their types are looked at once per column, and the common cases
(a column of strings, of JSON numbers, of RFC 3339 texts) are converted by builtins mapped over
the column instead of by a Python call per value. Anything else in a column (a Decimal, a number
written as text, a value that is refused) sends that column through the per-value converters,
which define what is accepted; a batch with any problem is then judged row by row again, so the
violations come in row order as a sender reads them.
"""

from __future__ import annotations

import datetime
import functools
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import compress, repeat
from operator import attrgetter, is_not, itemgetter
from typing import cast

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
    """A batch that passed validation, held column by column (the store sends it so): one tuple
    per field of the object model, in declared order, each holding one value per row (None where
    a row has no value)."""

    columns: tuple[str, ...]
    column_values: tuple[tuple[TypedValue, ...], ...]

    @property
    def row_count(self) -> int:
        return len(self.column_values[0]) if self.column_values else 0

    @property
    def rows(self) -> tuple[tuple[TypedValue, ...], ...]:
        """The same values row by row, in `columns` order (built on each call)."""
        return tuple(zip(*self.column_values, strict=True))


class ValueRefused(Exception):
    """A value cannot be accepted; the text says what a valid value looks like."""


_Rejected = ValueRefused


Converter = Callable[[object], TypedValue]
# Converts a column's present (not None) values, given the set of their types, or returns None
# when the column holds anything its fast path does not take on; raises nothing.
ColumnConverter = Callable[[Sequence[object], set[type]], Sequence[TypedValue] | None]


def validate_rows(
    model: ObjectModel,
    rows: Sequence[object],
    *,
    field_prefix: str = "rows",
    decimal_texts: bool = False,
) -> ValidatedRows:
    """Checks every row against `model` and converts it, or raises InvalidArgument with one
    FieldViolation per problem (`{field_prefix}[index].{field}`): unknown fields, missing
    required values, values of the wrong type or that do not parse, values outside a field's
    allowed values.

    With `decimal_texts`, a DECIMAL column of JSON numbers (floats) is given as their exact
    texts (the shortest repr, the digits Decimal would take) instead of as Decimals: the form
    the store sends them in, without making a Decimal of each value (half a microsecond a
    value, most of a batch's validation for a model of many amounts)."""
    if not rows:
        raise InvalidArgument.for_field(field_prefix, "at least one row is required")
    plan = _plan(model, decimal_texts)
    converted = _convert_by_column(plan, rows)
    if converted is None:
        # Something is refused (or the rows are not plain dicts): judge row by row, which names
        # every problem, or accepts what the column pass did not take on.
        converted = _convert_by_row(model, plan, rows, field_prefix)
    return ValidatedRows(plan.names, converted)


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    required: bool
    convert: Converter
    convert_column: ColumnConverter


@dataclass(frozen=True)
class _Plan:
    names: tuple[str, ...]
    known: frozenset[str]
    fields: tuple[_FieldPlan, ...]


@functools.lru_cache(maxsize=256)
def _plan(model: ObjectModel, decimal_texts: bool = False) -> _Plan:
    fields = tuple(
        _FieldPlan(
            field.name,
            field.required,
            _converter(field),
            _column_converter(field, decimal_texts),
        )
        for field in model.fields
    )
    names = tuple(field.name for field in fields)
    return _Plan(names, frozenset(names), fields)


def _convert_by_column(
    plan: _Plan, rows: Sequence[object]
) -> tuple[tuple[TypedValue, ...], ...] | None:
    """The whole batch converted, or None when any value is refused (or a row is not a plain
    dict, or names an unknown field): the row-by-row pass then says what is wrong."""
    if set(map(type, rows)) != {dict}:
        return None
    dicts = cast("Sequence[dict[str, object]]", rows)
    sent = set().union(*dicts)
    if not sent <= plan.known:
        return None
    count = len(rows)
    gathered = _gathered(dicts, plan, sent)
    columns: list[tuple[TypedValue, ...]] = []
    for field in plan.fields:
        values = gathered.get(field.name)
        if values is None:
            # Absent from every row.
            if field.required:
                return None
            columns.append((None,) * count)
            continue
        column = _convert_column(field, values)
        if column is None:
            return None
        columns.append(column)
    return tuple(columns)


def _gathered(
    dicts: Sequence[dict[str, object]], plan: _Plan, sent: set[str]
) -> dict[str, Sequence[object]]:
    """The values of each field some row holds, one per row (None where a row has none). When
    every row holds the same fields (the usual batch), each row's values are read by one
    itemgetter call and the columns come from one transposition."""
    names = [name for name in plan.names if name in sent]
    if not names:
        return {}
    if set(map(len, dicts)) == {len(names)}:
        # Every row holds exactly the fields sent.
        if len(names) == 1:
            return {names[0]: [row[names[0]] for row in dicts]}
        return dict(zip(names, zip(*map(itemgetter(*names), dicts), strict=True), strict=True))
    count = len(dicts)
    return {name: list(map(dict.get, dicts, repeat(name, count))) for name in names}


def _convert_column(
    field: _FieldPlan, values: Sequence[object]
) -> tuple[TypedValue, ...] | None:
    kinds = set(map(type, values))
    has_gaps = _NONE_TYPE in kinds
    present = values
    if has_gaps:
        if field.required:
            return None
        kinds.discard(_NONE_TYPE)
        present = list(compress(values, map(is_not, values, repeat(None))))
    if not present:
        return (None,) * len(values)
    converted = field.convert_column(present, kinds)
    if converted is None:
        try:
            converted = list(map(field.convert, present))
        except _Rejected:
            return None
    if converted is present:
        # Values checked and kept as they came (strings, booleans): the gaps are already there.
        return tuple(cast("Sequence[TypedValue]", values))
    if not has_gaps:
        return tuple(converted)
    filled = iter(converted)
    return tuple(None if value is None else next(filled) for value in values)


def _convert_by_row(
    model: ObjectModel, plan: _Plan, rows: Sequence[object], field_prefix: str
) -> tuple[tuple[TypedValue, ...], ...]:
    violations: list[FieldViolation] = []
    converted: list[tuple[TypedValue, ...]] = []
    for index, row in enumerate(rows):
        where = f"{field_prefix}[{index}]"
        if not isinstance(row, Mapping):
            violations.append(FieldViolation(where, "must be an object keyed by field name"))
            continue
        for unknown in sorted(str(key) for key in row.keys() - plan.known):
            violations.append(
                FieldViolation(f"{where}.{unknown}", f"is not a field of object model {model.code}")
            )
        values: list[TypedValue] = []
        for field in plan.fields:
            raw = row.get(field.name)
            if raw is None:
                if field.required:
                    violations.append(FieldViolation(f"{where}.{field.name}", "is required"))
                values.append(None)
                continue
            try:
                values.append(field.convert(raw))
            except _Rejected as rejected:
                violations.append(FieldViolation(f"{where}.{field.name}", str(rejected)))
        converted.append(tuple(values))
    if violations:
        raise _batch_error(model, violations)
    return tuple(zip(*converted, strict=True))


def batch_error(model: ObjectModel, violations: list[FieldViolation]) -> InvalidArgument:
    """The refusal of a batch: the first problem in the message, the first
    MAX_REPORTED_VIOLATIONS as field violations."""
    return _batch_error(model, violations)


def convert_column(
    model: ObjectModel, field_name: str, values: list[object]
) -> tuple[TypedValue, ...] | None:
    """One field's values (None where a row has none) converted by the column pass, or None when
    any is refused or missing where required (then `convert_value` says which and why)."""
    return _convert_column(_field_plan(model, field_name), values)


def convert_value(model: ObjectModel, field_name: str, value: object) -> TypedValue:
    """One present value converted, or ValueRefused saying what a valid value looks like."""
    return _field_plan(model, field_name).convert(value)


def _field_plan(model: ObjectModel, field_name: str) -> _FieldPlan:
    plan = _plan(model)
    return plan.fields[plan.names.index(field_name)]


def _batch_error(model: ObjectModel, violations: list[FieldViolation]) -> InvalidArgument:
    first = violations[0]
    more = len(violations) - 1
    message = f"the {model.code} batch was refused: {first.field} {first.description}"
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return InvalidArgument(message, violations[:MAX_REPORTED_VIOLATIONS])


# -- one value at a time: what is accepted, and what a refusal says ----------------------------


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


# -- a whole column at once: the common cases, by builtins mapped over the column --------------
# Each returns the converted values, or None when the column holds anything else; the per-value
# converters above then decide. A column converter accepts nothing they would refuse and gives
# the same values they would (tests/unit/test_data_ingest.py holds them to it).

_NONE_TYPE = type(None)
_TIME_ZONE = attrgetter("tzinfo")


def _column_converter(field: Field, decimal_texts: bool = False) -> ColumnConverter:
    if field.type is FieldType.STRING and field.allowed_values:
        return _column_one_of(frozenset(field.allowed_values))
    if field.type is FieldType.DECIMAL and decimal_texts:
        return _decimal_text_column
    return _COLUMN_CONVERTERS[field.type]


def _column_one_of(allowed: frozenset[str]) -> ColumnConverter:
    def convert(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
        texts = cast("Sequence[str]", values)
        return texts if kinds == {str} and allowed.issuperset(texts) else None

    return convert


def _string_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    texts = cast("Sequence[str]", values)
    return texts if kinds == {str} and "\x00" not in "".join(texts) else None


def _integer_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    numbers: Sequence[int]
    if kinds == {int}:
        numbers = cast("Sequence[int]", values)
    elif kinds == {float} and all(map(float.is_integer, cast("Sequence[float]", values))):
        numbers = list(map(int, cast("Sequence[float]", values)))
    else:
        return None
    if min(numbers) < _INT64_MIN or max(numbers) > _INT64_MAX:
        return None
    return numbers


def _decimal_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    if kinds == {float}:
        # A float's shortest repr has at most 17 digits and an exponent within ±324: inside
        # numeric's limits, so only NaN and the infinities need catching.
        decimals = list(map(Decimal, map(repr, values)))
        return decimals if all(map(Decimal.is_finite, decimals)) else None
    if kinds == {int}:
        decimals = list(map(Decimal, cast("Sequence[int]", values)))
        if max(map(Decimal.adjusted, decimals)) <= _NUMERIC_MAX_ADJUSTED_EXPONENT:
            return decimals
    if kinds == {str}:
        # Exact decimals sent as text: plain digits (no exponent, no spaces) of a length far
        # inside numeric's limits are read as they are; anything else goes value by value.
        texts = cast("Sequence[str]", values)
        joined = _SEPARATOR_TEXT.join(texts)
        longest = max(map(len, texts))
        if longest <= _PLAIN_DECIMAL_MAX_TEXT and _PLAIN_DECIMALS.fullmatch(joined):
            return list(map(Decimal, texts))
    return None


def _decimal_text_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    """A column of floats as the texts of the decimals `_decimal_column` makes of them (the
    same digits and exponent: Decimal(repr(x)) reads repr(x)); other columns as it makes them."""
    if kinds == {float}:
        floats = cast("Sequence[float]", values)
        return list(map(repr, floats)) if all(map(math.isfinite, floats)) else None
    return _decimal_column(values, kinds)


# A column of plain decimal texts joined by a separator, checked by one match of the whole text.
_SEPARATOR_TEXT = "\x1f"
_PLAIN_DECIMAL = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_PLAIN_DECIMALS = re.compile(f"{_PLAIN_DECIMAL}(?:\x1f{_PLAIN_DECIMAL})*")
# Shorter than numeric's 16383 digits after the point, so no value read so can exceed its limits.
_PLAIN_DECIMAL_MAX_TEXT = 16_000


def _boolean_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    return cast("Sequence[bool]", values) if kinds == {bool} else None


def _timestamp_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    if kinds != {str}:
        return None
    try:
        moments = list(map(datetime.datetime.fromisoformat, cast("Sequence[str]", values)))
    except ValueError:
        return None
    # fromisoformat gives a fixed-offset timezone or none at all: no offset, no instant.
    return moments if all(map(_TIME_ZONE, moments)) else None


def _date_column(values: Sequence[object], kinds: set[type]) -> Sequence[TypedValue] | None:
    texts = cast("Sequence[str]", values)
    if kinds != {str} or not all(map(_DATE_TEXT.fullmatch, texts)):
        return None
    try:
        return list(map(datetime.date.fromisoformat, texts))
    except ValueError:
        return None


_COLUMN_CONVERTERS: dict[FieldType, ColumnConverter] = {
    FieldType.STRING: _string_column,
    FieldType.INTEGER: _integer_column,
    FieldType.DECIMAL: _decimal_column,
    FieldType.BOOLEAN: _boolean_column,
    FieldType.TIMESTAMP: _timestamp_column,
    FieldType.DATE: _date_column,
}
