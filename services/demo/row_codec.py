"""Row batches as bytes and back, for batches that leave the process (a spool file, a pipe).

Pickling a datetime or a Decimal costs microseconds (the generic reduce protocol, object by
object), several times what generating the value did, so a batch travels column by column in
plain values: instants as microseconds since 1970, dates as ordinals, decimals as their text.
Whole columns convert in C (`map` over bound methods) unless they hold NULLs.
"""

from __future__ import annotations

import datetime
import decimal
import pickle
from collections.abc import Callable, Sequence
from typing import Any

from services.catalog.domain import FieldType

Row = tuple[object, ...]
Column = Sequence[Any]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _converter(steps: list[Callable[[Any], Any]],
               one: Callable[[Any], Any]) -> Callable[[Column], Column]:
    """Converts every value of a column through `steps`, keeping NULLs."""

    def column(values: Column) -> Column:
        if None in values:
            return [None if value is None else one(value) for value in values]
        converted: Any = values
        for step in steps:
            converted = map(step, converted)
        return list(converted)

    return column


def _chain(*steps: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One value through `steps` in turn (for the NULL-aware path)."""

    def convert(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return convert


class _Codec:
    def __init__(self, *steps: tuple[Callable[[Any], Any], Callable[[Any], Any]]) -> None:
        encoders = [encode for encode, _ in steps]
        decoders = [decode for _, decode in reversed(steps)]
        self.encode = _converter(encoders, _chain(*encoders))
        self.decode = _converter(decoders, _chain(*decoders))


# (encode, decode) steps: an instant minus 1970 is a timedelta, floor-divided by a microsecond
# an int; bound methods of C types, so a column without NULLs converts without Python frames.
# (The reflected operators exist at run time; the type stubs only declare the forward ones.)
_SINCE_EPOCH: Callable[[datetime.datetime], datetime.timedelta] = (
    _EPOCH.__rsub__)  # type: ignore[attr-defined]
_IN_MICROSECONDS: Callable[[datetime.timedelta], int] = (
    _MICROSECOND.__rfloordiv__)  # type: ignore[attr-defined]
_CODECS: dict[FieldType, _Codec] = {
    FieldType.TIMESTAMP: _Codec((_SINCE_EPOCH, _EPOCH.__add__),
                                (_IN_MICROSECONDS, _MICROSECOND.__mul__)),
    FieldType.DATE: _Codec((datetime.date.toordinal, datetime.date.fromordinal)),
    FieldType.DECIMAL: _Codec((str, decimal.Decimal)),
}


class BatchCodec:
    """Encodes and decodes batches of rows whose columns have `types`. Instants come back in
    UTC."""

    def __init__(self, types: Sequence[FieldType]) -> None:
        self._codecs = [_CODECS.get(field_type) for field_type in types]

    def to_bytes(self, rows: list[Row]) -> bytes:
        columns = [codec.encode(column) if codec else column
                   for codec, column in zip(self._codecs, zip(*rows, strict=True), strict=True)]
        return pickle.dumps(columns, protocol=pickle.HIGHEST_PROTOCOL)

    def from_bytes(self, data: bytes) -> list[Row]:
        columns = pickle.loads(data)
        return list(zip(*(codec.decode(column) if codec else column
                          for codec, column in zip(self._codecs, columns, strict=True)),
                        strict=True))
