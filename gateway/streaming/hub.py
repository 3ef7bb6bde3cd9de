"""The hub: open streams, the subscriptions they share, and the fan-out of published updates.

A stream's life: lease its subscriptions (shared with every other stream of this hub that watches
them), subscribe their channels, read a snapshot, then receive every published change into its
coalescing buffer until it closes. Fan-out never waits on a client: it writes into buffers, and the
ticker wakes each stream's handler to send.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from analytics.calculation.v1 import calculation_pb2
from analytics.events.v1 import events_pb2
from analytics.type.v1 import types_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2

from gateway.streaming.calculation_client import CalculationSubscriptions, Lease, SubscriptionId
from gateway.streaming.channel_listener import ChannelListener
from gateway.streaming.latest_values import LatestValues
from gateway.streaming.live_stream import Ending, EndReason, KpiFailure, LiveStream
from gateway.streaming.snapshot_reads import SnapshotReads
from gateway.streaming.stream_request import StreamRequest
from gateway.streaming.subscriptions import SubscriptionRegistry
from gateway.streaming.ticker import Ticker, TickSettings, utc_now
from services.errors import Unavailable

log = logging.getLogger(__name__)

_RESYNC_RETRY_SECONDS = 1.0
_RESYNC_CHUNK = 500


@dataclass(frozen=True)
class HubSettings:
    tick: TickSettings = TickSettings()
    lease_ttl_seconds: float = 30.0
    # Distinct (KPI, bucket, dimensions) values a stream may have waiting before it is cut off.
    max_pending_values: int = 5000
    # How long a new stream waits for Redis to confirm its channels before reading its snapshot.
    subscribe_wait_seconds: float = 1.0
    # Buckets of history re-read after an outage (the open bucket and the one just closed).
    resync_history_buckets: int = 1


@dataclass
class OpenedStream:
    """A stream that got past its opening: what it holds and what its snapshot says."""

    stream: LiveStream
    request: StreamRequest
    held: dict[SubscriptionId, Lease] = field(default_factory=dict)
    series: list[calculation_pb2.KpiSnapshot] = field(default_factory=list)
    failures: list[KpiFailure] = field(default_factory=list)
    opened_at: datetime.datetime = field(default_factory=utc_now)


def shutdown_ending() -> Ending:
    return Ending(
        EndReason.SERVER_SHUTDOWN,
        status_pb2.Status(code=code_pb2.OK, message="the server is shutting down; reconnect"),
    )


def snapshot_values(snapshot: calculation_pb2.KpiSnapshot) -> list[types_pb2.KpiValue]:
    values = list(snapshot.history)
    if snapshot.HasField("current"):
        values.append(snapshot.current)
    return values


def _failed(snapshot: calculation_pb2.KpiSnapshot) -> bool:
    return snapshot.HasField("error") and snapshot.error.code != code_pb2.OK


class StreamHub:
    def __init__(
        self,
        hub_id: str,
        calculation: CalculationSubscriptions,
        redis_url: str,
        settings: HubSettings = HubSettings(),
    ) -> None:
        self.hub_id = hub_id
        self.settings = settings
        self.calculation = calculation
        self.snapshot_reads = SnapshotReads(calculation.snapshots)
        self.registry = SubscriptionRegistry(hub_id, calculation, settings.lease_ttl_seconds)
        self.listener = ChannelListener(redis_url, self._on_message, self._request_resync)
        self.ticker = Ticker(settings.tick)
        self.closing = False
        self._watchers: dict[str, set[LiveStream]] = defaultdict(set)
        self._latest = LatestValues(buckets_kept=settings.resync_history_buckets + 2)
        self._resync_wanted = asyncio.Event()
        self.updates_received = 0
        self.resyncs = 0

    @property
    def open_streams(self) -> int:
        return self.ticker.stream_count

    async def open(self, request: StreamRequest) -> OpenedStream:
        """Lease, subscribe and snapshot a new stream. Raises (holding nothing) when it cannot."""
        if self.closing:
            raise Unavailable("the hub is shutting down; reconnect")
        stream = LiveStream(
            uuid.uuid4().hex, request.period, self.settings.max_pending_values, time.monotonic()
        )
        opened = OpenedStream(stream, request)
        wanted = [
            SubscriptionId(request.client_id, code, request.period) for code in request.kpi_codes
        ]
        try:
            acquired = await self.registry.acquire(wanted)
            opened.held = acquired.granted
            for lease in acquired.granted.values():
                self._watchers[lease.subscription_key].add(stream)
                self.listener.add(lease.channel)
            opened.failures.extend(
                KpiFailure(subscription.kpi_code, status)
                for subscription, status in acquired.refused.items()
            )
            channels = [lease.channel for lease in acquired.granted.values()]
            if not await self.listener.wait_subscribed(
                channels, self.settings.subscribe_wait_seconds
            ):
                log.warning("opening a stream before redis confirmed its channels")
            if acquired.granted:
                await self._read_snapshot(opened)
            self.ticker.add(stream)
            if self.closing:
                stream.end(shutdown_ending())
        except BaseException:
            self.close(opened)
            raise
        return opened

    async def _read_snapshot(self, opened: OpenedStream) -> None:
        subscriptions = list(opened.held)
        snapshots = await self.snapshot_reads.get(subscriptions, opened.request.history_buckets)
        by_code = {snapshot.kpi_code: snapshot for snapshot in snapshots}
        for code in opened.request.kpi_codes:
            snapshot = by_code.get(code)
            if snapshot is None:
                continue
            if _failed(snapshot):
                opened.failures.append(KpiFailure(code, snapshot.error))
            else:
                opened.series.append(snapshot)
                opened.stream.discard_covered_by(snapshot_values(snapshot))

    def close(self, opened: OpenedStream) -> None:
        """Forget a stream; subscriptions nobody on this hub watches any more are released."""
        stream = opened.stream
        self.ticker.remove(stream)
        for lease in opened.held.values():
            watchers = self._watchers.get(lease.subscription_key)
            if watchers is not None:
                watchers.discard(stream)
                if not watchers:
                    del self._watchers[lease.subscription_key]
                    self._latest.forget(lease.subscription_key)
            self.listener.remove(lease.channel)
        self.registry.release(opened.held)
        opened.held = {}

    def _on_message(self, channel: str, data: bytes) -> None:
        try:
            update = events_pb2.KpiUpdated.FromString(data)
        except DecodeError:
            log.warning("dropping a message on %s that is not a KpiUpdated", channel)
            return
        self.updates_received += 1
        self._fan_out(update.subscription_key, update.values)

    def _fan_out(self, subscription_key: str, values: Iterable[types_pb2.KpiValue]) -> None:
        watchers = self._watchers.get(subscription_key)
        if not watchers:
            return
        news = self._latest.changed(subscription_key, values)
        if not news:
            return
        for stream in watchers:
            stream.offer(news)
            self.ticker.mark_dirty(stream)

    async def _request_resync(self) -> None:
        self._resync_wanted.set()

    def _on_refused(self, subscription: SubscriptionId, status: status_pb2.Status) -> None:
        lease = self.registry.held().get(subscription)
        if lease is None:
            return
        for stream in self._watchers.get(lease.subscription_key, ()):
            stream.fail_kpi(KpiFailure(subscription.kpi_code, status))
            self.ticker.mark_dirty(stream)

    async def _resync_loop(self) -> None:
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            try:
                await self.resync()
            except grpc.aio.AioRpcError as error:
                log.warning("refreshing streams failed: %s; retrying", error.code())
                await asyncio.sleep(_RESYNC_RETRY_SECONDS)
                self._resync_wanted.set()

    async def resync(self) -> None:
        """Re-read every held subscription and push what changed meanwhile to its streams."""
        self.resyncs += 1
        held = self.registry.held()
        groups: dict[tuple[str, object], list[SubscriptionId]] = defaultdict(list)
        for subscription in held:
            groups[(subscription.client_id, subscription.period)].append(subscription)
        for subscriptions in groups.values():
            for start in range(0, len(subscriptions), _RESYNC_CHUNK):
                chunk = subscriptions[start : start + _RESYNC_CHUNK]
                snapshots = await self.calculation.snapshots(
                    chunk, self.settings.resync_history_buckets
                )
                keys = {s.kpi_code: held[s].subscription_key for s in chunk if s in held}
                for snapshot in snapshots:
                    key = snapshot.subscription_key or keys.get(snapshot.kpi_code, "")
                    if key and not _failed(snapshot):
                        self._fan_out(key, snapshot_values(snapshot))

    def shut_down(self) -> None:
        """End every stream with SERVER_SHUTDOWN and refuse new ones."""
        self.closing = True
        for stream in self.ticker.all_streams():
            stream.end(shutdown_ending())

    async def run(self) -> None:
        """The hub's background work; ends every stream when it stops (shutdown or failure)."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.ticker.run())
                tasks.create_task(self.listener.run())
                tasks.create_task(self.registry.renew_loop(self._request_resync, self._on_refused))
                tasks.create_task(self.registry.release_loop())
                tasks.create_task(self._resync_loop())
        finally:
            self.shut_down()
            try:
                async with asyncio.timeout(1.0):
                    await self.registry.release_everything()
            except (grpc.aio.AioRpcError, TimeoutError) as error:
                log.warning("releasing this hub's leases at shutdown failed: %r", error)
