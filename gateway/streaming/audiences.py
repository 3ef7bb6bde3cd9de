"""Who watches which subscription, with streams grouped by the exact set they hold.

The streams of one dashboard hold the same subscriptions (a hundred KPIs, say). Indexing each stream
under each of its subscriptions, and keeping a map of its leases per stream, would cost a hundred
entries per stream; instead streams holding the same set form one audience, which keeps the leases
and is indexed once per subscription, and a stream belongs to one audience.

Published values are buffered per audience, not per stream: an update reaches one buffer however
many streams watch it, and each tick hands the buffer's content, as one batch, to every stream of
the audience (which its streams then send, encoded once).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gateway.streaming.calculation_client import Lease, SubscriptionId
from gateway.streaming.coalescing import Batch, KeyedValue, PendingValues
from gateway.streaming.live_stream import LiveStream

Held = Mapping[SubscriptionId, Lease]


class Audience:
    """Streams holding exactly the leases of `held`."""

    __slots__ = ("held", "streams", "pending")

    def __init__(self, held: Held, capacity: int) -> None:
        self.held = held
        self.streams: set[LiveStream] = set()
        # Values published since the last tick, latest per key (as a stream's own buffer).
        self.pending = PendingValues(capacity)

    def offer(self, values: Iterable[KeyedValue]) -> None:
        self.pending.offer(values)

    def deliver(self) -> set[LiveStream]:
        """Hand what arrived since the last tick to every stream; returns the streams reached."""
        if not len(self.pending):
            return set()
        overflowed = self.pending.overflowed
        batch = Batch(self.pending.drain_keyed(), overflowed)
        # Streams still holding the same unsent batch share its union with this one.
        merged: dict[int, tuple[Batch, Batch]] = {}
        for stream in self.streams:
            stream.receive(batch, merged)
        return self.streams


class Audiences:
    def __init__(self, capacity: int = 5000) -> None:
        # Distinct values an audience buffers between two ticks (a stream's limit too).
        self._capacity = capacity
        self._by_set: dict[frozenset[SubscriptionId], Audience] = {}
        self._by_key: dict[str, set[Audience]] = {}

    def join(self, stream: LiveStream, held: Held) -> Audience:
        """Add a stream holding `held`; returns its audience (whose `held` the stream can use
        instead of its own copy, and to leave it by)."""
        subscriptions = frozenset(held)
        audience = self._by_set.get(subscriptions)
        if audience is None:
            audience = self._by_set[subscriptions] = Audience(held, self._capacity)
            for lease in held.values():
                self._by_key.setdefault(lease.subscription_key, set()).add(audience)
        audience.streams.add(stream)
        return audience

    def leave(self, stream: LiveStream, audience: Audience) -> list[str]:
        """Remove a stream; returns the subscription keys no stream watches any more."""
        audience.streams.discard(stream)
        subscriptions = frozenset(audience.held)
        if audience.streams or self._by_set.get(subscriptions) is not audience:
            return []
        del self._by_set[subscriptions]
        abandoned = []
        for lease in audience.held.values():
            audiences = self._by_key.get(lease.subscription_key)
            if audiences is None:
                continue
            audiences.discard(audience)
            if not audiences:
                del self._by_key[lease.subscription_key]
                abandoned.append(lease.subscription_key)
        return abandoned

    def audiences_watching(self, key: str) -> list[Audience]:
        """The audiences watching subscription `key`."""
        return list(self._by_key.get(key, ()))

    def watching(self, key: str) -> list[set[LiveStream]]:
        """The streams watching subscription `key`, a set per audience (none when nobody does)."""
        return [audience.streams for audience in self._by_key.get(key, ())]
