"""Stream messages sent as bytes encoded ahead of time.

A snapshot carries the recent history of every KPI of a dashboard: thousands of values, the same
for every stream that opened with it. Building a protobuf message per stream would copy them all
per stream, and the message would stay alive until the stream's next message (each wrapper around
the handler keeps the last item it yielded), so a quiet dashboard would hold a copy of its whole
snapshot. Instead each KPI's series is encoded once per snapshot read, a stream's snapshot is the
concatenation of those bytes with its own few fields (protobuf allows a message to be encoded in
pieces: repeated fields append), and what the handler yields is a `PreEncoded` that gives up its
bytes when gRPC serializes it (services.runtime.wire).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.calculation.v1 import calculation_pb2
from analytics.gateway.v1 import stream_pb2


def series_entry(snapshot: calculation_pb2.KpiSnapshot) -> bytes:
    """One KPI's current value and history as an entry of `StreamSnapshot.kpis`, encoded."""
    series = stream_pb2.KpiSeriesSnapshot(
        kpi_code=snapshot.kpi_code,
        current=snapshot.current if snapshot.HasField("current") else None,
        history=snapshot.history,
    )
    return stream_pb2.StreamSnapshot(kpis=[series]).SerializeToString()


class SharedValueEncodings:
    """The encoded `StreamUpdate.values` of the value lists streams send in one tick.

    The streams of one audience receive the same values in the same order, so when a tick wakes
    them they drain equal lists of the very same value objects: one encoding serves them all.
    Lists are told apart by the identity of their values; an entry keeps its values alive (so no
    identity is reused while it is cached), and the cache starts afresh every tick.
    """

    def __init__(self) -> None:
        self._tick = -1
        self._cache: dict[tuple[int, ...], tuple[Sequence[Any], bytes]] = {}
        self._lists: dict[int, tuple[Sequence[Any], bytes]] = {}
        self.encodings = 0

    def encoded(self, tick: int, values: Sequence[Any]) -> bytes:
        if tick != self._tick:
            self._cache.clear()
            self._lists.clear()
            self._tick = tick
        # Streams sending their audience's batch unchanged pass the very same list: found
        # without looking at its values.
        same_list = self._lists.get(id(values))
        if same_list is not None and same_list[0] is values:
            return same_list[1]
        identity = tuple(map(id, values))
        cached = self._cache.get(identity)
        if cached is None:
            self.encodings += 1
            cached = (values, stream_pb2.StreamUpdate(values=values).SerializeToString())
            self._cache[identity] = cached
        self._lists[id(values)] = (values, cached[1])
        return cached[1]
