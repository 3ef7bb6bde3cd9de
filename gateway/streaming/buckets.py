"""Bucket arithmetic of the live periods: which bucket is open at an instant, and when the next
one opens. Buckets are aligned to UTC (a day bucket starts at 00:00 UTC), as in the calculation
engine."""

from __future__ import annotations

import datetime
import enum

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


class LivePeriod(enum.Enum):
    """Bucket sizes a live stream can use (weeks and months are for one-time queries only)."""

    MINUTE = datetime.timedelta(minutes=1)
    HOUR = datetime.timedelta(hours=1)
    DAY = datetime.timedelta(days=1)

    @property
    def length(self) -> datetime.timedelta:
        return self.value

    def bucket_start(self, instant: datetime.datetime) -> datetime.datetime:
        """Start of the bucket that holds `instant` (an aware datetime)."""
        elapsed = instant - _EPOCH
        return instant - (elapsed % self.length)

    def next_bucket_start(self, instant: datetime.datetime) -> datetime.datetime:
        """When the bucket after the one holding `instant` opens."""
        return self.bucket_start(instant) + self.length


def seconds_until_next_bucket(period: LivePeriod, instant: datetime.datetime) -> float:
    return (period.next_bucket_start(instant) - instant).total_seconds()
