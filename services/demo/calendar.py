"""Time patterns: seasonality, weekday shape, business hours, growth and the anomalies.

Every factor is a pure function of the date (and the spec for the anomalies), so each model sees
the same busy Mondays, the same November peak and the same bad week.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime
import functools
import itertools
import random

from services.demo import randomness
from services.demo.spec import DemoSpec

# Order intake by month (a distributor of tools and supplies: spring build season, Q4 peak).
_MONTH = (0.86, 0.90, 1.00, 1.04, 1.06, 1.00, 0.92, 0.95, 1.04, 1.08, 1.16, 0.99)
# B2B week: busy early in the week, quiet weekend. Normalised to a mean of 1 below.
_WEEKDAY_RAW = (1.18, 1.22, 1.17, 1.12, 1.00, 0.38, 0.30)
_WEEKDAY = tuple(w * 7 / sum(_WEEKDAY_RAW) for w in _WEEKDAY_RAW)
# Share of a day's activity per UTC hour (the client's customers are mostly in the Americas and
# Europe, so activity runs from European morning to American evening).
_HOURS = (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 9, 10, 11, 11, 11, 10, 9, 7, 5, 3, 2, 1)
_HOUR_CUMULATIVE = tuple(itertools.accumulate(_HOURS))
_GROWTH_PER_YEAR = 0.08
_EPOCH = datetime.date(2020, 1, 1)

ONE_DAY = datetime.timedelta(days=1)


@functools.lru_cache(maxsize=4_096)
def midnight(day: datetime.date) -> datetime.datetime:
    """The start of `day` in UTC (remembered: the simulation asks for it several times per
    order, and building an aware datetime costs more than looking one up)."""
    return datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Anomalies:
    """The few things that go wrong (or spike) in the range, placed from the seed."""

    carrier_disruption: tuple[datetime.date, datetime.date]  # inclusive week of late deliveries
    promotion_day: datetime.date  # order intake about 2.3× normal
    support_outage_day: datetime.date  # tickets about 3× normal, slow answers

    def disrupted(self, day: datetime.date) -> bool:
        return self.carrier_disruption[0] <= day <= self.carrier_disruption[1]


class Calendar:
    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.days = spec.days
        rng = randomness.stream(spec.seed, spec.client_id, "anomalies")
        span = len(self.days)
        first = self.days[0]
        disruption_start = first + datetime.timedelta(days=int(span * rng.uniform(0.35, 0.6)))
        self.anomalies = Anomalies(
            carrier_disruption=(disruption_start, disruption_start + datetime.timedelta(days=6)),
            promotion_day=first + datetime.timedelta(days=int(span * rng.uniform(0.1, 0.3))),
            support_outage_day=first + datetime.timedelta(days=int(span * rng.uniform(0.65, 0.9))),
        )

    def activity(self, day: datetime.date) -> float:
        """Relative volume of customer-facing activity on `day` (1.0 on an average day)."""
        years = (day - _EPOCH).days / 365.25
        factor: float = _MONTH[day.month - 1] * _WEEKDAY[day.weekday()]
        factor *= (1 + _GROWTH_PER_YEAR) ** years
        factor /= (1 + _GROWTH_PER_YEAR) ** ((self.days[0] - _EPOCH).days / 365.25)
        if day == self.anomalies.promotion_day:
            factor *= 2.3
        return factor

    def fraction_in_range(self, day: datetime.date) -> float:
        """Share of `day` inside [start, end): partial first and last days get fewer rows."""
        day_start = midnight(day)
        lower = max(day_start, self.spec.start)
        upper = min(day_start + ONE_DAY, self.spec.end)
        return max(0.0, (upper - lower).total_seconds() / 86_400)

    def moment(self, rng: random.Random, day: datetime.date) -> datetime.datetime:
        """A time on `day` following the business-hours shape, inside [start, end)."""
        hour = bisect.bisect_right(_HOUR_CUMULATIVE, rng.random() * _HOUR_CUMULATIVE[-1])
        value = midnight(day) + datetime.timedelta(hours=hour, seconds=int(rng.random() * 3600))
        if value < self.spec.start or value >= self.spec.end:
            lower = max(midnight(day), self.spec.start)
            upper = min(midnight(day) + ONE_DAY, self.spec.end)
            value = lower + (upper - lower) * rng.random()
            value = value.replace(microsecond=0)
            if value < self.spec.start:
                value = self.spec.start
        return value

    def in_range(self, moment: datetime.datetime) -> bool:
        return self.spec.start <= moment < self.spec.end

    def date_in_range(self, day: datetime.date) -> bool:
        """Whether a date-typed time field value belongs to the range (its day overlaps it)."""
        return self.days[0] <= day <= self.days[-1]


def month_starts(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """First days of every month overlapping [first, last]."""
    months = []
    current = first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + datetime.timedelta(days=32)).replace(day=1)
    return months


def month_end(month_start: datetime.date) -> datetime.date:
    return (month_start + datetime.timedelta(days=32)).replace(day=1) - ONE_DAY
