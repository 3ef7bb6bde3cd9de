"""The registry of live subscriptions: leases held by gateway hubs, kept in Redis so every
calculation replica sees the same ones.

A subscription is live while at least one hub holds an unexpired lease on it. Hubs renew their
leases every ~10 s (the default lease lasts 30 s), so a hub that dies stops costing anything within
a lease length; a hub that releases a lease drops it at once.

Redis layout, per subscription key K (lease expiries are epoch milliseconds):
- `ae:sub:{K}:leases`     sorted set hub id -> lease expiry; the key expires with its last lease.
- `ae:sub:{K}`            the subscription's definition (JSON: client, KPI, period, security
                          context key and the viewers' claims, object models read), expiring
                          with the leases.
- `ae:sub:{K}:published`  what was last published (see `published`); forgotten whenever the
                          subscription stops being live, because changes made while nobody
                          watched were never compared with it.
- `ae:live:{client}:{object model}`  sorted set "K/hub" -> lease expiry: the index a DataChanged
                          is looked up in.
- `ae:hub:{hub}`          set of the keys a hub leases, for releasing them all.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis

from services.aggregates.query import Period
from services.calculation.streaming.scripts import PipelinedScript
from services.calculation.streaming.subscriptions import Subscription
from services.security.caller import Caller, Role

DEFAULT_TTL = datetime.timedelta(seconds=30)
MAX_TTL = datetime.timedelta(minutes=2)
MIN_TTL = datetime.timedelta(seconds=1)


def leases_key(key: str) -> str:
    return f"ae:sub:{key}:leases"


def definition_key(key: str) -> str:
    return f"ae:sub:{key}"


def published_key(key: str) -> str:
    return f"ae:sub:{key}:published"


def live_index_key(client_id: str, object_model_code: str) -> str:
    return f"ae:live:{client_id}:{object_model_code}"


def hub_key(hub_id: str) -> str:
    return f"ae:hub:{hub_id}"


# Adds or renews one hub's lease, atomically with the bookkeeping that depends on whether the
# subscription was live before: a subscription that was not live forgets what it published.
# KEYS: leases, published, definition. ARGV: hub, expiry ms, now ms, definition.
_LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local newly_live = redis.call('ZCARD', KEYS[1]) == 0
if newly_live then redis.call('DEL', KEYS[2]) end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
redis.call('PEXPIREAT', KEYS[1], last)
redis.call('SET', KEYS[3], ARGV[4])
redis.call('PEXPIREAT', KEYS[3], last)
redis.call('PEXPIREAT', KEYS[2], last)
if newly_live then return 1 end
return 0
"""

