"""KpiValue series written as wire bytes, without a message per value.

Every value of a series shares everything but its bucket and its value: the KPI, the period, the
computed-at time, the watermark and, in a group, the dimensions. That common part is encoded once
(the template), each bucket's `bucket_start` field once per axis of buckets (every KPI over the same
object models shares the axis, and a bucket's encoding is kept across requests), and a value is
then the template, its bucket and its value field, joined. Protobuf parses fields in any order, so
the bytes decode to exactly the message built field by field.
"""

from __future__ import annotations

import datetime
import functools
import struct
from collections.abc import Sequence
from itertools import chain, repeat

from analytics.type.v1 import types_pb2

from services.aggregates.columns import micros
from services.calculation.formula.values import NoValueReason
from services.calculation.results import BucketAxis, Series, Value
from services.runtime.wire import varint

_LENGTH_DELIMITED, _FIXED64, _VARINT = 2, 1, 0
_UINT64 = 1 << 64


def _tag(field_number: int, wire_type: int) -> bytes:
    return varint(field_number << 3 | wire_type)


_VALUE_TAG = _tag(types_pb2.KpiValue.VALUE_FIELD_NUMBER, _FIXED64)
_BUCKET_TAG = _tag(types_pb2.KpiValue.BUCKET_START_FIELD_NUMBER, _LENGTH_DELIMITED)
_REASON_FIELDS = {
    NoValueReason.NO_DATA: _tag(types_pb2.KpiValue.NO_VALUE_REASON_FIELD_NUMBER, _VARINT)
    + varint(types_pb2.NO_VALUE_REASON_NO_DATA),
    NoValueReason.DIVISION_BY_ZERO: _tag(types_pb2.KpiValue.NO_VALUE_REASON_FIELD_NUMBER, _VARINT)
    + varint(types_pb2.NO_VALUE_REASON_DIVISION_BY_ZERO),
}
_DOUBLE = struct.Struct("<d").pack
# Lengths of a value's encoding are small: their varints are looked up, not computed.
_LENGTHS = [varint(length) for length in range(1 << 14)]
_VALUE_SIZE = len(_VALUE_TAG) + 8
_AXIS_KEY = "kpi_value_bucket_fields"
# A series with more than one value in this many without a number is joined element by element
# rather than packed and spliced.
_SPLICE_AT_MOST = 16
_REASON_SIZE = len(_REASON_FIELDS[NoValueReason.NO_DATA])
assert all(len(field) == _REASON_SIZE for field in _REASON_FIELDS.values())


@functools.lru_cache(maxsize=1 << 17)
def bucket_field(start_micros: int) -> bytes:
    """The `bucket_start` field (a Timestamp) of a bucket starting at `start_micros`."""
    seconds, micro = divmod(start_micros, 1_000_000)
    body = b""
    if seconds:
        body += b"\x08" + varint(seconds % _UINT64)
    if micro:
        body += b"\x10" + varint(micro * 1000)
    return _BUCKET_TAG + varint(len(body)) + body


class _Buckets:
    """The `bucket_start` fields of an axis, and their common length when they share one (they
    do unless a bucket starts off a whole second or the seconds' varint grows a byte)."""

    __slots__ = ("fields", "size")

    def __init__(self, axis: BucketAxis) -> None:
        self.fields = [bucket_field(start) for start in axis.starts]
        sizes = {len(field) for field in self.fields}
        self.size = sizes.pop() if len(sizes) == 1 else None


def _buckets(axis: BucketAxis) -> _Buckets:
    """Kept on the axis: every KPI over the same object models reuses them."""
    found = axis.derived.get(_AXIS_KEY)
    if found is None:
        found = axis.derived[_AXIS_KEY] = _Buckets(axis)
    return found  # type: ignore[return-value]  # only this module stores under its key


@functools.lru_cache(maxsize=256)
def _packer(head_size: int, bucket_size: int, template_size: int, count: int) -> struct.Struct:
    """`count` elements of: tag and length, bucket, template (ending in the value's tag), value."""
    return struct.Struct("<" + f"{head_size}s{bucket_size}s{template_size}sd" * count)


