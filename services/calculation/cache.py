"""Result cache in Redis.

A key is a hash of everything that shapes an answer — client, KPI, catalog version, range,
period, group-by, comparison, time zone, group limit, the caller's security context — and the
data version of every object model the KPI reads. New data bumps a version, so a cached answer is
never older than the data it was asked about; the TTL only bounds memory.

Each calculation replica also keeps the results it read or wrote most recently in its own memory
(`LocalResults`, bounded by bytes): a key never changes meaning, so a local copy can never be
stale, and a dashboard that is asked again (the common case: everyone opening the same view) is
answered without moving megabytes out of Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import redis.asyncio as redis

from services.calculation.request import CalculationRequest

log = logging.getLogger(__name__)

_PREFIX = "calc:result:v2:"
# Writes to Redis left running in the background at most; beyond, the next one is waited for
# (each holds its results, up to megabytes, until it is done).
_BACKGROUND_WRITES = 8


def request_shape(request: CalculationRequest) -> dict[str, object]:
    """What a request contributes to the shape of every result it asks for."""
    return {
        "client": request.client_id,
        "range": [request.time_range.start.isoformat(), request.time_range.end.isoformat()],
        "period": request.period.value,
        "group_by": list(request.group_by),
        "comparison": request.comparison.value,
        "tz": request.time_zone,
        "max_groups": request.max_groups,
        # The cache holds results in their wire form, which the layout shapes.
        "series_layout": request.series_layout.value,
        # Only when set, so the keys of every other request stay as they were.
        **({"series_only": True} if request.series_only else {}),
    }


class CacheKeys:
    """The keys of one request's results. What the request contributes is digested once and
    each key adds only what differs per KPI: a dashboard asks for a hundred keys per call, and
    hashing the whole shape each time was most of the work of a cached answer."""

    def __init__(self, request: CalculationRequest) -> None:
        shape = request_shape(request)
        # Compact JSON has no line breaks, so the line break ends the request's part unambiguously.
        self._request = hashlib.sha256(json.dumps(shape, sort_keys=True).encode() + b"\n")

    def key(
        self,
        kpi_code: str,
        catalog_version: str,
        data_versions: Mapping[str, int],
        security_context: str = "",
    ) -> str:
        digest = self._request.copy()
        per_kpi = [kpi_code, catalog_version, security_context, sorted(data_versions.items())]
        digest.update(json.dumps(per_kpi).encode())
        return _PREFIX + digest.hexdigest()


def cache_key(
    request: CalculationRequest,
    kpi_code: str,
    catalog_version: str,
    data_versions: Mapping[str, int],
    security_context: str = "",
) -> str:
    """The key of one result: a hash of everything that shapes it."""
    return CacheKeys(request).key(kpi_code, catalog_version, data_versions, security_context)


class LocalResults:
    """The most recently used results, least recently used dropped first once their bytes
    exceed `capacity_bytes` (0 keeps nothing)."""

    def __init__(self, capacity_bytes: int) -> None:
        self._capacity = capacity_bytes
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0

    @property
    def size_bytes(self) -> int:
        return self._size

    def get(self, key: str) -> bytes | None:
        payload = self._entries.get(key)
        if payload is not None:
            self._entries.move_to_end(key)
        return payload

    def put(self, key: str, payload: bytes) -> None:
        if len(payload) > self._capacity:
            return
        previous = self._entries.pop(key, None)
        if previous is not None:
            self._size -= len(previous)
        self._entries[key] = payload
        self._size += len(payload)
        while self._size > self._capacity:
            _, dropped = self._entries.popitem(last=False)
            self._size -= len(dropped)


class ResultCache:
    """Encoded results by key. The calculator stores results already encoded for the wire, so a
    hit is handed out as it is: a cached 100-KPI dashboard is a few Redis reads (or none, from
    the local copies), not the rebuilding of thousands of values. Whole answers (`answers`)
    are kept the same way, under keys of their own."""

    def __init__(self, client: redis.Redis, ttl_seconds: int, local_bytes: int = 0) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._local = LocalResults(local_bytes)
        self._writes: set[asyncio.Task[None]] = set()

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        missing: list[str] = []
        for key in keys:
            payload = self._local.get(key)
            if payload is None:
                missing.append(key)
            else:
                found[key] = payload
        if not missing:
            return found
        try:
            raw = await self._redis.mget(missing)
        except (redis.RedisError, OSError) as error:
            # The cache is an optimisation: without Redis, answers are computed.
            log.warning("result cache unavailable: %r", error)
            return found
        for key, value in zip(missing, raw, strict=True):
            if value:
                payload = value if isinstance(value, bytes) else value.encode()
                self._local.put(key, payload)
                found[key] = payload
        return found

    async def put_many(self, items: Mapping[str, bytes]) -> None:
        """Keeps `items` here and in Redis, once Redis has them."""
        if not items:
            return
        for key, payload in items.items():
            self._local.put(key, payload)
        await self._write(items)

    async def keep(self, items: Mapping[str, bytes]) -> None:
        """Keeps `items` here at once and writes them to Redis in the background: the answer
        that produced them need not wait for megabytes to reach Redis (a replica that asks
        before they arrive calculates them as if they were not cached)."""
        if not items:
            return
        for key, payload in items.items():
            self._local.put(key, payload)
        if len(self._writes) >= _BACKGROUND_WRITES:
            await self._write(items)
            return
        task = asyncio.get_running_loop().create_task(self._write(dict(items)))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def settled(self) -> None:
        """Returns once the background writes started so far are done."""
        await asyncio.gather(*self._writes)

    async def _write(self, items: Mapping[str, bytes]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, payload in items.items():
                    pipe.set(key, payload, ex=self._ttl)
                await pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("result cache unavailable: %r", error)
