"""The outbox relay: announces committed changes on the bus.

Ingest writes one `analytics.change_outbox` row per committed change, in the same transaction as
the rows (services/data/store.py). This loop takes the rows not yet relayed, in id order and in
batches, locks and stamps them relayed, publishes one `DataChanged` envelope per row to the
data-changed stream with one pipelined XADD, and commits the stamps only after Redis accepted
every entry (a refused publish rolls them back). Delivery is therefore at least once: a crash
between the XADD and the commit publishes the batch again (with the same event ids; consumers are
idempotent).

The relay wakes when PostgreSQL notifies it (every transaction that writes the outbox sends a
NOTIFY on `ingest_statement.OUTBOX_CHANNEL`, delivered at commit) and polls only as a fallback,
for the moments when its listening connection is being re-established: a change is announced within
milliseconds of its commit, and an idle relay costs nothing.

Ingest never waits for any of this: when Redis is down the rows wait in the outbox, the relay
backs off, and it catches up once Redis answers. Several data replicas may relay side by side:
`FOR UPDATE SKIP LOCKED` hands each batch to one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg
import redis.asyncio as redis
from analytics.events.v1 import events_pb2

from services.bus.envelopes import envelope
from services.bus.names import DATA_CHANGED_STREAM
from services.bus.streams import BUS_FAILURES, StreamPublisher
from services.data.ingest_statement import OUTBOX_CHANNEL

log = logging.getLogger(__name__)

# Event ids derive from the outbox id, so a batch published twice carries the same ids.
_EVENT_NAMESPACE = uuid.UUID("6f0e4f64-54a4-4c1b-9a43-6d8b1f0c2a51")

# The batch is locked and stamped relayed by one statement, before the publish: should the publish
# fail, the transaction rolls back and the rows are unrelayed again; only its commit makes the
# stamp stick, and that follows a publish Redis accepted. One statement rather than a SELECT and
# an UPDATE saves a round trip per batch — at a hundred commits a second, a batch per commit.
# Losing the stamp in a crash only publishes the batch again (delivery is at least once anyway),
# so its commit need not wait for the disk: a relay waiting on that flush held back every change
# committed meanwhile. The statement also switches its transaction to that (set_config(...,
# true) is SET LOCAL), so nothing but the claim comes before the publish.
_CLAIM_BATCH = """
WITH batch AS (
    SELECT id FROM analytics.change_outbox
    WHERE relayed_at IS NULL
    ORDER BY id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
), stamped AS (
    UPDATE analytics.change_outbox AS o
    SET relayed_at = now()
    FROM batch
    WHERE o.id = batch.id
    RETURNING o.id, o.client_id, o.object_model_code, o.range_start, o.range_end, o.watermark,
              o.row_count, o.data_version, o.created_at
)
SELECT stamped.*, set_config('synchronous_commit', 'off', true) AS no_flush_wait
FROM stamped
ORDER BY id
"""

_PRUNE = """
DELETE FROM analytics.change_outbox
WHERE id IN (SELECT id FROM analytics.change_outbox
             WHERE relayed_at < now() - $1::interval LIMIT $2)
