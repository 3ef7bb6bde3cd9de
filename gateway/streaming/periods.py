"""The live periods on the wire (analytics.type.v1.Period) and back."""

from __future__ import annotations

from analytics.type.v1 import types_pb2

from gateway.streaming.buckets import LivePeriod

_FROM_WIRE = {
    types_pb2.PERIOD_MINUTE: LivePeriod.MINUTE,
    types_pb2.PERIOD_HOUR: LivePeriod.HOUR,
    types_pb2.PERIOD_DAY: LivePeriod.DAY,
}
_TO_WIRE = {period: wire for wire, period in _FROM_WIRE.items()}


def from_wire(period: types_pb2.Period.ValueType) -> LivePeriod | None:
    """The live period, or None when `period` is not one a stream can use."""
    return _FROM_WIRE.get(period)


def to_wire(period: LivePeriod) -> types_pb2.Period.ValueType:
    return _TO_WIRE[period]
