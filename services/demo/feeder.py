"""Sends the live demo feed to the data service: `DataService/IngestRows` over gRPC, one small
batch per object model every `interval`, each with an idempotency key.

The feeder outlives the data service: a batch that meets UNAVAILABLE (the service restarting,
not started yet) or a deadline stays queued and is sent again with backoff, while the feed keeps
advancing, so nothing acknowledged is lost and nothing is sent twice in a way that matters (a
retried batch carries the same key; rows carry natural keys). Rows of one model go out in the
order they happened, so a record's later state never lands before its earlier one. A batch the
service refuses for good (INVALID_ARGUMENT, NOT_FOUND) is logged and dropped; nothing that comes
back from the service stops the feeder.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import decimal
import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from google.protobuf import struct_pb2

from services.demo.feed import FeedEvent, LiveFeed

logger = logging.getLogger(__name__)

SOURCE_SYSTEM = "analytics-engine demo feed"
# Codes worth waiting out however long: the service is (re)starting, overloaded or slow.
_WAIT_OUT = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
})
# Codes that may be transient (a database restarting under the service) or may be a defect: a
# batch gets a few attempts, then is dropped so that it cannot block its model's queue forever.
_RETRY_A_FEW = frozenset({
    grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
})
MAX_ATTEMPTS_OF_DOUBTFUL_FAILURES = 5
# Reconnect soon after the data service comes back rather than after gRPC's default backoff.
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]

Clock = Callable[[], datetime.datetime]
# DataServiceStub on an aio channel; the generated stub is typed for the blocking one.
AsyncStub = Any


def wall_clock() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class FeederSettings:
    address: str
    """host:port of the data service (or of Envoy, which routes DataService)."""
    interval: float = 0.25
    call_timeout: float = 10.0
    max_batch_rows: int = 1_000
    first_backoff: float = 0.25
    max_backoff: float = 5.0
    max_queued_rows: int = 200_000
    """Beyond this (a data service down for a long time), the oldest batches are dropped."""
    credentials: Callable[[], Sequence[tuple[str, str]]] | None = None
    """Call metadata carrying the bearer token the data service checks (asked for on each call,
    so a long feed can renew it)."""


@dataclasses.dataclass
class ModelCounts:
    sent_rows: int = 0
    """Rows the service acknowledged (written, or identical to what it held)."""
    written_rows: int = 0
    data_version: int = 0


@dataclasses.dataclass
class FeederStats:
    """What the feeder did so far; read by whoever prints progress."""

    started: float = dataclasses.field(default_factory=time.monotonic)
    models: dict[str, ModelCounts] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(ModelCounts))
    batches: int = 0
    retries: int = 0
    dropped_rows: int = 0
    queued_rows: int = 0
    waiting_since: float | None = None
    """When the data service stopped answering (None while it answers)."""

    @property
    def sent_rows(self) -> int:
        return sum(counts.sent_rows for counts in self.models.values())

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


@dataclasses.dataclass
class _Batch:
    client_id: str
    object_model_code: str
    rows: tuple[dict[str, Any], ...]
    idempotency_key: str
    doubtful_failures: int = 0


class Feeder:
    """Advances `feed` on `clock` and ingests what it produces until stopped."""

    def __init__(self, feed: LiveFeed, settings: FeederSettings,
                 clock: Clock = wall_clock) -> None:
        self.feed = feed
        self.settings = settings
        self.stats = FeederStats()
        self._clock = clock
        self._queues: dict[str, collections.deque[_Batch]] = collections.defaultdict(
            collections.deque)
        self._backoff = 0.0
        self._retry_at = 0.0

    def _metadata(self) -> Sequence[tuple[str, str]] | None:
        credentials = self.settings.credentials
        return None if credentials is None else credentials()

    async def run(self, stop: asyncio.Event, *, duration: float | None = None,
                  on_tick: Callable[[FeederStats], None] | None = None) -> FeederStats:
        """Feeds until `stop` is set or `duration` seconds have passed, then sends what is
        queued (briefly) and returns the counts."""
        async with grpc.aio.insecure_channel(self.settings.address,
                                             options=_CHANNEL_OPTIONS) as channel:
            stub = data_pb2_grpc.DataServiceStub(channel)
            return await self._loop(stub, stop, duration, on_tick)

    async def _loop(self, stub: AsyncStub,
                    stop: asyncio.Event, duration: float | None,
                    on_tick: Callable[[FeederStats], None] | None) -> FeederStats:
        deadline = None if duration is None else time.monotonic() + duration
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            began = time.monotonic()
            self.enqueue(self.feed.advance(self._clock()))
            await self.flush(stub)
            if on_tick is not None:
                on_tick(self.stats)
            pause = self.settings.interval - (time.monotonic() - began)
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            if pause > 0:
                try:
                    await asyncio.wait_for(stop.wait(), pause)
                except TimeoutError:
                    pass
        # A last flush, so a feed stopped on purpose leaves nothing it produced unsent when the
        # service is there; a service that is down does not hold up the stop.
        self._retry_at = 0.0
        await self.flush(stub)
        return self.stats

    def enqueue(self, events: Iterable[FeedEvent]) -> None:
        by_model: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for event in events:
            by_model[event.object_model_code].append(event.row)
        for code, rows in by_model.items():
            for first in range(0, len(rows), self.settings.max_batch_rows):
                chunk = tuple(rows[first:first + self.settings.max_batch_rows])
                self._queues[code].append(_Batch(self.feed.spec.client_id, code, chunk,
                                                 _idempotency_key(code, chunk)))
                self.stats.queued_rows += len(chunk)
        self._shed()

    async def flush(self, stub: AsyncStub) -> None:
        """Sends each model's queue in order, the models side by side; stops a model's queue at
        its first transient failure and backs every model off together (one service)."""
        if time.monotonic() < self._retry_at:
            return
        results = await asyncio.gather(*(self._drain(code, stub)
                                         for code in sorted(self._queues)))
        if all(results):
            if self.stats.waiting_since is not None:
                logger.info("the data service answers again after %.1f s; sending the backlog",
                            time.monotonic() - self.stats.waiting_since)
            self.stats.waiting_since = None
            self._backoff = 0.0
            return
        if self.stats.waiting_since is None:
            self.stats.waiting_since = time.monotonic()
        self._backoff = min(self.settings.max_backoff,
                            max(self.settings.first_backoff, self._backoff * 2))
        self._retry_at = time.monotonic() + self._backoff

    async def _drain(self, code: str,
                     stub: AsyncStub) -> bool:
        """True when the queue is empty; False when the service did not answer."""
        queue = self._queues[code]
        while queue:
            batch = queue[0]
            try:
                response = await stub.IngestRows(
                    _request(batch), timeout=self.settings.call_timeout,
                    metadata=self._metadata())
            except grpc.aio.AioRpcError as error:
                if error.code() in _RETRY_A_FEW:
                    batch.doubtful_failures += 1
                if error.code() in _WAIT_OUT or (
                        error.code() in _RETRY_A_FEW
                        and batch.doubtful_failures < MAX_ATTEMPTS_OF_DOUBTFUL_FAILURES):
                    self.stats.retries += 1
                    if self.stats.waiting_since is None:
                        logger.warning("the data service did not take %s rows (%s: %s); "
                                       "retrying with backoff", code, error.code().name,
                                       error.details())
                    return False
                logger.error("the data service refused a %s batch of %d rows (%s: %s); "
                             "dropping it", code, len(batch.rows), error.code().name,
                             error.details())
                self._forget(queue, dropped=True)
                continue
            counts = self.stats.models[code]
            counts.sent_rows += len(batch.rows)
            counts.written_rows += response.accepted_row_count
            counts.data_version = max(counts.data_version, response.data_version)
            self.stats.batches += 1
            self._forget(queue, dropped=False)
        return True

    def _forget(self, queue: collections.deque[_Batch], *, dropped: bool) -> None:
        batch = queue.popleft()
        self.stats.queued_rows -= len(batch.rows)
        if dropped:
            self.stats.dropped_rows += len(batch.rows)

    def _shed(self) -> None:
        """Drop the oldest batches while far more is queued than a short outage explains."""
        while self.stats.queued_rows > self.settings.max_queued_rows:
            code = max((c for c, queue in self._queues.items() if queue),
                       key=lambda c: len(self._queues[c]))
            logger.warning("the data service has been away too long; dropping the oldest %s "
                           "batch", code)
            self._forget(self._queues[code], dropped=True)


def _request(batch: _Batch) -> data_pb2.IngestRowsRequest:
    return data_pb2.IngestRowsRequest(
        object_model_code=batch.object_model_code,
        client_id=batch.client_id,
        idempotency_key=batch.idempotency_key,
        rows=[row_struct(row) for row in batch.rows],
        source_system=SOURCE_SYSTEM,
    )


def row_struct(row: Mapping[str, Any]) -> struct_pb2.Struct:
    """A row as the Struct IngestRows takes: decimals as exact text, times as RFC 3339."""
    message = struct_pb2.Struct()
    message.update({name: _wire_value(value) for name, value in row.items()})
    return message


def _wire_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        # A double would round money; the ingest validation reads decimal text exactly.
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    return value


def _idempotency_key(code: str, rows: tuple[dict[str, Any], ...]) -> str:
    # The same rows give the same key, so a batch resent by a restarted feeder over the same
    # seconds is answered from the first commit (keys are scoped by client and model).
    digest = hashlib.blake2b(repr(rows).encode(), digest_size=12).hexdigest()
    return f"demo-feed:{code}:{digest}"
