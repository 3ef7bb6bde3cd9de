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

_PREFIX = "calc:result:v1:"


def cache_key(
    request: CalculationRequest,
    kpi_code: str,
    catalog_version: str,
    data_versions: Mapping[str, int],
    security_context: str = "",
) -> str:
    shape = {
        "client": request.client_id,
        "kpi": kpi_code,
        "catalog": catalog_version,
        "range": [request.time_range.start.isoformat(), request.time_range.end.isoformat()],
        "period": request.period.value,
        "group_by": list(request.group_by),
        "comparison": request.comparison.value,
        "tz": request.time_zone,
        "max_groups": request.max_groups,
        "security": security_context,
        "data": sorted(data_versions.items()),
    }
    digest = hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()
    return _PREFIX + digest


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
