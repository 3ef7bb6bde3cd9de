"""What was last published per live subscription, and publishing only what changed.

For each subscription a Redis hash remembers, per bucket, the rank (see
updates.SubscriptionUpdate) of the result the bucket's value last came from and the fingerprint of
that value ("rank|fingerprint"). One script per subscription compares, remembers and publishes
atomically, so recomputations of the same subscription running at once (overlapping cycles of one
consumer, or several replicas) neither publish a value twice nor let an older result overwrite a
newer one. Ranks are kept per bucket, not per subscription: a newer result that recomputed only
the current bucket must not stop an older one, finishing later, from publishing the earlier bucket
that only it recomputed. The scripts of a whole batch travel in one pipeline, run by their SHA
(services.calculation.streaming.scripts). The script also refuses to publish for a subscription
no hub leases any more.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis.asyncio as redis

from services.calculation.streaming.registry import leases_key, published_key
from services.calculation.streaming.scripts import PipelinedScript, ScriptArg
from services.calculation.streaming.updates import SubscriptionUpdate

NOT_LIVE = -1
STALE = -2

# KEYS: published hash, leases. ARGV: now ms, rank, channel, header, oldest field kept, then
# (field, fingerprint, fragment) per bucket. Returns the number of buckets published, NOT_LIVE,
# or STALE when nothing was published because a newer result had published every bucket that
# differs. A stored entry without "rank|" (written before ranks were kept per bucket) has no rank.
_COMPARE_AND_PUBLISH = """
local live_until = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
if not live_until or tonumber(live_until) <= tonumber(ARGV[1]) then return -1 end
local rank = tonumber(ARGV[2])
local changed = {}
local stale = 0
for i = 6, #ARGV, 3 do
  local stored = redis.call('HGET', KEYS[1], ARGV[i])
  local stored_rank, stored_print = nil, stored
  if stored then
    local bar = string.find(stored, '|', 1, true)
    if bar then
      stored_rank = tonumber(string.sub(stored, 1, bar - 1))
      stored_print = string.sub(stored, bar + 1)
    end
  end
  if stored_rank and stored_rank > rank then
    if stored_print ~= ARGV[i + 1] then stale = stale + 1 end
  elseif stored_print ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[2] .. '|' .. ARGV[i + 1])
    changed[#changed + 1] = ARGV[i + 2]
  elseif stored_rank ~= rank then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[2] .. '|' .. ARGV[i + 1])
  end
end
local oldest = tonumber(ARGV[5])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local bucket = tonumber(field)
  if bucket and bucket < oldest then redis.call('HDEL', KEYS[1], field) end
end
redis.call('PEXPIREAT', KEYS[1], live_until)
if #changed == 0 then
  if stale > 0 then return -2 end
  return 0
end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. table.concat(changed))
return #changed
"""


class PublishedValues:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._script = PipelinedScript(client, _COMPARE_AND_PUBLISH)

    async def publish_changes(
        self, updates: Sequence[SubscriptionUpdate], counts: Mapping[str, int] | None = None
    ) -> list[int]:
        """Per update: how many buckets changed and were published (0 when none did), NOT_LIVE
        or STALE. `counts` (counter key -> increment) are added in the same round trip, once
        the updates are published."""
        if not updates and not counts:
            return []
        now = int(self._clock() * 1000)
        calls: list[tuple[list[str], list[ScriptArg]]] = []
        for update in updates:
            args: list[ScriptArg] = [
                now,
                update.rank,
                update.channel,
                update.header,
                update.oldest_field,
            ]
            for bucket in update.buckets:
                args.extend((bucket.field, bucket.fingerprint, bucket.fragment))
            calls.append(([published_key(update.key), leases_key(update.key)], args))
        counters = [
            functools.partial(_count, counter, amount) for counter, amount in (counts or {}).items()
        ]
        replies = await self._script.run_all(calls, *counters)
        return [int(reply) for reply in replies]


def _count(counter: str, amount: int, pipe: Any) -> None:
    pipe.incrby(counter, amount)
