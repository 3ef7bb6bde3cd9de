"""Lua scripts run by their SHA inside pipelines, in the pipeline's one round trip.

redis-py asks Redis whether a pipeline's scripts are loaded (SCRIPT EXISTS) before every
pipeline that runs one: a round trip of its own, on the path of every live value. Here a script
is sent as EVALSHA straight away, and loaded only when Redis answers that it does not know it
(after a restart, or on first use); the calls it refused are then sent again. A refused EVALSHA
ran nothing, so sending it again runs it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError

ScriptArg = str | int | bytes


class PipelinedScript:
    def __init__(self, client: redis.Redis, source: str) -> None:
        self._redis = client
        self._source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def queue(self, pipe: Any, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        """Adds one call to `pipe` (its reply comes back with the pipeline's)."""
        pipe.evalsha(self.sha, len(keys), *keys, *args)

    async def run_all(
        self, calls: Sequence[tuple[Sequence[str], Sequence[ScriptArg]]], *extra: Any
    ) -> list[Any]:
        """Each (keys, args) call, then the `extra` commands (callables queueing onto the
        pipeline), in one round trip; returns the replies of the calls, in order. Loads the
        script and sends again the calls Redis refused for not knowing it; other errors
        raise."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                self.queue(pipe, keys, args)
            for queue_command in extra:
                queue_command(pipe)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception) and not isinstance(reply, NoScriptError):
                raise reply
        results = replies[: len(calls)]
        refused = [i for i, reply in enumerate(results) if isinstance(reply, NoScriptError)]
        if refused:
            await self._redis.script_load(self._source)
            async with self._redis.pipeline(transaction=False) as pipe:
                for i in refused:
                    self.queue(pipe, *calls[i])
                again: list[Any] = await pipe.execute()
            for i, reply in zip(refused, again, strict=True):
                results[i] = reply
        return results
