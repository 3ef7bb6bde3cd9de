"""A stream's wake-up flag: what asyncio.Event does for one waiter, in a fraction of its memory.

A hub holds thousands of open streams, each with a flag its handler sleeps on. asyncio.Event keeps
a deque of waiters (about 600 bytes even when empty); a stream's flag has at most one waiter, its
own handler, so a slot for one future is enough.
"""

from __future__ import annotations

import asyncio


class Wake:
    __slots__ = ("_set", "_waiter")

    def __init__(self) -> None:
        self._set = False
        self._waiter: asyncio.Future[None] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        """Until the flag is set (at once when it is). One waiter at a time."""
        if self._set:
            return
        if self._waiter is not None:
            raise RuntimeError("a stream's wake-up flag has one waiter")
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
