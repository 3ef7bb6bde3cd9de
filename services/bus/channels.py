"""Redis pub/sub channels: pipelined publishing and a listener over the channels one process
watches. What is published while nobody listens is gone; channel users resynchronise from a
snapshot when they (re)subscribe."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass

import redis.asyncio as redis
from google.protobuf.message import Message

_PIPELINE_CHUNK = 1_000


async def publish_many(client: redis.Redis, messages: Sequence[tuple[str, Message]]) -> int:
    """Publishes each (channel, message) serialized, in one round trip per thousand; returns how
    many subscribers received them in total."""
    received = 0
    for first in range(0, len(messages), _PIPELINE_CHUNK):
        async with client.pipeline(transaction=False) as pipe:
            for channel, message in messages[first : first + _PIPELINE_CHUNK]:
                pipe.publish(channel, message.SerializeToString())
            received += sum(int(count) for count in await pipe.execute())
    return received


@dataclass(frozen=True)
class ChannelMessage:
    channel: str
    data: bytes


class ChannelListener:
    """The channels one process listens to, over one connection. Subscribe and unsubscribe as
    viewers come and go; iterate `messages()` in one task.

        async with ChannelListener(client) as listener:
            await listener.subscribe(["ae:kpi:..."])
            async for message in listener.messages():
                ...
    """

    def __init__(self, client: redis.Redis) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)

    async def __aenter__(self) -> ChannelListener:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def subscribe(self, channels: Iterable[str]) -> None:
        wanted = list(channels)
        if wanted:
            await self._pubsub.subscribe(*wanted)

    async def unsubscribe(self, channels: Iterable[str]) -> None:
        wanted = list(channels)
        if wanted:
            await self._pubsub.unsubscribe(*wanted)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(
            name.decode() if isinstance(name, bytes) else str(name)
            for name in self._pubsub.channels
        )

    async def get(self, wait_seconds: float) -> ChannelMessage | None:
        """The next message, or None when none arrived within `wait_seconds`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_seconds
        while True:
            # Subscription confirmations also come back as None: wait out the remaining time.
            raw = await self._pubsub.get_message(
                ignore_subscribe_messages=True, timeout=max(deadline - loop.time(), 0.0)
            )
            message = None if raw is None else _message(raw)
            if message is not None or loop.time() >= deadline:
                return message

    async def messages(self, poll_seconds: float = 1.0) -> AsyncIterator[ChannelMessage]:
        """Messages as they arrive, until the connection fails (the error propagates: reconnect,
        resubscribe and resynchronise)."""
        while True:
            message = await self.get(poll_seconds)
            if message is not None:
                yield message

    async def close(self) -> None:
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


def _message(raw: dict[str, object]) -> ChannelMessage | None:
    if raw.get("type") not in ("message", b"message"):
        return None
    channel, data = raw["channel"], raw["data"]
    return ChannelMessage(
        channel.decode() if isinstance(channel, bytes) else str(channel),
        data if isinstance(data, bytes) else str(data).encode(),
    )
