"""Snapshot reads shared by streams that open together.

When a thousand dashboards reconnect at once, each would ask the calculation service for the
snapshot of the same hundred subscriptions. Instead, requests are gathered for a short window and
read once: one GetKpiSnapshots call per batch, whatever the number of streams waiting on it.

A stream asks only after it is registered as a watcher of its subscriptions, and a batch is read
only after its window closes, so every value published after the read started reaches the
stream as an update; nothing falls between the snapshot and the updates.

One batch is read at a time: streams asking while a read is under way wait for it to end and are
read together next. A storm of streams opening over several seconds (a hub restart, thousands of
reconnecting clients) thus costs a read after another, not a read per window all at once, which
would slow the calculation service down until every one of them missed its deadline.

Each snapshot read is also encoded once, for every stream that gets it (see `wire`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from analytics.calculation.v1 import calculation_pb2
from google.rpc import code_pb2

from gateway.streaming.calculation_client import SubscriptionId
from gateway.streaming.wire import series_entry

Read = Callable[[Sequence[SubscriptionId], int], Awaitable[list[calculation_pb2.KpiSnapshot]]]
Key = tuple[SubscriptionId, int]


def failed(snapshot: calculation_pb2.KpiSnapshot) -> bool:
    return snapshot.HasField("error") and snapshot.error.code != code_pb2.OK


@dataclass(frozen=True, slots=True)
class SharedSnapshot:
    """One subscription's snapshot, shared by the streams that asked for it together, with its
    series encoded as a stream snapshot entry (empty when the snapshot failed)."""

    snapshot: calculation_pb2.KpiSnapshot
    encoded: bytes

    @classmethod
    def of(cls, snapshot: calculation_pb2.KpiSnapshot) -> SharedSnapshot:
        return cls(snapshot, b"" if failed(snapshot) else series_entry(snapshot))


# Subscriptions per GetKpiSnapshots call: big enough for a storm, small enough for one deadline.
MAX_PER_CALL = 500


class SnapshotReads:
    def __init__(self, read: Read, window_seconds: float = 0.02) -> None:
        self._read = read
        self._window = window_seconds
        self._waiting: dict[Key, asyncio.Future[SharedSnapshot]] = {}
        self._flush: asyncio.Handle | None = None
        # Reads (calls) of the batch under way.
        self._reading = 0
        self.calls = 0

    async def get(
        self, subscriptions: Sequence[SubscriptionId], history_buckets: int
    ) -> list[SharedSnapshot]:
        loop = asyncio.get_running_loop()
        futures = []
        for subscription in subscriptions:
            key = (subscription, history_buckets)
            future = self._waiting.get(key)
            if future is None:
                future = self._waiting[key] = loop.create_future()
            futures.append(future)
        if self._flush is None and not self._reading:
            self._flush = loop.call_later(self._window, self._start_reads)
        return list(await asyncio.gather(*futures))

    def _start_reads(self) -> None:
        self._flush = None
        batch, self._waiting = self._waiting, {}
        by_history: dict[int, list[SubscriptionId]] = {}
        for subscription, history in batch:
            by_history.setdefault(history, []).append(subscription)
        for history, subscriptions in by_history.items():
            for start in range(0, len(subscriptions), MAX_PER_CALL):
                chunk = subscriptions[start : start + MAX_PER_CALL]
                self._reading += 1
                asyncio.get_running_loop().create_task(self._read_chunk(chunk, history, batch))

    async def _read_chunk(
        self,
        chunk: list[SubscriptionId],
        history: int,
        batch: dict[Key, asyncio.Future[SharedSnapshot]],
    ) -> None:
        self.calls += 1
        try:
            snapshots = await self._read(chunk, history)
        except BaseException as error:  # every waiter learns why
            for subscription in chunk:
                future = batch[(subscription, history)]
                if not future.done():
                    future.set_exception(error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        finally:
            self._read_ended()
        for subscription, snapshot in zip(chunk, snapshots, strict=True):
            future = batch[(subscription, history)]
            if not future.done():
                future.set_result(SharedSnapshot.of(snapshot))

    def _read_ended(self) -> None:
        """Once the batch is read, the streams that asked meanwhile are read (they have waited
        for a window already)."""
        self._reading -= 1
        if not self._reading and self._waiting and self._flush is None:
            self._flush = asyncio.get_running_loop().call_soon(self._start_reads)
