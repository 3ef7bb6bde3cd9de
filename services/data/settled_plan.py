"""Which buckets of a series of distinct counts come from the counts kept and which are counted
from the rows (pure: no I/O, no SQL). See services.data.settled_distinct.

A count is kept per whole bucket with the stamps of the days it was counted at: the stamp of
all of the model's rows, then that of each day the bucket overlaps (0 for a day never
stamped). It answers while those stamps are the same; every other bucket of the range is
counted, in as few spans of time as there are runs of such buckets.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.aggregates import query as q
from services.catalog.domain import ObjectModel

_DAY = datetime.timedelta(days=1)
_TICK = datetime.timedelta(microseconds=1)
# More runs of buckets to count than this are joined across their shortest gaps: each run is a
# range condition of its own in the statement counting them.
MAX_RUNS = 8
# Changes when what a kept count means changes, so counts kept before are never read again.
_KEY_VERSION = "settled-distinct/1"

Stamps = tuple[int, ...]
# The period of a count kept of a whole range (a total), kept by the range's start and its key.
WHOLE_RANGE = "range"


@dataclass(frozen=True)
class Bucket:
    start: datetime.datetime
    # The next bucket's start; None for the last bucket of a range it overruns.
    end: datetime.datetime | None
    # Within the range whole: only such a bucket's count is kept or read back.
    whole: bool
    # The days whose stamps its rows have (after the stamp of all days).
    days: tuple[datetime.date, ...]


def measure_key(model: ObjectModel, query: q.AggregateQuery, measure: q.Measure) -> bytes:
    """What a kept count counts, whatever the range: the model as declared (a change of it may
    change the rows' columns), the time field, the measure and the row filter; for a total
    (kept by the range's start) also the range's end."""
    described = repr(
        (
            _KEY_VERSION,
            model,
            query.time_field or model.time_field,
            measure.function,
            measure.argument,
            measure.filter,
            query.row_filter,
            query.time_range.end if query.bucket is None else None,
        )
    )
    return hashlib.sha256(described.encode()).digest()[:16]


def buckets(
    starts: Sequence[datetime.datetime], time_range: q.TimeRange, time_is_date: bool
) -> list[Bucket]:
    """The buckets of a range from the starts the database made for it (up to the range's end:
    a start at the end itself only closes the bucket before it)."""
    planned: list[Bucket] = []
    for index, start in enumerate(starts):
        if start >= time_range.end:
            break
        end = starts[index + 1] if index + 1 < len(starts) else None
        whole = start >= time_range.start and end is not None and end <= time_range.end
        planned.append(Bucket(start, end, whole, _days(start, end, time_is_date) if whole else ()))
    return planned


def whole_range(time_range: q.TimeRange, time_is_date: bool) -> Bucket:
    """The range of a total as the one bucket whose count is kept."""
    days = _days(time_range.start, time_range.end, time_is_date)
    return Bucket(time_range.start, time_range.end, True, days)


def _days(
    start: datetime.datetime, end: datetime.datetime | None, time_is_date: bool
) -> tuple[datetime.date, ...]:
    assert end is not None
    first = start.astimezone(datetime.UTC).date()
    last = (end - _TICK).astimezone(datetime.UTC).date()
    if time_is_date:
        # A date is placed at its midnight in the request's zone, within a day of its own UTC
        # midnight: the dates a bucket holds are among these.
        first, last = first - _DAY, last + _DAY
    return tuple(first + _DAY * offset for offset in range((last - first).days + 1))


def current_stamps(
    bucket: Bucket, all_days_stamp: int, day_stamps: Mapping[datetime.date, int]
) -> Stamps:
    return (all_days_stamp, *(day_stamps.get(day, 0) for day in bucket.days))


@dataclass(frozen=True)
class Kept:
    value: int
    stamps: Stamps


def stale_buckets(
    planned: Sequence[Bucket],
    kept: Mapping[datetime.datetime, Kept],
    stamps: Mapping[datetime.datetime, Stamps],
) -> list[int]:
    """Positions of the buckets to count: all but the whole ones kept at their current stamps."""
    return [
        index
        for index, bucket in enumerate(planned)
        if not bucket.whole
        or (found := kept.get(bucket.start)) is None
        or found.stamps != stamps[bucket.start]
    ]


def runs(
    planned: Sequence[Bucket], stale: Sequence[int], time_range: q.TimeRange
) -> list[tuple[datetime.datetime, datetime.datetime]]:
    """[start, end) spans covering the stale buckets within the range: one per run of adjacent
    ones, at most MAX_RUNS (the closest runs joined, counting the buckets between again)."""
    groups: list[list[int]] = []
    for index in stale:
        if groups and groups[-1][-1] == index - 1:
            groups[-1].append(index)
        else:
            groups.append([index])
    spans = [
        (
            max(planned[group[0]].start, time_range.start),
            min(planned[group[-1]].end or time_range.end, time_range.end),
        )
        for group in groups
    ]
    while len(spans) > MAX_RUNS:
        gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
        narrowest = gaps.index(min(gaps))
        spans[narrowest : narrowest + 2] = [(spans[narrowest][0], spans[narrowest + 1][1])]
    return spans


def settled(bucket: Bucket, now: datetime.datetime) -> bool:
    """Whether a counted bucket is worth keeping: whole and over (the open bucket changes with
    every write, so its count would be replaced before it is read again)."""
    return bucket.whole and bucket.end is not None and bucket.end <= now
