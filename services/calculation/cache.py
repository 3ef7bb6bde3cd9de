"""Result cache in Redis.

A key is a hash of everything that shapes an answer — client, KPI, catalog version, range,
period, group-by, comparison, time zone, group limit, the caller's security context — and the
data version of every object model the KPI reads. New data bumps a version, so a cached answer is
never older than the data it was asked about; the TTL only bounds memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence

import redis.asyncio as redis

from services.calculation.request import CalculationRequest

log = logging.getLogger(__name__)

_PREFIX = "calc:result:v2:"


class CacheKeys:
    """The keys of one request's results. What the request contributes is digested once and
    each key adds only what differs per KPI: a dashboard asks for a hundred keys per call, and
    hashing the whole shape each time was most of the work of a cached answer."""

    def __init__(self, request: CalculationRequest) -> None:
        shape = {
            "client": request.client_id,
            "range": [request.time_range.start.isoformat(), request.time_range.end.isoformat()],
            "period": request.period.value,
            "group_by": list(request.group_by),
            "comparison": request.comparison.value,
            "tz": request.time_zone,
            "max_groups": request.max_groups,
        }
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


class ResultCache:
    """Encoded results by key. The calculator stores results already encoded for the wire, so a
    hit is handed out as it is: a cached 100-KPI dashboard is a few Redis reads, not the
    rebuilding of thousands of values."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        try:
            raw = await self._redis.mget(keys)
        except (redis.RedisError, OSError) as error:
            # The cache is an optimisation: without Redis, answers are computed.
            log.warning("result cache unavailable: %r", error)
            return {}
        return {
            key: value if isinstance(value, bytes) else value.encode()
            for key, value in zip(keys, raw, strict=True)
            if value
        }

    async def put_many(self, items: Mapping[str, bytes]) -> None:
        if not items:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, payload in items.items():
                    pipe.set(key, payload, ex=self._ttl)
                await pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("result cache unavailable: %r", error)
