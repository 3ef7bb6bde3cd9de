"""What the hub last saw of each subscription's recent buckets, so that after an outage (Redis or
the calculation service) a fresh snapshot can be reduced to the values that actually changed.

Fed only by published updates and by those post-outage snapshots, never by a single stream's opening
snapshot: every stream connected through an outage has seen at least these values, so a value that
differs from them is news to all of them.

It is also the one place that decides which of two values of a key is the newer. Two published
values are ranked by the data versions they reflect (the calculation publishes a subscription's
results in that order, but two computations overlapping in time may finish, and stamp their
`computed_at`, in the other order); a value without a rank (a snapshot's) is ranked by
`computed_at`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from analytics.type.v1 import types_pb2

from gateway.streaming.coalescing import (
    KeyedValue,
    ValueKey,
    computed_order,
    same_reading,
    value_key,
)

# A value as the hub knows it: with the rank of the update that carried it (None: a snapshot's).
_Known = tuple[types_pb2.KpiValue, int | None]


def _older(previous: _Known, value: types_pb2.KpiValue, rank: int | None) -> bool:
    """True when `value` (of rank `rank`) is older than `previous`."""
    known_rank = previous[1]
    if known_rank is not None and rank is not None and known_rank != rank:
        return rank < known_rank
    return computed_order(previous[0]) > computed_order(value)


def update_rank(data_versions: Mapping[str, int]) -> int:
    """The rank of a published update: the sum of the data versions it reflects (versions only
    grow, so of two results the newer never has the smaller sum)."""
    return sum(data_versions.values())


class LatestValues:
    """Per subscription key: the latest value per (KPI, bucket, dimensions) of recent buckets."""

    def __init__(self, buckets_kept: int = 3) -> None:
        self._buckets_kept = buckets_kept
        self._values: dict[str, dict[ValueKey, _Known]] = {}

    def changed(
        self,
        subscription_key: str,
        values: Iterable[types_pb2.KpiValue],
        rank: int | None = None,
    ) -> list[KeyedValue]:
        """Record `values` (of a published update of rank `rank`, or of a snapshot); return those
        that are newer than, and differ from, what was known (unknown ones included), with their
        keys."""
        known = self._values.setdefault(subscription_key, {})
        news: list[KeyedValue] = []
        for value in values:
            key = value_key(value)
            previous = known.get(key)
            if previous is not None and (
                same_reading(previous[0], value) or _older(previous, value, rank)
            ):
                continue
            known[key] = (value, rank)
            news.append((key, value))
        if news:
            self._prune(known)
        return news

    def forget(self, subscription_key: str) -> None:
        self._values.pop(subscription_key, None)

    def _prune(self, known: dict[ValueKey, _Known]) -> None:
        bucket_starts = sorted({(key[1], key[2]) for key in known}, reverse=True)
        if len(bucket_starts) <= self._buckets_kept:
            return
        oldest_kept = bucket_starts[self._buckets_kept - 1]
        for key in [key for key in known if (key[1], key[2]) < oldest_kept]:
            del known[key]
