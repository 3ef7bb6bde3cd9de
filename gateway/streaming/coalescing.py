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
        """Keep each value in place of the one of the same key waiting, if any.

        Values are offered in the order the hub accepted them (hub.LatestValues decides which of
        two values is the newer, by data version when both were published), so the last one
        offered is the newest: comparing computation times here would undo that decision when
        two overlapping computations finished in the other order."""
        for key, value in values:
            waiting = self._values.get(key)
            if waiting is None and len(self._values) >= self._capacity:
                self.overflowed = True
                continue
            self._values[key] = value

    def get(self, key: ValueKey) -> types_pb2.KpiValue | None:
        return self._values.get(key)

    def discard_covered_by(self, snapshot: Iterable[types_pb2.KpiValue]) -> None:
        """Drop waiting values that a snapshot already delivered or superseded (they were published
        between subscribing and reading the snapshot, so they are not news to the viewer)."""
        if not self._values:
            return
        for value in snapshot:
            key = value_key(value)
            waiting = self._values.get(key)
            if waiting is not None and computed_order(waiting) <= computed_order(value):
                del self._values[key]

    def drain(self) -> list[types_pb2.KpiValue]:
        """Every waiting value, oldest bucket first; the buffer is empty afterwards."""
        return [value for _, value in self.drain_keyed()]

    def drain_keyed(self) -> list[KeyedValue]:
        """`drain`, each value with its key."""
        ordered = in_send_order(self._values)
        self._values = {}
        self.overflowed = False
        return ordered


def _send_order(item: KeyedValue) -> tuple[int, str]:
    return (item[0][1], item[0][0])


def in_send_order(values: dict[ValueKey, types_pb2.KpiValue]) -> list[KeyedValue]:
    """Oldest bucket first, then by KPI: the key (KPI, bucket, ...) re-ordered, no protobuf field
    reads."""
    return sorted(values.items(), key=_send_order)


class Batch:
    """What an audience's buffer held at one tick, handed as is to each of its streams: a stream
    that sends it unchanged sends the very list its peers send, so it is encoded once."""

    __slots__ = ("keyed", "values", "keys", "overflowed")

    def __init__(self, keyed: list[KeyedValue], overflowed: bool) -> None:
        self.keyed = keyed
        self.values = [value for _, value in keyed]
        self.keys = frozenset(key for key, _ in keyed)
        self.overflowed = overflowed

    def followed_by(self, later: Batch) -> Batch:
        """This batch and `later`, a batch of the same buffer drained after it, as one: what a
        stream that has sent neither sends instead. `later`'s values win (the hub passes on only
        values newer than those it saw)."""
        merged = dict(self.keyed)
        merged.update(later.keyed)
        return Batch(in_send_order(merged), self.overflowed or later.overflowed)

    def supersedes(self, earlier: Batch) -> bool:
        """True when this batch holds a value for every key of `earlier`, a batch of the same
        buffer drained before it: its values are then the newer ones (the hub passes on only
        values newer than those it saw), so a stream that has not sent `earlier` yet can send
        this one instead."""
        return earlier.keys <= self.keys
