"""Per-stream coalescing of changed values: between two messages a stream keeps only the latest
value per (KPI, bucket, dimensions), so a slow reader gets fewer, fuller messages instead of a
growing queue. The buffer is bounded; overflowing it means the reader is too slow to serve.

Values stay protobuf `KpiValue` messages: the hub only routes them, and converting every value of a
fan-out into another type would cost more than the routing itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from analytics.type.v1 import types_pb2

ValueKey = tuple[str, int, int, tuple[tuple[str, str], ...]]
# A value with its key, computed once per published value however many streams it reaches.
KeyedValue = tuple[ValueKey, types_pb2.KpiValue]


def value_key(value: types_pb2.KpiValue) -> ValueKey:
    """Identity of a value: the KPI, its bucket and its breakdown dimensions."""
    dimensions = tuple(sorted(value.dimensions.items())) if value.dimensions else ()
    return (value.kpi_code, value.bucket_start.seconds, value.bucket_start.nanos, dimensions)


def keyed(values: Iterable[types_pb2.KpiValue]) -> list[KeyedValue]:
    return [(value_key(value), value) for value in values]


def computed_order(value: types_pb2.KpiValue) -> tuple[int, int]:
    return (value.computed_at.seconds, value.computed_at.nanos)


def same_reading(a: types_pb2.KpiValue, b: types_pb2.KpiValue) -> bool:
    """True when two values of one key say the same thing to a viewer (times aside)."""
    if a.HasField("value") != b.HasField("value"):
        return False
    if a.HasField("value") and a.value != b.value:
        return False
    return a.no_value_reason == b.no_value_reason


class PendingValues:
    """Latest value per key since the last drain, at most `capacity` keys."""

    __slots__ = ("_capacity", "_values", "overflowed")

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._values: dict[ValueKey, types_pb2.KpiValue] = {}
        self.overflowed = False

    def __len__(self) -> int:
        return len(self._values)

    def offer(self, values: Iterable[KeyedValue]) -> None:
        """Keep each value unless a newer one of the same key is already waiting."""
        for key, value in values:
            waiting = self._values.get(key)
            if waiting is not None and computed_order(waiting) > computed_order(value):
                continue
            if waiting is None and len(self._values) >= self._capacity:
                self.overflowed = True
                continue
            self._values[key] = value

    def discard_covered_by(self, snapshot: Iterable[types_pb2.KpiValue]) -> None:
        """Drop waiting values that a snapshot already delivered or superseded (they were published
        between subscribing and reading the snapshot, so they are not news to the viewer)."""
        for value in snapshot:
            key = value_key(value)
            waiting = self._values.get(key)
            if waiting is not None and computed_order(waiting) <= computed_order(value):
                del self._values[key]

    def drain(self) -> list[types_pb2.KpiValue]:
        """Every waiting value, oldest bucket first; the buffer is empty afterwards."""
        # Sorted by key (KPI, bucket, ...) re-ordered as (bucket, KPI): no protobuf field reads.
        ordered = sorted(self._values.items(), key=lambda item: (item[0][1], item[0][0]))
        self._values = {}
        return [value for _, value in ordered]
