"""Rows sent as google.protobuf.Struct messages, turned into the JSON-like dicts the validation
reads (no validation here: a value of the wrong kind is passed on for it to refuse).

Speed: json_format.MessageToDict walks every value through Python code, and iterating a Struct's
map makes a wrapper object per entry; together they cost more than validating and writing the
rows. A batch is read column by column instead: for each field of the object model, its value is
looked up in every row, and the values' kinds and contents are read by builtins mapped over the
column. A batch naming anything else (an unknown field, which the validation must name) is read
row by row, every key kept as sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress, repeat
from operator import attrgetter, is_not, methodcaller
from typing import Any

from google.protobuf import json_format, struct_pb2

_FIELDS = attrgetter("fields")
_KIND = methodcaller("WhichOneof", "kind")
_SCALAR_KINDS = frozenset({"string_value", "number_value", "bool_value"})
_READ = {kind: attrgetter(kind) for kind in _SCALAR_KINDS}
_NULL = "null_value"


def rows_from_structs(
    rows: Sequence[struct_pb2.Struct], field_names: Sequence[str]
) -> list[dict[str, object]]:
    """One dict per row, keyed by field name. A field a row does not hold is absent from its
    dict, or None when other rows hold it: the validation reads both the same way."""
    fields = list(map(_FIELDS, rows))
    by_column = _read_columns(fields, field_names)
    if by_column is None:
        return [_row(row) for row in rows]
    names, columns = by_column
    if not names:
        return [{} for _ in rows]
    return list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))


def _read_columns(
    fields: list[Any], field_names: Sequence[str]
) -> tuple[list[str], list[list[object]]] | None:
    """The names held by any row and one list of values per name, or None when some row holds a
    name not in `field_names`."""
    if not fields:
        return [], []
    row_count = len(fields)
    entry_count = sum(map(len, fields))
    contains, get = type(fields[0]).__contains__, type(fields[0]).get
    names: list[str] = []
    columns: list[list[object]] = []
    for name in field_names:
        held = sum(map(contains, fields, repeat(name)))
        if not held:
            continue
        entry_count -= held
        values = list(map(get, fields, repeat(name)))
        present = (
            values
            if held == row_count
            else list(compress(values, map(is_not, values, repeat(None))))
        )
        converted = _values(present)
        if held < row_count:
            filled = iter(converted)
            converted = [None if value is None else next(filled) for value in values]
        names.append(name)
        columns.append(converted)
    return (names, columns) if entry_count == 0 else None


def _values(values: list[Any]) -> list[object]:
    kinds = list(map(_KIND, values))
    distinct = set(kinds)
    if len(distinct) == 1 and kinds[0] in _SCALAR_KINDS:
        return list(map(_READ[kinds[0]], values))
    if distinct <= _SCALAR_KINDS:
        return list(map(getattr, values, kinds))
    if distinct <= _SCALAR_KINDS | {_NULL}:
        return [
            None if kind == _NULL else getattr(value, kind)
            for value, kind in zip(values, kinds, strict=True)
        ]
    return list(map(_value, values))


def _value(value: struct_pb2.Value) -> object:
    """One value as MessageToDict gives it (a nested object or list included); numbers that are
    not finite stay floats, for the validation to refuse by field."""
    kind = value.WhichOneof("kind")
    if kind is None or kind == _NULL:
        return None
    if kind in _SCALAR_KINDS:
        return getattr(value, kind)
    converted: object = json_format.MessageToDict(getattr(value, kind))
    return converted


def _row(row: struct_pb2.Struct) -> dict[str, object]:
    return {key: _value(value) for key, value in row.fields.items()}
