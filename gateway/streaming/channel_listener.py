"""The hub's one Redis pub/sub connection: subscribed to every channel at least one open stream
needs (reference-counted), re-established after Redis restarts.

Subscriptions are desired state: streams add and remove channels without waiting on Redis, and a
writer reconciles the connection with that state in batches (one SUBSCRIBE for a reconnect storm of
thousands of streams). After a reconnection, `on_reconnected` runs: messages published while the
connection was down are lost, so the hub refreshes its streams from fresh snapshots.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import redis.asyncio as redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

_BACKOFF_START_SECONDS = 0.1
_BACKOFF_MAX_SECONDS = 2.0
_READ_WAIT_SECONDS = 5.0

MessageHandler = Callable[[str, bytes], None]


class ChannelListener:
    def __init__(
        self,
        redis_url: str,
        on_message: MessageHandler,
        on_reconnected: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        # No retries inside redis-py: its silent reconnect would re-subscribe without telling us,
        # and the streams would never learn that they missed messages.
        self._client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
        )
        self._on_message = on_message
        self._on_reconnected = on_reconnected
        self._wanted: dict[str, int] = {}
        self._active: set[str] = set()
        self._confirmations: dict[str, list[asyncio.Future[None]]] = {}
        self._changed = asyncio.Event()
        self.connected = False
        self.connections = 0

    @property
    def channels(self) -> frozenset[str]:
        """Channels some stream needs."""
        return frozenset(self._wanted)

    @property
    def active_channels(self) -> frozenset[str]:
        """Channels Redis confirmed on the current connection."""
        return frozenset(self._active)

    def add(self, channel: str) -> None:
        count = self._wanted.get(channel, 0)
        self._wanted[channel] = count + 1
        if count == 0:
            self._changed.set()

    def remove(self, channel: str) -> None:
        count = self._wanted.get(channel, 0)
        if count <= 1:
            self._wanted.pop(channel, None)
            self._changed.set()
        else:
            self._wanted[channel] = count - 1

    async def wait_subscribed(self, channels: list[str], limit_seconds: float) -> bool:
        """Wait until Redis confirmed every channel (so no message published from then on is
        missed); False when it did not within `limit_seconds` (e.g. Redis is down)."""
        loop = asyncio.get_running_loop()
        waits = []
        for channel in channels:
            if channel in self._active:
                continue
            future: asyncio.Future[None] = loop.create_future()
            self._confirmations.setdefault(channel, []).append(future)
            waits.append(future)
        if not waits:
            return True
        _, pending = await asyncio.wait(waits, timeout=limit_seconds)
        for future in pending:
            future.cancel()
        return not pending

    async def run(self) -> None:
        backoff = _BACKOFF_START_SECONDS
        try:
            while True:
                try:
                    await self._session()
                except (redis.ConnectionError, redis.TimeoutError, OSError) as error:
                    if self.connected:
                        log.warning("redis pub/sub connection lost: %r", error)
                    self.connected = False
                    self._active.clear()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX_SECONDS)
                else:
                    backoff = _BACKOFF_START_SECONDS
        finally:
            await self._client.aclose()

    async def _session(self) -> None:
        """One connection's life: subscribe to what is wanted, then read and reconcile."""
        pubsub = self._client.pubsub()
        try:
            await pubsub.ping()  # connects (and raises while Redis is down)
            first = self.connections == 0
            self.connections += 1
            self.connected = True
            self._changed.set()
            if not first:
                log.info("redis pub/sub connection re-established")
                asyncio.get_running_loop().create_task(self._on_reconnected())
            writer = asyncio.create_task(self._reconcile(pubsub))
            try:
                while True:
                    if writer.done():
                        writer.result()
                    message = await pubsub.get_message(timeout=_READ_WAIT_SECONDS)
                    if message is not None:
                        self._handle(message)
            finally:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
        finally:
            self.connected = False
            self._active.clear()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _reconcile(self, pubsub: Any) -> None:
        subscribed: set[str] = set()
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = set(self._wanted)
            to_subscribe = sorted(wanted - subscribed)
            to_unsubscribe = sorted(subscribed - wanted)
            if to_subscribe:
                await pubsub.subscribe(*to_subscribe)
                subscribed.update(to_subscribe)
            if to_unsubscribe:
                await pubsub.unsubscribe(*to_unsubscribe)
                subscribed.difference_update(to_unsubscribe)
                self._active.difference_update(to_unsubscribe)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = message["channel"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind == "message":
            try:
                self._on_message(name, message["data"])
            except Exception:  # noqa: BLE001 - one bad message must not stop the hub
                log.exception("handling a message on %s failed", name)
        elif kind == "subscribe":
            self._active.add(name)
            for future in self._confirmations.pop(name, []):
                if not future.done():
                    future.set_result(None)
        elif kind == "unsubscribe":
            self._active.discard(name)
