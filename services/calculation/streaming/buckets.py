"""Which buckets a live subscription shows, and which of them a change touches. Live periods
are minutes, hours and UTC days: fixed lengths, so bucket arithmetic is integer arithmetic on
epoch seconds."""

from __future__ import annotations

import datetime

from services.aggregates.query import Period, TimeRange

BUCKET_SECONDS = {Period.MINUTE: 60, Period.HOUR: 3_600, Period.DAY: 86_400}


def _seconds(period: Period) -> int:
    try:
        return BUCKET_SECONDS[period]
    except KeyError:
        raise ValueError(f"{period.value} is not a live period") from None


def bucket_start(period: Period, moment: datetime.datetime) -> datetime.datetime:
    """Start of the bucket holding `moment`."""
    length = _seconds(period)
    epoch = int(moment.timestamp() // length) * length
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC)


def live_window(period: Period, now: datetime.datetime, buckets: int) -> TimeRange:
    """The last `buckets` buckets up to the end of the current (open) one."""
    length = datetime.timedelta(seconds=_seconds(period))
    current = bucket_start(period, now)
    return TimeRange(current - (buckets - 1) * length, current + length)


def affected_buckets(
    period: Period, changed: TimeRange, now: datetime.datetime, buckets: int
) -> TimeRange | None:
    """The live buckets a change of rows in `changed` moves, widened to whole buckets; None when
    the change lies outside the live window (older changes do not move live values)."""
    window = live_window(period, now, buckets)
    length = datetime.timedelta(seconds=_seconds(period))
    start = max(bucket_start(period, changed.start), window.start)
    last = changed.end - datetime.timedelta(microseconds=1)
    end = min(bucket_start(period, last) + length, window.end)
    return TimeRange(start, end) if start < end else None


def union(first: TimeRange | None, second: TimeRange) -> TimeRange:
    """The smallest range covering both (the gap between them too)."""
    if first is None:
        return second
    return TimeRange(min(first.start, second.start), max(first.end, second.end))
