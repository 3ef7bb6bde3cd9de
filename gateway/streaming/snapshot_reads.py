"""Snapshot reads shared by streams that open together.

When a thousand dashboards reconnect at once, each would ask the calculation service for the
snapshot of the same hundred subscriptions. Instead, requests are gathered for a short window and
read once: one GetKpiSnapshots call per batch, whatever the number of streams waiting on it.

A stream asks only after it is registered as a watcher of its subscriptions, and a batch is read
only after its window closes, so every value published after the read started reaches the
stream as an update; nothing falls between the snapshot and the updates.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from analytics.calculation.v1 import calculation_pb2

from gateway.streaming.calculation_client import SubscriptionId

Read = Callable[[Sequence[SubscriptionId], int], Awaitable[list[calculation_pb2.KpiSnapshot]]]
Key = tuple[SubscriptionId, int]

# Subscriptions per GetKpiSnapshots call: big enough for a storm, small enough for one deadline.
MAX_PER_CALL = 500


class SnapshotReads:
    def __init__(self, read: Read, window_seconds: float = 0.02) -> None:
        self._read = read
        self._window = window_seconds
        self._waiting: dict[Key, asyncio.Future[calculation_pb2.KpiSnapshot]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self.calls = 0

    async def get(
        self, subscriptions: Sequence[SubscriptionId], history_buckets: int
    ) -> list[calculation_pb2.KpiSnapshot]:
        loop = asyncio.get_running_loop()
        futures = []
        for subscription in subscriptions:
            key = (subscription, history_buckets)
            future = self._waiting.get(key)
            if future is None:
                future = self._waiting[key] = loop.create_future()
            futures.append(future)
        if self._flush is None:
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
                asyncio.get_running_loop().create_task(self._read_chunk(chunk, history, batch))

    async def _read_chunk(
        self,
        chunk: list[SubscriptionId],
        history: int,
        batch: dict[Key, asyncio.Future[calculation_pb2.KpiSnapshot]],
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
        for subscription, snapshot in zip(chunk, snapshots, strict=True):
            future = batch[(subscription, history)]
            if not future.done():
                future.set_result(snapshot)
