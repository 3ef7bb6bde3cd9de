"""What a calculation produces, as plain values (the servicer turns them into protobuf)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from services.aggregates.query import Period, TimeRange
from services.calculation.formula.values import NoValueReason
from services.calculation.request import Comparison
from services.catalog.domain import Direction


@dataclass(frozen=True)
class Value:
    # None for totals over the whole range.
    bucket_start: datetime.datetime | None
    value: float | None
    # Why `value` is None (a value is never infinity or an error).
    no_value: NoValueReason | None = None


@dataclass(frozen=True)
class GroupResult:
    dimensions: dict[str, str]
    total: Value
    series: tuple[Value, ...]


@dataclass(frozen=True)
class ComparisonResult:
    mode: Comparison
    time_range: TimeRange
    total: Value
    series: tuple[Value, ...]
    absolute_change: float | None
    percent_change: float | None


@dataclass(frozen=True)
class CachedResult:
    """A result served from the cache, still encoded as the encoder stored it."""

    kpi_code: str
    payload: bytes


@dataclass(frozen=True)
class KpiOutcome:
    kpi_code: str
    kpi_name: str
    unit: str
    direction: Direction
    target: float | None
    time_range: TimeRange
    period: Period
    total: Value
    current: Value | None
    series: tuple[Value, ...]
    groups: tuple[GroupResult, ...]
    truncated_groups: bool
    comparison: ComparisonResult | None
    computed_at: datetime.datetime
    # The newest data timestamp reflected, over every object model the KPI reads.
    watermark: datetime.datetime | None
    # Data versions of the object models read, e.g. "ORDER:42,SHIPMENT:17".
    data_version: str
