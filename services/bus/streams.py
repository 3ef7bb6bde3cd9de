"""Redis streams carrying event envelopes: a pipelined publisher and a consumer-group consumer.

Delivery is at least once. A consumer acknowledges entries only after its handler returned; when
the handler fails, the entries stay pending and are read again (first by the same consumer, which
re-reads its own backlog before new entries; if it died, by whichever consumer claims entries
pending longer than `claim_idle_seconds`). Handlers must therefore be idempotent.

A consumer may run several handler calls at once (`concurrency`): the next read starts as soon as
a call is under way instead of after it, so an entry arriving during a long call is not held back
until that call ends. Calls then finish in any order, so handlers must also tolerate an older
batch finishing after a newer one.

A batch whose call ended while the reader was waiting for it (every call slot taken, as with one
call at a time) is acknowledged in the same round trip as the next read, which follows at once:
acknowledging on its own took a round trip between every batch and the next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from analytics.events.v1 import events_pb2

from services.bus.envelopes import ENVELOPE_FIELD, decode_envelope

log = logging.getLogger(__name__)

# Errors that mean "Redis is not there right now": wait and try again.
REDIS_DOWN: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
)

# Anything that means Redis did not do what was asked (down, slow, or refusing).
BUS_FAILURES: tuple[type[BaseException], ...] = (*REDIS_DOWN, redis.RedisError, TimeoutError)

# One pipeline carries at most this many commands; a larger batch takes several round trips.
_PIPELINE_CHUNK = 1_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class StreamPublisher:
    """Appends envelopes to streams, a batch per round trip. Streams are capped (approximately)
    at `max_length` entries: the bus is a conveyor, not an archive."""

    def __init__(self, client: redis.Redis, *, max_length: int = 100_000) -> None:
        self._redis = client
        self._max_length = max_length

    async def publish(
        self, stream: str, envelopes: Sequence[events_pb2.EventEnvelope]
    ) -> list[str]:
        """Entry ids, in order. Raises when Redis did not accept every entry (some may have been
        appended: callers that retry publish them again, which at-least-once allows)."""
        ids: list[str] = []
        for first in range(0, len(envelopes), _PIPELINE_CHUNK):
            async with self._redis.pipeline(transaction=False) as pipe:
                for message in envelopes[first : first + _PIPELINE_CHUNK]:
                    pipe.xadd(
                        stream,
                        {ENVELOPE_FIELD: message.SerializeToString()},
                        maxlen=self._max_length,
                        approximate=True,
                    )
                ids.extend(_text(entry_id) for entry_id in await pipe.execute())
        return ids


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to a consumer."""

    entry_id: str
    envelope: events_pb2.EventEnvelope


Handler = Callable[[Sequence[Delivery]], Awaitable[None]]


def consumer_name(prefix: str) -> str:
    """A consumer name unique to this process: a restarted process is a new consumer, and what
    the old one left pending is claimed once it has been idle long enough."""
    return f"{prefix}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ConsumerSettings:
    # Entries per read (and so per handler call: events arriving together are handled together).
    batch_size: int = 256
    # How long a read waits for new entries before looping (also bounds shutdown latency).
    block_ms: int = 1_000
    # An entry pending this long belongs to a consumer presumed dead and may be claimed.
    claim_idle_seconds: float = 30.0
    # How often to look for such entries.
    claim_every_seconds: float = 5.0
    # Consumers (of restarted processes) idle this long with nothing pending are removed from
    # the group, so it does not collect the names of every process that ever ran.
    forget_idle_consumers_seconds: float = 3_600.0
    # Wait after a failure (Redis down, handler error), doubling up to the maximum.
    retry_first_seconds: float = 0.1
    retry_max_seconds: float = 5.0
    # Handler calls under way at once. With one, a batch is read only after the previous one was
    # handled; with more, reading goes on while earlier batches are handled (entries arriving
    # while every call is busy are read together when one ends).
    concurrency: int = 1


