"""What was last published per live subscription, and publishing only what changed.

For each subscription a Redis hash remembers, per bucket, the fingerprint of the value last
published, and the rank (see updates.SubscriptionUpdate) of the result it came from. One script
per subscription compares, remembers and publishes atomically, so replicas recomputing the same
subscription at once neither publish a value twice nor let an older result overwrite a newer one;
the scripts of a whole batch travel in one pipeline. The script also refuses to publish for a
subscription no hub leases any more.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import redis.asyncio as redis

from services.calculation.streaming.registry import leases_key, published_key
from services.calculation.streaming.updates import SubscriptionUpdate

NOT_LIVE = -1
STALE = -2

# KEYS: published hash, leases. ARGV: now ms, rank, channel, header, oldest field kept, then
# (field, fingerprint, fragment) per bucket. Returns the number of buckets published, NOT_LIVE
# or STALE.
_COMPARE_AND_PUBLISH = """
local live_until = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')[2]
if not live_until or tonumber(live_until) <= tonumber(ARGV[1]) then return -1 end
local stored = redis.call('HGET', KEYS[1], '#rank')
if stored and tonumber(stored) > tonumber(ARGV[2]) then return -2 end
local changed = {}
for i = 6, #ARGV, 3 do
  if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    changed[#changed + 1] = ARGV[i + 2]
  end
end
redis.call('HSET', KEYS[1], '#rank', ARGV[2])
local oldest = tonumber(ARGV[5])
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  local bucket = tonumber(field)
  if bucket and bucket < oldest then redis.call('HDEL', KEYS[1], field) end
end
redis.call('PEXPIREAT', KEYS[1], live_until)
if #changed == 0 then return 0 end
redis.call('PUBLISH', ARGV[3], ARGV[4] .. table.concat(changed))
return #changed
"""


class PublishedValues:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._script = client.register_script(_COMPARE_AND_PUBLISH)

    async def publish_changes(self, updates: Sequence[SubscriptionUpdate]) -> list[int]:
        """Per update: how many buckets changed and were published (0 when none did), NOT_LIVE
        or STALE."""
        if not updates:
            return []
        now = int(self._clock() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for update in updates:
                args: list[str | int | bytes] = [
                    now,
                    update.rank,
                    update.channel,
                    update.header,
                    update.oldest_field,
                ]
                for bucket in update.buckets:
                    args.extend((bucket.field, bucket.fingerprint, bucket.fragment))
                await self._script(
                    keys=[published_key(update.key), leases_key(update.key)],
                    args=args,
                    client=pipe,
                )
            replies = await pipe.execute()
        return [int(reply) for reply in replies]
