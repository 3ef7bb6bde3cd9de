"""Who watches which subscription, with streams grouped by the exact set they hold.

The streams of one dashboard hold the same subscriptions (a hundred KPIs, say). Indexing each stream
under each of its subscriptions, and keeping a map of its leases per stream, would cost a hundred
entries per stream; instead streams holding the same set form one audience, which keeps the leases
and is indexed once per subscription, and a stream belongs to one audience.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.streaming.calculation_client import Lease, SubscriptionId
from gateway.streaming.live_stream import LiveStream

Held = Mapping[SubscriptionId, Lease]


class Audience:
    """Streams holding exactly the leases of `held`."""

    __slots__ = ("held", "streams")

    def __init__(self, held: Held) -> None:
        self.held = held
        self.streams: set[LiveStream] = set()


class Audiences:
    def __init__(self) -> None:
        self._by_set: dict[frozenset[SubscriptionId], Audience] = {}
        self._by_key: dict[str, set[Audience]] = {}

    def join(self, stream: LiveStream, held: Held) -> Audience:
        """Add a stream holding `held`; returns its audience (whose `held` the stream can use
        instead of its own copy, and to leave it by)."""
        subscriptions = frozenset(held)
        audience = self._by_set.get(subscriptions)
        if audience is None:
            audience = self._by_set[subscriptions] = Audience(held)
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

    def watching(self, key: str) -> list[set[LiveStream]]:
        """The streams watching subscription `key`, a set per audience (none when nobody does)."""
        return [audience.streams for audience in self._by_key.get(key, ())]