class StreamConsumer:
    """One consumer of a consumer group. `run(handler)` loops until cancelled."""

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        settings: ConsumerSettings = ConsumerSettings(),
    ) -> None:
        self._redis = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._settings = settings
        # Read our own pending entries before new ones: after a failure, and at start.
        self._backlog = True
        # The wait before the next attempt after a failure; back to the first once reading found
        # nothing to do or a handler call succeeded.
        self._retry = settings.retry_first_seconds
        # Entries handled while the reader waited for a free call slot: acknowledged ahead of the
        # next read, in its round trip (kept until that succeeds: the backlog must not return
        # them).
        self._handled: list[str] = []
        self._reader_waiting = False

    async def ensure_group(self) -> None:
        """Creates the group (and the stream) if missing. A new group starts at the beginning of
        the stream, so entries appended before it existed — e.g. by a relay catching up after
        Redis lost its data — are not skipped."""
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read(self, block_ms: int | None = None) -> list[Delivery]:
        """The next entries for this consumer: its own backlog while there is one, then new
        entries (waiting up to `block_ms` for some)."""
        if self._backlog:
            deliveries = await self._read_group("0", None)
            if deliveries:
                return deliveries
            self._backlog = False
        return await self._read_group(
            ">", self._settings.block_ms if block_ms is None else block_ms
        )

    async def _read_group(self, start: str, block_ms: int | None) -> list[Delivery]:
        handled = self._handled[:]
        if handled:
            # Acknowledged first: a read of the backlog must not hand them out again.
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xack(self.stream, self.group, *handled)
                self._queue_read(pipe, start, block_ms)
                _, reply = await pipe.execute()
            del self._handled[: len(handled)]
        else:
            reply = await self._queue_read(self._redis, start, block_ms)
        # RESP2 shape: [[stream, [(id, fields), ...]]], or nothing when the wait timed out.
        return await self._decoded(reply[0][1] if reply else [])

    def _queue_read(self, client: Any, start: str, block_ms: int | None) -> Any:
        return client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: start},
            count=self._settings.batch_size,
            block=block_ms,
        )

    async def claim_stale(self) -> list[Delivery]:
        """Takes over entries another consumer left pending for longer than the claim time."""
        reply: Any = await self._redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=int(self._settings.claim_idle_seconds * 1000),
            start_id="0-0",
            count=self._settings.batch_size,
        )
        return await self._decoded(reply[1])

    async def forget_idle_consumers(self) -> list[str]:
        """Removes other consumers idle past the limit with no pending entries; returns them."""
        limit_ms = int(self._settings.forget_idle_consumers_seconds * 1000)
        consumers: list[dict[str, Any]] = await self._redis.xinfo_consumers(self.stream, self.group)
        forgotten = [
            _text(consumer["name"])
            for consumer in consumers
            if int(consumer["pending"]) == 0
            and int(consumer["idle"]) >= limit_ms
            and _text(consumer["name"]) != self.consumer
        ]
        for name in forgotten:
            await self._redis.xgroup_delconsumer(self.stream, self.group, name)
        return forgotten

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await self._redis.xack(self.stream, self.group, *(d.entry_id for d in deliveries))

    async def _decoded(self, entries: Sequence[Any]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        unreadable: list[str] = []
        for entry_id, fields in entries:
            if entry_id is None:
                continue
            payload = (fields or {}).get(ENVELOPE_FIELD)
            message = decode_envelope(payload) if isinstance(payload, bytes) else None
            if message is None:
                # Retrying cannot make it readable: acknowledge it so it does not come back.
                unreadable.append(_text(entry_id))
                continue
            deliveries.append(Delivery(_text(entry_id), message))
        if unreadable:
            log.warning(
                "dropping %d unreadable entries of %s: %s",
                len(unreadable),
                self.stream,
                ", ".join(unreadable[:5]),
            )
            await self._redis.xack(self.stream, self.group, *unreadable)
        return deliveries

    async def run(self, handler: Handler) -> None:
        """Reads, hands batches to `handler` and acknowledges them, until cancelled. Survives
        Redis outages (waits and reconnects, recreating the group if Redis lost it) and handler
        failures (the batch stays pending and is handled again after a pause). Up to
        `concurrency` batches are handled at once."""
        in_flight: set[asyncio.Task[bool]] = set()
        try:
            await self._run(handler, in_flight)
        finally:
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)
            await self._acknowledge_handled()

    async def _acknowledge_handled(self) -> None:
        """Acknowledges what waited for the next read, when there will be none (best effort:
        what stays pending is claimed and handled again, which handlers tolerate)."""
        handled, self._handled = self._handled, []
        if handled:
            try:
                async with asyncio.timeout(self._settings.retry_max_seconds):
                    await self._redis.xack(self.stream, self.group, *handled)
            except BUS_FAILURES as error:
                log.warning(
                    "acknowledging %d entries of %s failed: %r", len(handled), self.stream, error
                )

    async def _run(self, handler: Handler, in_flight: set[asyncio.Task[bool]]) -> None:
        settings = self._settings
        group_ready = False
        next_claim = time.monotonic()
        while True:
            try:
                # Our own pending entries include those being handled: reading them again while
                # they are would hand them out twice, so the backlog is read with none under way.
                limit = 1 if self._backlog else max(1, settings.concurrency)
                if not await self._slot_free(in_flight, limit):
                    raise _HandlingFailed
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                deliveries: list[Delivery] = []
                if time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + settings.claim_every_seconds
                    deliveries = await self.claim_stale()
                    await self.forget_idle_consumers()
                if not deliveries:
                    deliveries = await self.read()
                if deliveries:
                    task = asyncio.create_task(self._handle(handler, deliveries))
                    in_flight.add(task)
                else:
                    self._retry = settings.retry_first_seconds
                continue
            except asyncio.CancelledError:
                raise
            except _HandlingFailed:
                pass  # logged where it failed
            except redis.ResponseError as error:
                if "NOGROUP" in str(error):
                    # Redis restarted without its data: the group is gone.
                    log.warning(
                        "consumer group %s of %s is gone; recreating", self.group, self.stream
                    )
                    group_ready = False
                    await self._settle(in_flight)
                    self._backlog = True
                    continue
                log.exception("reading %s failed", self.stream)
            except REDIS_DOWN as error:
                log.warning("bus unavailable (%r); retrying in %.1f s", error, self._retry)
                group_ready = False
            except Exception:
                log.exception("reading %s failed", self.stream)
            await self._settle(in_flight)
            self._backlog = True
            await asyncio.sleep(self._retry)
            self._retry = min(self._retry * 2, settings.retry_max_seconds)

    async def _handle(self, handler: Handler, deliveries: Sequence[Delivery]) -> bool:
        """One handler call, acknowledged when it returned; False when it (or the
        acknowledgement) failed and the entries stay pending."""
        try:
            await handler(deliveries)
            if self._reader_waiting:
                # The reader reads as soon as this call ends: the acknowledgement goes with it.
                self._handled.extend(d.entry_id for d in deliveries)
            else:
                await self.ack(deliveries)
        except asyncio.CancelledError:
            raise
        except REDIS_DOWN as error:
            log.warning("bus unavailable while handling %s (%r)", self.stream, error)
            return False
        except Exception:
            log.exception("handling entries of %s failed; they stay pending", self.stream)
            return False
        self._retry = self._settings.retry_first_seconds
        return True

    async def _slot_free(self, in_flight: set[asyncio.Task[bool]], limit: int) -> bool:
        """Waits until fewer than `limit` calls are under way; False when one that ended failed
        (the others are then left to end first: the failed entries are re-read with the
        backlog)."""
        ok = True
        while True:
            for task in [t for t in in_flight if t.done()]:
                in_flight.discard(task)
                ok = ok and task.result()
            if not ok:
                return False
            if len(in_flight) < limit:
                return True
            self._reader_waiting = True
            try:
                await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self._reader_waiting = False

    @staticmethod
    async def _settle(in_flight: set[asyncio.Task[bool]]) -> None:
        """Lets every call under way end (acknowledging what it handled)."""
        if in_flight:
            await asyncio.wait(in_flight)
            in_flight.clear()


class _HandlingFailed(Exception):
    """A handler call failed: its entries stay pending and are read again with the backlog."""
