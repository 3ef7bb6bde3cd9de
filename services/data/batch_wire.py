"""A validated batch encoded for the ingest statement (`PreparedBatch`): one row per natural key,
each column as the statement's parameters take it."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import itertools
import operator
from collections.abc import (
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, cast

from services.catalog.domain import Field, FieldType, ObjectModel
from services.data.ingest import TypedValue, validate_rows
from services.data.ingest_columns import CheckedColumns
from services.data.tables import natural_key, time_is_date

_UTC = datetime.UTC



# -- the wire: how a batch travels ------------------------------------------------------------
# asyncpg encodes an array parameter one element at a time, at a cost (0.2-0.7 us a value) that
# for a 5000-row batch came close to the database's own work; so each column travels as one
# text, its values joined by a separator, which PostgreSQL splits and casts in C (a timestamp as
# its count of microseconds since 1970, turned back into an instant in SQL). Every column has two
# parameters, the joined text and an array, one of them NULL: the array carries a text column
# whose values hold the separator or the NULL marker, and a one-row column whose joined text
# would be empty (PostgreSQL splits '' into no element at all). A column with no value in any
# row sends both NULL: unnest pads it with NULLs to the length of the others.

_SEPARATOR = "\x1f"  # ASCII unit separator
_NULL_TEXT = "\x1e"  # ASCII record separator: NULL in a joined text column
_BOOLEAN_TEXT: Mapping[object, str] = {True: "t", False: "f"}
# A column's parameters: its values joined into one text, or as an array.
_ColumnParameters = tuple[str | None, Sequence[object] | None]


@dataclasses.dataclass(frozen=True)
class _WireColumn:
    sql_type: str
    nullable: bool
    # The texts PostgreSQL reads back as the values ('' for None), given whether any is None;
    # None for text columns (a value is its own text).
    render: Callable[[Sequence[Any], bool], Iterable[str]] | None
    # The type the parameters hold, when the column's own type is computed from it.
    wire_type: str = ""
    # SQL turning an element of the parameters ({} in it) into the column's value.
    value: str = "{}"

    @property
    def is_text(self) -> bool:
        return self.sql_type == "text"

    def decode(self, first: int) -> str:
        """SQL giving an array of the parameters' elements from `$first` and the one after."""
        wire_type = self.wire_type or self.sql_type
        null = "E'\\x1e'" if self.is_text else "''"
        cast = "" if self.is_text else f"::{wire_type}[]"
        split = f"string_to_array(${first}, E'\\x1f', {null}){cast}"
        return f"COALESCE({split}, ${first + 1}::{wire_type}[])"

    def encode(self, values: Sequence[object]) -> _ColumnParameters:
        """The column's two parameters, as `decode` reads them."""
        missing = values.count(None) if self.nullable else 0
        if missing == len(values):
            # No values at all: nothing to send or split. unnest pads the shorter arrays of a
            # batch with NULLs, and the time field is required, so its array sets the length.
            return None, None
        if self.render is None:  # text
            texts = cast(Sequence[str], values)
            if missing:
                texts = [_NULL_TEXT if value is None else cast(str, value) for value in values]
            joined = _SEPARATOR.join(texts)
            fits = joined.count(_SEPARATOR) == len(values) - 1
            if joined and fits and joined.count(_NULL_TEXT) == missing:
                return joined, None
            return None, values
        joined = _SEPARATOR.join(self.render(values, missing > 0))
        return (joined, None) if joined else (None, values)


def _texts_by(render: Callable[[Any], str]) -> Callable[[Sequence[Any], bool], Iterable[str]]:
    def texts(values: Sequence[Any], gaps: bool) -> Iterable[str]:
        if gaps:
            return ["" if value is None else render(value) for value in values]
        return map(render, values)

    return texts


_POSITIONAL = operator.methodcaller("__format__", "f")


