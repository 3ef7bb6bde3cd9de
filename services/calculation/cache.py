"""Result cache in Redis.

A key is a hash of everything that shapes an answer — client, KPI, catalog version, range,
period, group-by, comparison, time zone, group limit, the caller's security context — and the
data version of every object model the KPI reads. New data bumps a version, so a cached answer is
never older than the data it was asked about; the TTL only bounds memory.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as redis

from services.aggregates.query import Period, TimeRange
from services.calculation.formula.values import NoValueReason
from services.calculation.request import CalculationRequest, Comparison
from services.calculation.results import ComparisonResult, GroupResult, KpiOutcome, Value

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


# -- a JSON codec for outcomes (plain data, never pickle) -----------------------------------


def _time(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime.datetime | None:
    return None if value is None else datetime.datetime.fromisoformat(value)


def _value(value: Value) -> dict[str, Any]:
    return {
        "bucket": _time(value.bucket_start),
        "value": value.value,
        "none": None if value.no_value is None else value.no_value.value,
    }


def _parse_value(raw: dict[str, Any]) -> Value:
    return Value(
        _parse_time(raw["bucket"]),
        raw["value"],
        None if raw["none"] is None else NoValueReason(raw["none"]),
    )


def _range(value: TimeRange) -> list[str]:
    return [value.start.isoformat(), value.end.isoformat()]


def _parse_range(raw: list[str]) -> TimeRange:
    return TimeRange(
        datetime.datetime.fromisoformat(raw[0]), datetime.datetime.fromisoformat(raw[1])
    )


def encode(outcome: KpiOutcome) -> bytes:
    compared = outcome.comparison
    document = {
        "code": outcome.kpi_code,
        "name": outcome.kpi_name,
        "unit": outcome.unit,
        "range": _range(outcome.time_range),
        "period": outcome.period.value,
        "total": _value(outcome.total),
        "current": None if outcome.current is None else _value(outcome.current),
        "series": [_value(v) for v in outcome.series],
        "groups": [
            {
                "dims": g.dimensions,
                "total": _value(g.total),
                "series": [_value(v) for v in g.series],
            }
            for g in outcome.groups
        ],
        "truncated": outcome.truncated_groups,
        "comparison": None
        if compared is None
        else {
            "mode": compared.mode.value,
            "range": _range(compared.time_range),
            "total": _value(compared.total),
            "series": [_value(v) for v in compared.series],
            "abs": compared.absolute_change,
            "pct": compared.percent_change,
        },
        "computed_at": _time(outcome.computed_at),
        "watermark": _time(outcome.watermark),
        "data_version": outcome.data_version,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode(raw: bytes | str) -> KpiOutcome:
    document = json.loads(raw)
    compared = document["comparison"]
    computed_at = _parse_time(document["computed_at"])
    assert computed_at is not None
    return KpiOutcome(
        kpi_code=document["code"],
        kpi_name=document["name"],
        unit=document["unit"],
        time_range=_parse_range(document["range"]),
        period=Period(document["period"]),
        total=_parse_value(document["total"]),
        current=None if document["current"] is None else _parse_value(document["current"]),
        series=tuple(_parse_value(v) for v in document["series"]),
        groups=tuple(
            GroupResult(
                g["dims"], _parse_value(g["total"]), tuple(_parse_value(v) for v in g["series"])
            )
            for g in document["groups"]
        ),
        truncated_groups=document["truncated"],
        comparison=None
        if compared is None
        else ComparisonResult(
            mode=Comparison(compared["mode"]),
            time_range=_parse_range(compared["range"]),
            total=_parse_value(compared["total"]),
            series=tuple(_parse_value(v) for v in compared["series"]),
            absolute_change=compared["abs"],
            percent_change=compared["pct"],
        ),
        computed_at=computed_at,
        watermark=_parse_time(document["watermark"]),
        data_version=document["data_version"],
        from_cache=True,
    )


class ResultCache:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    async def get_many(self, keys: Sequence[str]) -> dict[str, KpiOutcome]:
        if not keys:
            return {}
        try:
            raw = await self._redis.mget(keys)
        except (redis.RedisError, OSError) as error:
            # The cache is an optimisation: without Redis, answers are computed.
            log.warning("result cache unavailable: %r", error)
            return {}
        return {key: decode(value) for key, value in zip(keys, raw, strict=True) if value}

    async def put_many(self, items: Mapping[str, KpiOutcome]) -> None:
        if not items:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, outcome in items.items():
                    pipe.set(key, encode(outcome), ex=self._ttl)
                await pipe.execute()
        except (redis.RedisError, OSError) as error:
            log.warning("result cache unavailable: %r", error)
