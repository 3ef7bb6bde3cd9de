"""What the hub last saw of each subscription's recent buckets, so that after an outage (Redis or
the calculation service) a fresh snapshot can be reduced to the values that actually changed.

Fed only by published updates and by those post-outage snapshots, never by a single stream's opening
snapshot: every stream connected through an outage has seen at least these values, so a value that
differs from them is news to all of them.
"""

from __future__ import annotations

from collections.abc import Iterable

from analytics.type.v1 import types_pb2

from gateway.streaming.coalescing import (
    KeyedValue,
    ValueKey,
    computed_order,
    same_reading,
    value_key,
)


class LatestValues:
    """Per subscription key: the latest value per (KPI, bucket, dimensions) of recent buckets."""

    def __init__(self, buckets_kept: int = 3) -> None:
        self._buckets_kept = buckets_kept
        self._values: dict[str, dict[ValueKey, types_pb2.KpiValue]] = {}

    def changed(
        self, subscription_key: str, values: Iterable[types_pb2.KpiValue]
    ) -> list[KeyedValue]:
        """Record `values`; return those that differ from what was known (unknown ones included),
        with their keys."""
        known = self._values.setdefault(subscription_key, {})
        news: list[KeyedValue] = []
        for value in values:
            key = value_key(value)
            previous = known.get(key)
            if previous is not None and (
                same_reading(previous, value) or computed_order(previous) > computed_order(value)
            ):
                continue
            known[key] = value
            news.append((key, value))
        if news:
            self._prune(known)
        return news

    def forget(self, subscription_key: str) -> None:
        self._values.pop(subscription_key, None)

    def _prune(self, known: dict[ValueKey, types_pb2.KpiValue]) -> None:
        bucket_starts = sorted({(key[1], key[2]) for key in known}, reverse=True)
        if len(bucket_starts) <= self._buckets_kept:
            return
        oldest_kept = bucket_starts[self._buckets_kept - 1]
        for key in [key for key in known if (key[1], key[2]) < oldest_kept]:
            del known[key]
