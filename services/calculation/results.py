"""What a calculation produces, as plain values (the servicer turns them into protobuf)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from services.aggregates.columns import moment
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


class BucketAxis:
    """The bucket starts a series is aligned on, oldest first, in microseconds since the epoch.
    Every KPI over the same object models shares one, so whatever is derived from the buckets
    (datetimes, their wire form) is derived once."""

    __slots__ = ("starts", "_moments", "derived")

    def __init__(self, starts: Sequence[int]) -> None:
        self.starts = starts
        self._moments: list[datetime.datetime] | None = None
        # Other forms of the buckets, by whoever needs them (e.g. encoded timestamps).
        self.derived: dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.starts)

    def moment_at(self, index: int) -> datetime.datetime:
        """One bucket's start (without building them all, e.g. for the latest value)."""
        if self._moments is not None:
            return self._moments[index]
        return moment(self.starts[index])

    @property
    def moments(self) -> list[datetime.datetime]:
        if self._moments is None:
            self._moments = [moment(start) for start in self.starts]
        return self._moments


class Series(Sequence[Value]):
    """A KPI's values over an axis of buckets, kept as columns (a dashboard has some 150,000
    values; a Value object each is only built for whoever iterates)."""

    __slots__ = ("axis", "entries", "complete")

    def __init__(
        self,
        axis: BucketAxis,
        entries: Sequence[float | NoValueReason],
        complete: bool | None = None,
    ) -> None:
        if len(entries) != len(axis):
            raise ValueError(f"{len(entries)} values for {len(axis)} buckets")
        self.axis = axis
        # A float, or why the bucket has no value.
        self.entries = entries
        # True when every entry is a float (found out when not given).
        self.complete = (
            all(entry.__class__ is float for entry in entries) if complete is None else complete
        )

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, index: int) -> Value: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Value, ...]: ...

    def __getitem__(self, index: int | slice) -> Value | tuple[Value, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        entry = self.entries[index]
        bucket = self.axis.moment_at(index)
        if isinstance(entry, NoValueReason):
            return Value(bucket, None, entry)
        return Value(bucket, entry)

    def __iter__(self) -> Iterator[Value]:
        for bucket, entry in zip(self.axis.moments, self.entries, strict=True):
            if isinstance(entry, NoValueReason):
                yield Value(bucket, None, entry)
            else:
                yield Value(bucket, entry)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Series | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Series({list(self)!r})"


@dataclass(frozen=True)
class GroupResult:
    dimensions: dict[str, str]
    total: Value
    series: Sequence[Value]


@dataclass(frozen=True)
class ComparisonResult:
    mode: Comparison
    time_range: TimeRange
    total: Value
    series: Sequence[Value]
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
    # Oldest first; a `Series` when calculated.
    series: Sequence[Value]
    groups: tuple[GroupResult, ...]
    truncated_groups: bool
    comparison: ComparisonResult | None
    computed_at: datetime.datetime
    # The newest data timestamp reflected, over every object model the KPI reads.
    watermark: datetime.datetime | None
    # Data versions of the object models read, e.g. "ORDER:42,SHIPMENT:17".
    data_version: str
