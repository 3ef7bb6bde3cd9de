"""Bucket starts as microseconds, and the row form of columnar results.

The columnar form carries bucket starts as integer microseconds since the Unix epoch (UTC):
exact for PostgreSQL timestamps, cheap to pack, compare and sort, and one subtraction away from
the datetimes the database returns.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from services.aggregates import query as q

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def micros(moment: datetime.datetime) -> int:
    """Microseconds since the epoch of a timezone-aware datetime."""
    return (moment - EPOCH) // _MICROSECOND


def micros_of(moments: Iterable[datetime.datetime]) -> list[int]:
    return [(moment - EPOCH) // _MICROSECOND for moment in moments]


def moment(microseconds: int) -> datetime.datetime:
    """The UTC datetime of a bucket start given in microseconds since the epoch."""
    return EPOCH + datetime.timedelta(microseconds=microseconds)


def rows(columns: q.AggregateColumns) -> tuple[q.AggregateRow, ...]:
    """The same answer as rows (bucket_start None when the columns have no bucket starts)."""
    count = len(columns)
    starts: list[datetime.datetime | None] = (
        [moment(start) for start in columns.bucket_starts]
        if columns.bucket_starts
        else [None] * count
    )
    return tuple(
        q.AggregateRow(
            bucket_start=starts[index],
            dimensions={name: values[index] for name, values in columns.dimensions.items()},
            measures={name: values[index] for name, values in columns.measures.items()},
            row_count=columns.row_counts[index],
        )
        for index in range(count)
    )
