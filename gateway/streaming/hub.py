"""The hub: open streams, the subscriptions they share, and the fan-out of published updates.

A stream's life: lease its subscriptions (shared with every other stream of this hub that watches
them), subscribe their channels, read a snapshot, then receive every published change until it
closes. Fan-out never waits on a client: a change goes into the coalescing buffer of each audience
watching it (once, however many streams the audience has), and each tick hands the buffer on to the
audience's streams and wakes their handlers to send.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics.calculation.v1 import calculation_pb2
from analytics.events.v1 import events_pb2
from analytics.type.v1 import types_pb2
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, status_pb2

from gateway.streaming.audiences import Audience, Audiences
from gateway.streaming.calculation_client import (
    CalculationSubscriptions,
    Lease,
    SubscriptionId,
    Viewer,
)
from gateway.streaming.channel_listener import ChannelListener
from gateway.streaming.latest_values import LatestValues, update_rank
from gateway.streaming.live_stream import Ending, EndReason, KpiFailure, LiveStream
from gateway.streaming.snapshot_reads import SnapshotReads, failed
from gateway.streaming.stream_request import StreamRequest
from gateway.streaming.subscriptions import SubscriptionRegistry
from gateway.streaming.ticker import Ticker, TickSettings, utc_now
from gateway.streaming.wire import SharedValueEncodings
from services.errors import Unavailable
from services.security.caller import current_caller

log = logging.getLogger(__name__)

_RESYNC_RETRY_SECONDS = 1.0
_LOOP_RESTART_SECONDS = 1.0
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
    held: Mapping[SubscriptionId, Lease] = field(default_factory=dict)
    audience: Audience | None = None
    # The snapshot's KPI series, encoded (shared with the streams that opened together).
    series: list[bytes] = field(default_factory=list)
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
        self._audiences = Audiences(settings.max_pending_values)
        self._shared_values = SharedValueEncodings()
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
        # Keyed by the caller's rights: viewers with different rights never share a value.
        caller = current_caller()
        viewer = Viewer.of(caller) if caller is not None else None
        wanted = [
            SubscriptionId(request.client_id, code, request.period, viewer)
            for code in request.kpi_codes
        ]
        try:
            acquired = await self.registry.acquire(wanted)
            opened.audience = self._audiences.join(stream, acquired.granted)
            # Shared with every stream holding the same leases; this stream's own copy goes.
            opened.held = opened.audience.held
            for lease in acquired.granted.values():
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
        reads = await self.snapshot_reads.get(subscriptions, opened.request.history_buckets)
        by_code = {read.snapshot.kpi_code: read for read in reads}
        for code in opened.request.kpi_codes:
            read = by_code.get(code)
            if read is None:
                continue
            if failed(read.snapshot):
                opened.failures.append(KpiFailure(code, read.snapshot.error))
            else:
                opened.series.append(read.encoded)
                opened.stream.discard_covered_by(
                    snapshot_values(read.snapshot),
                    opened.audience.pending if opened.audience is not None else None,
                )

    def encoded_values(self, values: list[types_pb2.KpiValue]) -> bytes:
        """An update's values, encoded once per tick for every stream that sends the same."""
        return self._shared_values.encoded(self.ticker.ticks, values)

    def close(self, opened: OpenedStream) -> None:
        """Forget a stream; subscriptions nobody on this hub watches any more are released."""
        stream = opened.stream
        self.ticker.remove(stream)
        if opened.audience is not None:
            for key in self._audiences.leave(stream, opened.audience):
                self._latest.forget(key)
            opened.audience = None
        for lease in opened.held.values():
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
        self._fan_out(update.subscription_key, update.values, update_rank(update.data_versions))

    def _fan_out(
        self,
        subscription_key: str,
        values: Iterable[types_pb2.KpiValue],
        rank: int | None = None,
    ) -> None:
        audiences = self._audiences.audiences_watching(subscription_key)
        if not audiences:
            return
        news = self._latest.changed(subscription_key, values, rank)
        if not news:
            return
        # Into each audience's buffer once, whatever its number of streams; the tick hands it on.
        for audience in audiences:
            audience.offer(news)
            self.ticker.mark_deliverer_dirty(audience)

    async def _request_resync(self) -> None:
        self._resync_wanted.set()

    def _on_refused(self, subscription: SubscriptionId, status: status_pb2.Status) -> None:
        lease = self.registry.held().get(subscription)
        if lease is None:
            return
        for streams in self._audiences.watching(lease.subscription_key):
            for stream in streams:
                stream.fail_kpi(KpiFailure(subscription.kpi_code, status))
            self.ticker.mark_all_dirty(streams)

    async def _resync_loop(self) -> None:
        while True:
            await self._resync_wanted.wait()
            self._resync_wanted.clear()
            try:
                await self.resync()
            except Unavailable as error:
                log.warning("refreshing streams failed: %s; retrying", error)
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
                    if key and not failed(snapshot):
                        self._fan_out(key, snapshot_values(snapshot))

    def shut_down(self) -> None:
        """End every stream with SERVER_SHUTDOWN and refuse new ones."""
        self.closing = True
        for stream in self.ticker.all_streams():
            stream.end(shutdown_ending())

    async def run(self) -> None:
        """The hub's background work, until cancelled (shutdown); then ends every stream."""
        loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "ticker": self.ticker.run,
            "redis listener": self.listener.run,
            "lease renewal": lambda: self.registry.renew_loop(
                self._request_resync, self._on_refused
            ),
            "lease release": self.registry.release_loop,
            "stream refresh": self._resync_loop,
        }
        try:
            async with asyncio.TaskGroup() as tasks:
                for name, loop in loops.items():
                    tasks.create_task(_kept_running(name, loop))
        finally:
            self.shut_down()
            try:
                async with asyncio.timeout(1.0):
                    await self.registry.release_everything()
            except (Unavailable, TimeoutError) as error:
                log.warning("releasing this hub's leases at shutdown failed: %s", error)


async def _kept_running(name: str, loop: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one of the hub's loops for the life of the process. A loop that fails unexpectedly is
    logged and started again: the process stays up serving streams, so a hub whose loops had
    stopped would accept streams that never move."""
    while True:
        try:
            await loop()
        except Exception:
            log.exception("the hub's %s failed; restarting it", name)
        await asyncio.sleep(_LOOP_RESTART_SECONDS)
