"""Streams opening together share snapshot reads (pure logic, with a recording reader)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from analytics.calculation.v1 import calculation_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.calculation_client import SubscriptionId
from gateway.streaming.snapshot_reads import MAX_PER_CALL, SnapshotReads


def subscription(code: str) -> SubscriptionId:
    return SubscriptionId("acme", code, LivePeriod.MINUTE)


class RecordingReader:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def __call__(
        self, subscriptions: Sequence[SubscriptionId], history: int
    ) -> list[calculation_pb2.KpiSnapshot]:
        self.calls.append([s.kpi_code for s in subscriptions])
        if self.fail:
            raise ConnectionError("calculation is down")
        return [calculation_pb2.KpiSnapshot(kpi_code=s.kpi_code) for s in subscriptions]


async def test_a_storm_of_streams_over_the_same_kpis_is_one_read() -> None:
    reader = RecordingReader()
    reads = SnapshotReads(reader, window_seconds=0.01)
    codes = [f"K{i}" for i in range(100)]
    results = await asyncio.gather(
        *(reads.get([subscription(c) for c in codes], 30) for _ in range(1000))
    )
    assert len(reader.calls) == 1 and sorted(reader.calls[0]) == sorted(codes)
    assert all([s.snapshot.kpi_code for s in result] == codes for result in results)
    # Encoded once, for all of them.
    assert all(result[0].encoded is results[0][0].encoded for result in results)


async def test_large_batches_are_split_and_later_requests_read_again() -> None:
    reader = RecordingReader()
    reads = SnapshotReads(reader, window_seconds=0.01)
    await reads.get([subscription(f"K{i}") for i in range(MAX_PER_CALL + 1)], 30)
    assert sorted(len(call) for call in reader.calls) == [1, MAX_PER_CALL]
    await reads.get([subscription("K0")], 30)
    assert len(reader.calls) == 3


async def test_every_waiter_learns_of_a_failed_read() -> None:
    reads = SnapshotReads(RecordingReader(fail=True), window_seconds=0.01)
    outcomes = await asyncio.gather(
        reads.get([subscription("A")], 30),
        reads.get([subscription("A")], 30),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    with pytest.raises(ConnectionError):
        await reads.get([subscription("B")], 30)


class SlowReader(RecordingReader):
    """Holds each read until the test lets it end; counts reads under way at once."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.under_way = 0
        self.most_at_once = 0

    async def __call__(
        self, subscriptions: Sequence[SubscriptionId], history: int
    ) -> list[calculation_pb2.KpiSnapshot]:
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        try:
            await self.release.wait()
            return await super().__call__(subscriptions, history)
        finally:
            self.under_way -= 1


async def test_streams_asking_during_a_read_are_read_together_once_it_ends() -> None:
    reader = SlowReader()
    reads = SnapshotReads(reader, window_seconds=0.01)
    first = asyncio.ensure_future(reads.get([subscription("A")], 30))
    await asyncio.sleep(0.05)  # the first batch's read is under way
    later = [asyncio.ensure_future(reads.get([subscription("A")], 30)) for _ in range(50)]
    await asyncio.sleep(0.05)  # several windows pass: no read starts meanwhile
    assert reader.under_way == 1
    reader.release.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 1.0)
    assert reader.most_at_once == 1
    assert len(reader.calls) == 2, "the first read, then one for every stream that waited"