# Drops one hub's lease; when no unexpired lease remains the subscription is no longer live.
# KEYS: leases, published, definition. ARGV: hub, now ms.
_RELEASE = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('DEL', KEYS[1], KEYS[2], KEYS[3]) end
return removed
"""


# The live subscriptions of several (client, object model) indexes, in one round trip: drops the
# lapsed entries of each index, then returns, per index, the subscription keys of the others
# (an entry is "K/hub"), and last the definitions of those keys, first seen first, as
# key, definition pairs (false when gone).
# KEYS: the indexes. ARGV: now ms, the definition key prefix (see definition_key).
_LIVE_FOR = """
local per_index = {}
local seen = {}
local definitions = {}
for i, index in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', index, '-inf', ARGV[1])
  local keys = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, ARGV[1], '+inf')) do
    local bar = string.find(member, '/', 1, true)
    local key = bar and string.sub(member, 1, bar - 1) or member
    keys[#keys + 1] = key
    if not seen[key] then
      seen[key] = true
      definitions[#definitions + 1] = key
      definitions[#definitions + 1] = redis.call('GET', ARGV[2] .. key)
    end
  end
  per_index[i] = keys
end
per_index[#KEYS + 1] = definitions
return per_index
"""

_DEFINITION_PREFIX = definition_key("")


@dataclass(frozen=True)
class LeaseRequest:
    subscription: Subscription
    # Object models the KPI reads: the DataChanged events that concern it.
    object_model_codes: tuple[str, ...]
    # Those of them whose change moves every live bucket, whatever time it touches: the
    # hierarchies a viewer's subtree is read from (a manager gaining a report sees that report's
    # whole history).
    whole_window_model_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LiveSubscription:
    key: str
    subscription: Subscription
    object_model_codes: tuple[str, ...]
    whole_window_model_codes: tuple[str, ...] = ()


def _clamp_ttl(ttl: datetime.timedelta | None) -> datetime.timedelta:
    if ttl is None or ttl <= datetime.timedelta(0):
        return DEFAULT_TTL
    return min(max(ttl, MIN_TTL), MAX_TTL)


def _caller_json(caller: Caller | None) -> dict[str, Any] | None:
    if caller is None:
        return None
    return {
        "subject": caller.subject,
        "role": caller.role.value,
        "client_id": caller.client_id,
        "attributes": dict(caller.attributes),
    }


def _caller(data: dict[str, Any] | None) -> Caller | None:
    if data is None:
        return None
    return Caller(
        subject=data["subject"],
        role=Role(data["role"]),
        client_id=data["client_id"],
        attributes=data["attributes"],
    )


def _definition(request: LeaseRequest) -> str:
    subscription = request.subscription
    return json.dumps(
        {
            "client_id": subscription.client_id,
            "kpi_code": subscription.kpi_code,
            "period": subscription.period.value,
            "security_context_key": subscription.security_context_key,
            # What the recomputation needs to apply the viewers' row security.
            "caller": _caller_json(subscription.caller),
            "object_models": list(request.object_model_codes),
            "whole_window_models": list(request.whole_window_model_codes),
        }
    )


def _live(key: str, raw: bytes | str) -> LiveSubscription:
    data = json.loads(raw)
    return LiveSubscription(
        key,
        Subscription(
            data["client_id"],
            data["kpi_code"],
            Period(data["period"]),
            data["security_context_key"],
            _caller(data.get("caller")),
        ),
        tuple(data["object_models"]),
        tuple(data.get("whole_window_models", ())),
    )


class _ParsedDefinitions:
    """Stored definitions, parsed once: each cycle reads the definitions of every live
    subscription it recomputes, and they seldom change. Keyed by the stored text too, so a
    definition that did change is parsed afresh."""

    _LIMIT = 10_000

    def __init__(self) -> None:
        self._parsed: dict[tuple[str, bytes | str], LiveSubscription] = {}

    def read(self, key: str, raw: bytes | str) -> LiveSubscription:
        found = self._parsed.get((key, raw))
        if found is None:
            if len(self._parsed) >= self._LIMIT:
                self._parsed.clear()
            found = self._parsed[(key, raw)] = _live(key, raw)
        return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class LeaseRegistry:
    def __init__(self, client: redis.Redis, clock: Callable[[], float] = time.time) -> None:
        self._redis = client
        self._clock = clock
        self._lease = client.register_script(_LEASE)
        self._release = client.register_script(_RELEASE)
        self._live_for = PipelinedScript(client, _LIVE_FOR)
        self._definitions = _ParsedDefinitions()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def lease(
        self,
        hub_id: str,
        requests: Sequence[LeaseRequest],
        ttl: datetime.timedelta | None = None,
    ) -> datetime.datetime:
        """Creates or renews `hub_id`'s leases; returns when they expire (the TTL is clamped to
        1 s .. 2 min, 30 s when not given)."""
        now = self._now_ms()
        length = _clamp_ttl(ttl)
        expiry = now + int(length.total_seconds() * 1000)
        hub = hub_key(hub_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for request in requests:
                key = request.subscription.key
                await self._lease(
                    keys=[leases_key(key), published_key(key), definition_key(key)],
                    args=[hub_id, expiry, now, _definition(request)],
                    client=pipe,
                )
                for model in request.object_model_codes:
                    index = live_index_key(request.subscription.client_id, model)
                    pipe.zadd(index, {f"{key}/{hub_id}": expiry})
                    pipe.zremrangebyscore(index, "-inf", now)
                    pipe.pexpireat(index, expiry + int(MAX_TTL.total_seconds() * 1000))
                pipe.sadd(hub, key)
            if requests:
                pipe.pexpireat(hub, expiry + int(MAX_TTL.total_seconds() * 1000))
                await pipe.execute()
        return datetime.datetime.fromtimestamp(expiry / 1000, datetime.UTC)

    async def release(self, hub_id: str, keys: Iterable[str] = ()) -> int:
        """Drops `hub_id`'s leases on `keys` (all of its leases when empty); returns how many it
        held."""
        hub = hub_key(hub_id)
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            wanted = sorted(_text(member) for member in await self._redis.smembers(hub))
        if not wanted:
            return 0
        definitions: list[Any] = await self._redis.mget([definition_key(key) for key in wanted])
        now = self._now_ms()
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in wanted:
                await self._release(
                    keys=[leases_key(key), published_key(key), definition_key(key)],
                    args=[hub_id, now],
                    client=pipe,
                )
            for key, raw in zip(wanted, definitions, strict=True):
                if raw is not None:
                    live = _live(key, raw)
                    for model in live.object_model_codes:
                        pipe.zrem(
                            live_index_key(live.subscription.client_id, model), f"{key}/{hub_id}"
                        )
                pipe.srem(hub, key)
            replies = await pipe.execute()
        return sum(int(removed) for removed in replies[: len(wanted)])

    async def live(self, client_id: str, object_model_code: str) -> list[LiveSubscription]:
        """The live subscriptions of a client whose KPI reads the object model."""
        found = await self.live_for([(client_id, object_model_code)])
        return found[(client_id, object_model_code)]

    async def live_for(
        self, changed: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], list[LiveSubscription]]:
        """`live` for each (client, object model) of `changed`, in one round trip whatever
        their number: a recomputation cycle's changes usually span several models."""
        wanted = list(dict.fromkeys(changed))
        if not wanted:
            return {}
        indexes = [live_index_key(client_id, model) for client_id, model in wanted]
        (reply,) = await self._live_for.run_all([(indexes, [self._now_ms(), _DEFINITION_PREFIX])])
        *per_index, pairs = reply
        definitions = {
            key: self._definitions.read(key, raw)
            for key, raw in zip(map(_text, pairs[0::2]), pairs[1::2], strict=True)
            if raw
        }
        return {
            pair: [
                definitions[key] for key in dict.fromkeys(map(_text, found)) if key in definitions
            ]
            for pair, found in zip(wanted, per_index, strict=True)
        }

    async def holders(self, key: str) -> dict[str, datetime.datetime]:
        """Hubs holding an unexpired lease on the subscription, with their expiries."""
        now = self._now_ms()
        entries: list[Any] = await self._redis.zrangebyscore(
            leases_key(key), now, "+inf", withscores=True
        )
        return {
            _text(hub): datetime.datetime.fromtimestamp(score / 1000, datetime.UTC)
            for hub, score in entries
        }
