"""What a caller asks the calculation service for, validated before any work is done."""

from __future__ import annotations

import datetime
import enum
import zoneinfo
from dataclasses import dataclass

from services.aggregates.query import Period, TimeRange
from services.errors import FieldViolation, InvalidArgument, ResourceExhausted
from services.security.caller import Caller

# Approximate bucket lengths, for the size guard (calendar months and weeks vary; the guard only
# needs the order of magnitude).
BUCKET_SECONDS = {
    Period.MINUTE: 60,
    Period.HOUR: 3600,
    Period.DAY: 86_400,
    Period.WEEK: 7 * 86_400,
    Period.MONTH: 30 * 86_400,
}
# A series longer than this is refused up front rather than left to time out: 31 days of
# minutes, ten years of days.
MAX_BUCKETS = 44_640
MAX_KPIS = 500
MAX_GROUPS = 1_000


class Comparison(enum.StrEnum):
    NONE = "none"
    PREVIOUS_PERIOD = "previous_period"
    PREVIOUS_YEAR = "previous_year"


class SeriesLayout(enum.Enum):
    """How a result's series is encoded: a value message per bucket, or packed columns."""

    VALUES = "values"
    COLUMNS = "columns"


@dataclass(frozen=True)
class CalculationRequest:
    kpi_codes: tuple[str, ...]
    client_id: str
    time_range: TimeRange
    period: Period
    group_by: tuple[str, ...] = ()
    comparison: Comparison = Comparison.NONE
    time_zone: str = "UTC"
    max_groups: int = 100
    bypass_cache: bool = False
    # Whose rights decide the rows RBAC KPIs read; None for the service's own work, which sees
    # every row of the client.
    caller: Caller | None = None
    series_layout: SeriesLayout = SeriesLayout.VALUES
    # Only the series is wanted (live updates and stream snapshots show buckets): the total over
    # the range is neither read nor evaluated, which spares a statement per object model whose
    # total cannot be derived from its series (averages, distinct counts).
    series_only: bool = False

    def bucket_count(self) -> int:
        span = (self.time_range.end - self.time_range.start).total_seconds()
        return int(-(-span // BUCKET_SECONDS[self.period]))

    def comparison_range(self) -> TimeRange | None:
        start, end = self.time_range.start, self.time_range.end
        if self.comparison is Comparison.PREVIOUS_PERIOD:
            return TimeRange(start - (end - start), start)
        if self.comparison is Comparison.PREVIOUS_YEAR:
            return TimeRange(_year_before(start), _year_before(end))
        return None


def _year_before(moment: datetime.datetime) -> datetime.datetime:
    try:
        return moment.replace(year=moment.year - 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - 1, day=28)


def validate(request: CalculationRequest) -> CalculationRequest:
    """Every problem with the request at once, each naming its field."""
    problems: list[FieldViolation] = []
    if not request.kpi_codes or any(not code.strip() for code in request.kpi_codes):
        problems.append(FieldViolation("kpi_codes", "name at least one KPI code, none empty"))
    if len(request.kpi_codes) > MAX_KPIS:
        problems.append(FieldViolation("kpi_codes", f"at most {MAX_KPIS} KPIs per call"))
    if not request.client_id.strip():
        problems.append(FieldViolation("client_id", "is required"))
    start, end = request.time_range.start, request.time_range.end
    if start.tzinfo is None or end.tzinfo is None:
        problems.append(FieldViolation("time_range", "start and end must carry a time zone"))
    elif end <= start:
        problems.append(FieldViolation("time_range.end", "must be after time_range.start"))
    try:
        zoneinfo.ZoneInfo(request.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems.append(
            FieldViolation("time_zone", f"{request.time_zone!r} is not an IANA time zone name")
        )
    if not 0 < request.max_groups <= MAX_GROUPS:
        problems.append(FieldViolation("max_groups", f"must be between 1 and {MAX_GROUPS}"))
    if request.series_only and (request.group_by or request.comparison is not Comparison.NONE):
        problems.append(
            FieldViolation("series_only", "groups and comparisons are ranked by their totals")
        )
    if problems:
        raise InvalidArgument("; ".join(f"{p.field}: {p.description}" for p in problems), problems)
    buckets = request.bucket_count()
    if buckets > MAX_BUCKETS:
        raise ResourceExhausted(
            f"{buckets} {request.period.value} buckets requested; at most {MAX_BUCKETS} per call: "
            "choose a coarser period or a shorter time_range"
        )
    return request