def _decimal_texts(values: Sequence[Any], gaps: bool) -> Iterable[str]:
    if not gaps and type(values[0]) is str:
        # The exact texts of JSON numbers (validate_rows' decimal_texts: a whole column is
        # texts or Decimals), written without an exponent beyond float's ±324.
        return cast(Sequence[str], values)
    texts = list(_texts_by(str)(values, gaps))
    # PostgreSQL before 15 refuses exponents beyond ±1000 in numeric text: a column with any
    # exponent is written out positionally (rare: str() uses one only for very large or small
    # numbers).
    if "E" in "".join(texts):
        return _texts_by(_POSITIONAL)(values, gaps)
    return texts


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _wire_column(field: Field) -> _WireColumn:
    nullable = not field.required
    match field.type:
        case FieldType.STRING:
            return _WireColumn("text", nullable, None)
        case FieldType.INTEGER:
            return _WireColumn("bigint", nullable, _texts_by(int.__str__))
        case FieldType.DECIMAL:
            return _WireColumn("numeric", nullable, _decimal_texts)
        case FieldType.BOOLEAN:
            return _WireColumn("boolean", nullable, _texts_by(_BOOLEAN_TEXT.__getitem__))
        case FieldType.TIMESTAMP:
            # Microseconds since 1970 UTC, cheaper than asyncpg's binary encoding or ISO text.
            # Exact both ways: the whole seconds become an instant (a double holds every second
            # up to the year 9999 exactly), then the microseconds left are added as an interval
            # of time alone, which needs no time zone rules. (Short, too: it is written once per
            # timestamp field into statements that must stay under asyncpg's 15 KiB.)
            return _WireColumn(
                "timestamptz",
                nullable,
                _texts_by(int.__str__),
                wire_type="bigint",
                value="(to_timestamp({} / 1000000) + ({} % 1000000) * INTERVAL '1 microsecond')",
            )
        case FieldType.DATE:
            return _WireColumn("date", nullable, _texts_by(datetime.date.isoformat))


@functools.lru_cache(maxsize=256)
def wire_columns(model: ObjectModel) -> tuple[_WireColumn, ...]:
    return tuple(_wire_column(field) for field in model.fields)


@dataclasses.dataclass(frozen=True)
class PreparedBatch:
    """A validated batch ready to send: one row per natural key, the last one sent winning (as if
    the rows came one by one; one INSERT may not touch the same row twice)."""

    # Rows as sent, repeats included (those beyond the first of a key count as duplicates).
    sent_row_count: int
    earliest: datetime.date
    latest: datetime.date
    arguments: tuple[object, ...]


def prepare_rows(model: ObjectModel, rows: Sequence[Mapping[str, object]]) -> PreparedBatch:
    """Validates JSON-like rows (InvalidArgument names every bad row and field) and encodes
    them for `commit_batch`. CPU work only: a caller may run it in a thread."""
    # Decimals sent as JSON numbers stay texts: they travel as text anyway.
    batch = validate_rows(model, rows, decimal_texts=True)
    wire = wire_columns(model)
    # Timestamps become microseconds since 1970 UTC here: how they travel, and far cheaper to
    # hash and compare than aware datetimes.
    columns: Sequence[Sequence[object]] = [
        _microseconds(values) if column.wire_type == "bigint" else values
        for column, values in zip(wire, batch.column_values, strict=True)
    ]
    return _prepared(model, columns, len(rows))


def prepare_columns(model: ObjectModel, batch: CheckedColumns) -> PreparedBatch:
    """Encodes a batch validated as typed columns (its timestamps already in microseconds) for
    `commit_batch`. CPU work only."""
    return _prepared(model, batch.column_values, batch.row_count)


def _prepared(
    model: ObjectModel, columns: Sequence[Sequence[object]], sent_row_count: int
) -> PreparedBatch:
    wire = wire_columns(model)
    columns = _last_row_per_natural_key(model, columns)
    times = columns[[field.name for field in model.fields].index(model.time_field)]
    earliest: datetime.date
    latest: datetime.date
    if time_is_date(model):
        dates = cast(Sequence[datetime.date], times)
        earliest, latest = min(dates), max(dates)
    else:
        instants = cast(Sequence[int], times)
        earliest = _EPOCH + _MICROSECOND * min(instants)
        latest = _EPOCH + _MICROSECOND * max(instants)
    arguments = tuple(
        itertools.chain.from_iterable(
            column.encode(values) for column, values in zip(wire, columns, strict=True)
        )
    )
    return PreparedBatch(sent_row_count, earliest, latest, arguments)


def _microseconds(moments: Sequence[TypedValue]) -> list[int | None]:
    if None in moments:
        return [
            None if moment is None else (cast(datetime.datetime, moment) - _EPOCH) // _MICROSECOND
            for moment in moments
        ]
    present = cast(Sequence[datetime.datetime], moments)
    return [(moment - _EPOCH) // _MICROSECOND for moment in present]


def _last_row_per_natural_key(
    model: ObjectModel, columns: Sequence[Sequence[object]]
) -> Sequence[Sequence[object]]:
    """The columns holding one row per natural key, the last one sent winning (as if the rows
    came one by one; one INSERT may not touch the same row twice)."""
    names = [field.name for field in model.fields]
    key_columns = [columns[names.index(name)] for name in natural_key(model)]
    count = len(key_columns[0])
    # One key field without repeats is enough, and cheaper to check than whole keys.
    if any(len(set(values)) == count for values in key_columns):
        return columns
    keys = list(zip(*key_columns, strict=True))
    # A later position overwrites an earlier one of the same key.
    kept = sorted(dict(zip(keys, itertools.count(), strict=False)).values())
    return [[column[position] for position in kept] for column in columns]