def _head(tag: bytes, length: int) -> bytes:
    return tag + (_LENGTHS[length] if length < len(_LENGTHS) else varint(length))


def repeated_values(
    field_number: int,
    template: bytes,
    series: Sequence[Value],
    unbucketed_start: datetime.datetime,
) -> bytes:
    """The values of `series` as elements of the repeated KpiValue field `field_number`, each
    the template's fields plus its bucket and value. A value without a bucket is stamped with
    `unbucketed_start`."""
    tag = _tag(field_number, _LENGTH_DELIMITED)
    if not isinstance(series, Series):
        return b"".join(_element(tag, template, value, unbucketed_start) for value in series)
    if not series.entries:
        return b""
    buckets = _buckets(series.axis)
    size = buckets.size
    if size is not None:
        return _uniform(tag, template, buckets.fields, size, series)
    base = len(template)
    numbered = template + _VALUE_TAG
    pack = _DOUBLE
    reasons = _REASON_FIELDS
    return b"".join(
        [
            _head(tag, base + len(bucket) + _VALUE_SIZE) + bucket + numbered + pack(entry)
            if entry.__class__ is float
            else _head(tag, base + len(bucket) + _REASON_SIZE) + bucket + template + reasons[entry]  # type: ignore[index]
            for bucket, entry in zip(buckets.fields, series.entries, strict=True)
        ]
    )


def _uniform(
    tag: bytes, template: bytes, buckets: Sequence[bytes], size: int, series: Series
) -> bytes:
    """Elements over buckets whose fields share one length: every element with a number is
    then as long as the others and all are packed in one call; the elements without a number
    (packed as 0.0 first) are cut out and replaced by their reason's."""
    numbered = template + _VALUE_TAG
    number_head = _head(tag, len(template) + size + _VALUE_SIZE)
    entries = series.entries
    packer = _packer(len(number_head), size, len(numbered), len(entries))
    gaps: list[int] = []
    numbers: Sequence[float | NoValueReason] = entries
    if not series.complete:
        gaps = [index for index, entry in enumerate(entries) if entry.__class__ is not float]
        if len(gaps) * _SPLICE_AT_MOST > len(entries):
            # Cutting costs more per gap than joining does per element: join them all.
            return _joined(
                number_head,
                _head(tag, len(template) + size + _REASON_SIZE),
                template,
                buckets,
                entries,
            )
        numbers = list(entries)
        for index in gaps:
            numbers[index] = 0.0
    fields = zip(repeat(number_head), buckets, repeat(numbered), numbers)
    packed = packer.pack(*chain.from_iterable(fields))
    if not gaps:
        return packed
    view = memoryview(packed)
    width = packer.size // len(entries)
    reason_head = _head(tag, len(template) + size + _REASON_SIZE)
    parts: list[bytes | memoryview] = []
    start = 0
    for index in gaps:
        parts.append(view[start * width : index * width])
        parts.append(reason_head + buckets[index] + template + _REASON_FIELDS[entries[index]])  # type: ignore[index]
        start = index + 1
    parts.append(view[start * width :])
    return b"".join(parts)


def _joined(
    number_head: bytes,
    reason_head: bytes,
    template: bytes,
    buckets: Sequence[bytes],
    entries: Sequence[float | NoValueReason],
) -> bytes:
    numbered = template + _VALUE_TAG
    pack = _DOUBLE
    reasons = _REASON_FIELDS
    return b"".join(
        [
            number_head + bucket + numbered + pack(entry)
            if entry.__class__ is float
            else reason_head + bucket + template + reasons[entry]  # type: ignore[index]
            for bucket, entry in zip(buckets, entries, strict=True)
        ]
    )


def _element(
    tag: bytes, template: bytes, value: Value, unbucketed_start: datetime.datetime
) -> bytes:
    fields = b"" if value.value is None else _VALUE_TAG + _DOUBLE(value.value)
    if value.no_value is not None:
        fields += _REASON_FIELDS[value.no_value]
    body = template + bucket_field(micros(value.bucket_start or unbucketed_start)) + fields
    return tag + varint(len(body)) + body
