"""Preview series for KPIs, generated from a small shape spec so the data files stay readable.

The series is a base level with a drift, a weekly swing and seeded noise: the same spec always
gives the same points, on every machine and Python version (random.Random with an integer seed
is stable), so the catalog's content hash alone decides whether the database needs a reload.
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime
import math
import random
import zlib

from services.catalog.domain import KpiSample, KpiSamplePoint, Period


@dataclasses.dataclass(frozen=True)
class SeriesShape:
    base: float
    amplitude: float = 0.0
    trend: float = 0.0
    noise: float = 0.0
    seed: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    decimals: int = 2


@dataclasses.dataclass(frozen=True)
class SeriesWindow:
    period: Period
    points: int
    end: datetime.date


def generate(kpi_code: str, shape: SeriesShape, window: SeriesWindow) -> KpiSample:
    seed = shape.seed if shape.seed is not None else zlib.crc32(kpi_code.encode("utf-8"))
    rng = random.Random(seed)
    starts = bucket_starts(window)
    points = []
    for index, bucket_start in enumerate(starts):
        value = (
            shape.base
            + shape.trend * index
            + shape.amplitude * math.sin(2 * math.pi * index / 7)
            + rng.gauss(0.0, shape.noise)
        )
        if shape.minimum is not None:
            value = max(shape.minimum, value)
        if shape.maximum is not None:
            value = min(shape.maximum, value)
        points.append(KpiSamplePoint(bucket_start, round(value, shape.decimals)))
    return KpiSample(kpi_code, window.period, tuple(points))


def bucket_starts(window: SeriesWindow) -> list[datetime.datetime]:
    """`points` consecutive bucket starts (UTC), the last one in the bucket containing `end`."""
    last = datetime.datetime.combine(window.end, datetime.time(), tzinfo=datetime.UTC)
    if window.period is Period.WEEK:
        last -= datetime.timedelta(days=last.weekday())
    if window.period is Period.MONTH:
        last = last.replace(day=1)
        return [_add_months(last, -offset) for offset in reversed(range(window.points))]
    if window.period in (Period.HOUR, Period.MINUTE):
        # Sub-day series end at the last bucket of the end day.
        last += datetime.timedelta(days=1)
    step = {
        Period.MINUTE: datetime.timedelta(minutes=1),
        Period.HOUR: datetime.timedelta(hours=1),
        Period.DAY: datetime.timedelta(days=1),
        Period.WEEK: datetime.timedelta(weeks=1),
    }[window.period]
    if window.period in (Period.HOUR, Period.MINUTE):
        last -= step
    return [last - step * offset for offset in reversed(range(window.points))]


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    month_index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(month_index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