"""


Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


@dataclass(frozen=True)
class RelaySettings:
    # Outbox rows per XADD pipeline (and per transaction).
    batch_size: int = 500
    # Longest pause when the outbox is empty: a notification ends it at once, so this only bounds
    # the delay of a change whose notification was lost (while the listener reconnected).
    idle_poll_seconds: float = 1.0
    # The pause while no listening connection is up: then polling is all there is.
    unnotified_poll_seconds: float = 0.05
    # How long to wait for a connection to listen on, and how often to try again after failing.
    listen_timeout_seconds: float = 2.0
    listen_retry_seconds: float = 5.0
    # Pause after a failure (Redis or PostgreSQL down), doubling up to the maximum.
    retry_first_seconds: float = 0.1
    retry_max_seconds: float = 5.0
    # A publish that takes longer than this counts as failed (the batch is retried).
    publish_timeout_seconds: float = 5.0
    # Relayed rows are kept this long (for tracing delivery), then deleted.
    keep_relayed: datetime.timedelta = datetime.timedelta(days=1)
    prune_every_seconds: float = 60.0


@dataclass(frozen=True)
class RelayStats:
    batches: int
    events: int
    failures: int


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        client: redis.Redis,
        settings: RelaySettings = RelaySettings(),
        *,
        stream: str = DATA_CHANGED_STREAM,
    ) -> None:
        self._pool = pool
        self._publisher = StreamPublisher(client)
        self._settings = settings
        self._stream = stream
        self._batches = self._events = self._failures = 0

    @property
    def stats(self) -> RelayStats:
        return RelayStats(self._batches, self._events, self._failures)

    async def relay_batch(self, connection: Connection | None = None) -> int:
        """Publishes one batch of unrelayed rows and stamps them; returns how many. Raises when
        Redis refused (the rows stay unrelayed). On `connection` when given, else on one from
        the pool."""
        if connection is None:
            async with self._pool.acquire() as pooled:
                return await self.relay_batch(pooled)
        async with connection.transaction():
            rows = await connection.fetch(_CLAIM_BATCH, self._settings.batch_size)
            if not rows:
                return 0
            # Raising here rolls the stamps back: the rows stay unrelayed.
            async with asyncio.timeout(self._settings.publish_timeout_seconds):
                await self._publisher.publish(self._stream, [data_changed(row) for row in rows])
        self._batches += 1
        self._events += len(rows)
        return len(rows)

    async def prune(self, connection: Connection | None = None) -> int:
        executor = self._pool if connection is None else connection
        deleted = 0
        while True:
            status = await executor.execute(_PRUNE, self._settings.keep_relayed, 10_000)
            count = int(status.split()[-1])
            deleted += count
            if count < 10_000:
                return deleted

    async def run(self) -> None:
        """Relays until cancelled: straight on while there is a backlog, then waiting for a
        commit's notification (or the fallback poll), backing off while Redis or PostgreSQL is
        down."""
        settings = self._settings
        retry = settings.retry_first_seconds
        next_prune = time.monotonic() + settings.prune_every_seconds
        wake = OutboxNotifications(self._pool, settings)
        # The batches' connection is held rather than taken from the pool for each: giving it
        # back cost a reset round trip per batch, and at a batch per commit that was most of
        # the relay's statements.
        held = HeldConnection(self._pool)
        try:
            while True:
                try:
                    await wake.keep_listening()
                    # Cleared before the batch is read: a commit notified from now on is either
                    # in this batch or wakes the next one.
                    wake.clear()
                    connection = await held.get()
                    relayed = await self.relay_batch(connection)
                    if retry > settings.retry_first_seconds:
                        log.info("outbox relay resumed")
                    retry = settings.retry_first_seconds
                    if time.monotonic() >= next_prune:
                        next_prune = time.monotonic() + settings.prune_every_seconds
                        await self.prune(connection)
                    if relayed < settings.batch_size:
                        await wake.wait()
                    continue
                except asyncio.CancelledError:
                    raise
                except BUS_FAILURES as error:
                    log.warning(
                        "outbox relay: bus unavailable (%r); retrying in %.1f s", error, retry
                    )
                except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
                    log.warning(
                        "outbox relay: database unavailable (%r); retrying in %.1f s", error, retry
                    )
                    await held.drop()
                self._failures += 1
                await asyncio.sleep(retry)
                retry = min(retry * 2, settings.retry_max_seconds)
        finally:
            await held.drop()
            await wake.close()


def _usable(connection: asyncpg.pool.PoolConnectionProxy) -> bool:
    try:
        return not connection.is_closed()
    except asyncpg.InterfaceError:
        return False  # the pool took it back when the server ended it


class HeldConnection:
    """One pooled connection kept between uses, taken again after it broke or was dropped."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._connection: asyncpg.pool.PoolConnectionProxy | None = None

    async def get(self) -> asyncpg.pool.PoolConnectionProxy:
        if self._connection is not None and not _usable(self._connection):
            await self.drop()
        if self._connection is None:
            self._connection = await self._pool.acquire()
        return self._connection

    async def drop(self) -> None:
        """Gives the connection back (the pool discards a broken one, resets a sound one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(connection)


class OutboxNotifications:
    """The commits that wrote the outbox, as a wake-up: LISTEN on one pooled connection, held for
    the relay's life and re-established when it breaks (meanwhile the relay polls)."""

    def __init__(self, pool: asyncpg.Pool, settings: RelaySettings) -> None:
        self._pool = pool
        self._settings = settings
        self._connection: asyncpg.pool.PoolConnectionProxy | None = None
        self._notified = asyncio.Event()
        self._next_attempt = 0.0

    @property
    def listening(self) -> bool:
        return self._connection is not None and _usable(self._connection)

    async def keep_listening(self) -> None:
        """Listen if not listening yet (at most one attempt per retry interval; failing to is
        logged, not raised: the relay falls back to polling)."""
        if self.listening or time.monotonic() < self._next_attempt:
            return
        await self._drop()
        self._next_attempt = time.monotonic() + self._settings.listen_retry_seconds
        try:
            connection = await self._pool.acquire(timeout=self._settings.listen_timeout_seconds)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as error:
            log.warning("outbox relay: cannot listen for commits (%r); polling", error)
            return
        try:
            await connection.add_listener(OUTBOX_CHANNEL, self._on_notification)
        except BaseException:
            await self._pool.release(connection)
            raise
        self._connection = connection
        # Whatever was committed before the LISTEN took effect is picked up by the next batch.
        self._notified.set()

    def _on_notification(self, *_: object) -> None:
        self._notified.set()

    def clear(self) -> None:
        self._notified.clear()

    async def wait(self) -> None:
        """Until a commit is notified, or the poll interval ends."""
        settings = self._settings
        limit = settings.idle_poll_seconds if self.listening else settings.unnotified_poll_seconds
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                await self._notified.wait()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(Exception):
            if not connection.is_closed():
                await connection.remove_listener(OUTBOX_CHANNEL, self._on_notification)
        # A broken connection is discarded by the pool; a sound one is reset (UNLISTEN) and reused.
        with contextlib.suppress(Exception):
            await self._pool.release(connection)

    async def close(self) -> None:
        await self._drop()


def data_changed(row: asyncpg.Record) -> events_pb2.EventEnvelope:
    """The envelope announcing one outbox row."""
    event = events_pb2.DataChanged(
        client_id=row["client_id"],
        object_model_code=row["object_model_code"],
        row_count=row["row_count"],
        data_version=row["data_version"],
        kind=events_pb2.DATA_CHANGE_KIND_INGESTED,
        outbox_ids=[row["id"]],
    )
    event.affected_time_range.start.FromDatetime(_utc(row["range_start"]))
    event.affected_time_range.end.FromDatetime(_utc(row["range_end"]))
    if row["watermark"] is not None:
        event.watermark.FromDatetime(_utc(row["watermark"]))
    return envelope(
        event,
        source="data",
        client_id=str(row["client_id"]),
        occurred_at=_utc(row["created_at"]),
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, f"outbox/{row['id']}")),
    )


def _utc(moment: object) -> datetime.datetime:
    assert isinstance(moment, datetime.datetime)
    return moment.astimezone(datetime.UTC)
