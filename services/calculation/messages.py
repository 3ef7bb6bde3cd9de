"""Translation between calculation values and analytics.calculation.v1 / analytics.type.v1."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence

from analytics.calculation.v1 import calculation_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from services.aggregates.columns import micros_of
from services.aggregates.query import Period, TimeRange
from services.calculation import value_wire
from services.calculation.formula.values import NoValueReason
from services.calculation.request import CalculationRequest, Comparison, SeriesLayout
from services.calculation.results import CachedResult, KpiOutcome, Series, Value
from services.catalog import messages as catalog_messages
from services.errors import InvalidArgument
from services.runtime import wire
from services.security.caller import current_caller
from services.security.tenancy import tenant_for

PERIODS = {
    types_pb2.PERIOD_MINUTE: Period.MINUTE,
    types_pb2.PERIOD_HOUR: Period.HOUR,
    types_pb2.PERIOD_DAY: Period.DAY,
    types_pb2.PERIOD_WEEK: Period.WEEK,
    types_pb2.PERIOD_MONTH: Period.MONTH,
}
PERIODS_BACK = {period: number for number, period in PERIODS.items()}
COMPARISONS = {
    calculation_pb2.COMPARISON_MODE_UNSPECIFIED: Comparison.NONE,
    calculation_pb2.COMPARISON_MODE_PREVIOUS_PERIOD: Comparison.PREVIOUS_PERIOD,
    calculation_pb2.COMPARISON_MODE_PREVIOUS_YEAR: Comparison.PREVIOUS_YEAR,
}
COMPARISONS_BACK = {mode: number for number, mode in COMPARISONS.items()}
NO_VALUES = {
    NoValueReason.NO_DATA: types_pb2.NO_VALUE_REASON_NO_DATA,
    NoValueReason.DIVISION_BY_ZERO: types_pb2.NO_VALUE_REASON_DIVISION_BY_ZERO,
}


def timestamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment.astimezone(datetime.UTC))
    return message


def moment(message: timestamp_pb2.Timestamp) -> datetime.datetime:
    return message.ToDatetime(tzinfo=datetime.UTC)


def time_range(message: types_pb2.TimeRange, field: str = "time_range") -> TimeRange:
    if not message.HasField("start") or not message.HasField("end"):
        raise InvalidArgument.for_field(field, "start and end are both required")
    return TimeRange(moment(message.start), moment(message.end))


def time_range_message(value: TimeRange) -> types_pb2.TimeRange:
    return types_pb2.TimeRange(start=timestamp(value.start), end=timestamp(value.end))


# The requests that share the calculate fields (single, batch, dashboard, export).
CalculateLike = (
    calculation_pb2.CalculateRequest
    | calculation_pb2.CalculateBatchRequest
    | calculation_pb2.CalculateDashboardRequest
    | calculation_pb2.ExportCalculationRequest
)


def request(message: CalculateLike, kpi_codes: list[str]) -> CalculationRequest:
    if message.period not in PERIODS:
        raise InvalidArgument.for_field("period", "choose MINUTE, HOUR, DAY, WEEK or MONTH")
    if message.comparison not in COMPARISONS:
        raise InvalidArgument.for_field("comparison", "unknown comparison mode")
    return CalculationRequest(
        kpi_codes=tuple(code.strip().upper() for code in kpi_codes),
        # The token's client; only an admin names one in the request.
        client_id=tenant_for(message.client_id),
        time_range=time_range(message.time_range),
        period=PERIODS[message.period],
        group_by=tuple(message.group_by),
        comparison=COMPARISONS[message.comparison],
        time_zone=message.time_zone or "UTC",
        max_groups=message.max_groups or 100,
        bypass_cache=message.bypass_cache,
        # RBAC KPIs read only the rows the verified caller's claims allow.
        caller=current_caller(),
        series_layout=_layout(message),
    )


_LAYOUTS = {
    calculation_pb2.SERIES_LAYOUT_UNSPECIFIED: SeriesLayout.VALUES,
    calculation_pb2.SERIES_LAYOUT_VALUES: SeriesLayout.VALUES,
    calculation_pb2.SERIES_LAYOUT_COLUMNS: SeriesLayout.COLUMNS,
}


def _layout(message: CalculateLike) -> SeriesLayout:
    if isinstance(message, calculation_pb2.ExportCalculationRequest):
        return SeriesLayout.VALUES  # an export is a file, not a series on the wire
    layout = _LAYOUTS.get(message.series_layout)
    if layout is None:
        raise InvalidArgument.for_field("series_layout", "choose VALUES or COLUMNS")
    return layout


class _Stamper:
    """Builds the KpiValues of one outcome. Everything but the bucket and the value is the same
    for all of them, so it is set once on a template and copied (a dashboard has thousands)."""

    def __init__(self, outcome: KpiOutcome) -> None:
        self.outcome = outcome
        self.template = types_pb2.KpiValue(
            kpi_code=outcome.kpi_code,
            period=PERIODS_BACK[outcome.period],
            computed_at=timestamp(outcome.computed_at),
        )
        if outcome.watermark is not None:
            self.template.watermark.CopyFrom(timestamp(outcome.watermark))

    def value(
        self,
        value: Value,
        dimensions: dict[str, str] | None = None,
        range_start: datetime.datetime | None = None,
    ) -> types_pb2.KpiValue:
        """A total (no bucket) is stamped with the start of its range."""
        message = types_pb2.KpiValue()
        message.CopyFrom(self.template)
        self._stamp(message, value, dimensions, range_start)
        return message

    def series_field(
        self,
        field_number: int,
        series: Sequence[Value],
        dimensions: dict[str, str] | None = None,
    ) -> bytes:
        """A series as the wire bytes of the repeated KpiValue field `field_number` (see
        value_wire: a dashboard has some 150,000 values, too many for a message each)."""
        template = self.template
        if dimensions:
            template = types_pb2.KpiValue()
            template.CopyFrom(self.template)
            template.dimensions.update(dimensions)
        return value_wire.repeated_values(
            field_number,
            template.SerializeToString(deterministic=True),
            series,
            self.outcome.time_range.start,
        )

    def _stamp(
        self,
        message: types_pb2.KpiValue,
        value: Value,
        dimensions: dict[str, str] | None,
        range_start: datetime.datetime | None,
    ) -> None:
        if dimensions:
            message.dimensions.update(dimensions)
        if value.value is not None:
            message.value = value.value
        if value.no_value is not None:
            message.no_value_reason = NO_VALUES[value.no_value]
        bucket = value.bucket_start or range_start or self.outcome.time_range.start
        seconds = bucket.timestamp()
        message.bucket_start.seconds = int(seconds // 1)
        message.bucket_start.nanos = bucket.microsecond * 1000


_GROUPS = calculation_pb2.KpiResult.GROUPS_FIELD_NUMBER
_SERIES_COLUMNS = calculation_pb2.KpiResult.SERIES_COLUMNS_FIELD_NUMBER


def series_columns(outcome: KpiOutcome) -> calculation_pb2.KpiSeriesColumns:
    """An outcome's series as packed columns: the calculator keeps series as columns already
    (results.Series), so they are handed to the message whole rather than value by value."""
    columns = calculation_pb2.KpiSeriesColumns(computed_at=timestamp(outcome.computed_at))
    if outcome.watermark is not None:
        columns.watermark.CopyFrom(timestamp(outcome.watermark))
    series = outcome.series
    if isinstance(series, Series):
        columns.bucket_start_micros.extend(series.axis.starts)
        entries: Sequence[float | NoValueReason] = series.entries
        complete = series.complete
    else:
        columns.bucket_start_micros.extend(
            micros_of([v.bucket_start or outcome.time_range.start for v in series])
        )
        entries = [v.no_value or NoValueReason.NO_DATA if v.value is None else v.value
                   for v in series]
        complete = all(v.value is not None for v in series)
    if complete:
        columns.values.extend(entries)  # type: ignore[arg-type]
    else:
        columns.values.extend(0.0 if isinstance(e, NoValueReason) else e for e in entries)
        present = types_pb2.NO_VALUE_REASON_UNSPECIFIED
        columns.no_value_reasons.extend(
            NO_VALUES[e] if isinstance(e, NoValueReason) else present for e in entries
        )
    return columns
_COMPARISON = calculation_pb2.KpiResult.COMPARISON_FIELD_NUMBER


def kpi_result(
    outcome: KpiOutcome, layout: SeriesLayout = SeriesLayout.VALUES
) -> calculation_pb2.KpiResult:
    return calculation_pb2.KpiResult.FromString(encode_result(outcome, layout))


def encode_result(outcome: KpiOutcome, layout: SeriesLayout = SeriesLayout.VALUES) -> bytes:
    """The wire form of a result (what the cache stores): its own fields encoded as a message,
    the series, groups and comparison appended as bytes (fields may come in any order). The
    series is a KpiValue per bucket, or packed columns when `layout` asks for them."""
    stamp = _Stamper(outcome)
    result = calculation_pb2.KpiResult(
        kpi_code=outcome.kpi_code,
        kpi_name=outcome.kpi_name,
        unit=outcome.unit,
        direction=catalog_messages.direction(outcome.direction),
        time_range=time_range_message(outcome.time_range),
        period=PERIODS_BACK[outcome.period],
        total=stamp.value(outcome.total),
        truncated_groups=outcome.truncated_groups,
        data_version=outcome.data_version,
    )
    if outcome.current is not None:
        result.current.CopyFrom(stamp.value(outcome.current))
    if outcome.watermark is not None:
        result.watermark.CopyFrom(timestamp(outcome.watermark))
    if outcome.target is not None:
        result.target = outcome.target
    parts = [
        result.SerializeToString(),
        wire.with_field(b"", _SERIES_COLUMNS, (series_columns(outcome).SerializeToString(),))
        if layout is SeriesLayout.COLUMNS
        else stamp.series_field(calculation_pb2.KpiResult.SERIES_FIELD_NUMBER, outcome.series),
    ]
    for group in outcome.groups:
        head = calculation_pb2.KpiGroup(
            dimensions=group.dimensions, total=stamp.value(group.total, group.dimensions)
        )
        series = stamp.series_field(
            calculation_pb2.KpiGroup.SERIES_FIELD_NUMBER, group.series, group.dimensions
        )
        parts.append(wire.with_field(b"", _GROUPS, (head.SerializeToString(), series)))
    if outcome.comparison is not None:
        compared = outcome.comparison
        comparison = calculation_pb2.KpiComparison(
            mode=COMPARISONS_BACK[compared.mode],
            previous_time_range=time_range_message(compared.time_range),
            previous_total=stamp.value(compared.total, range_start=compared.time_range.start),
        )
        if compared.absolute_change is not None:
            comparison.absolute_change = compared.absolute_change
        if compared.percent_change is not None:
            comparison.percent_change = compared.percent_change
        series = stamp.series_field(
            calculation_pb2.KpiComparison.PREVIOUS_SERIES_FIELD_NUMBER, compared.series
        )
        parts.append(wire.with_field(b"", _COMPARISON, (comparison.SerializeToString(), series)))
    return b"".join(parts)


def result_of(
    item: KpiOutcome | CachedResult, encoded: Mapping[str, bytes]
) -> calculation_pb2.KpiResult:
    """The wire form of a result as a message; parsing what was encoded for the cache (in C) is
    much faster than building the values again."""
    if isinstance(item, KpiOutcome):
        payload = encoded.get(item.kpi_code)
        return (
            kpi_result(item) if payload is None else calculation_pb2.KpiResult.FromString(payload)
        )
    result = calculation_pb2.KpiResult.FromString(item.payload)
    result.from_cache = True
    return result


# Appended to a stored result, marks it as served from the cache (the stored form never sets it).
_FROM_CACHE = wire.true_field(calculation_pb2.KpiResult.FROM_CACHE_FIELD_NUMBER)


def result_pieces(
    item: KpiOutcome | CachedResult,
    encoded: Mapping[str, bytes],
    layout: SeriesLayout = SeriesLayout.VALUES,
) -> tuple[bytes, ...]:
    """The wire form of a result, in pieces to be joined into a response: what the cache holds
    (marked as cached) or what was just encoded for it; built afresh only without a cache."""
    if isinstance(item, CachedResult):
        return (item.payload, _FROM_CACHE)
    payload = encoded.get(item.kpi_code)
    return (encode_result(item, layout) if payload is None else payload,)


def cached_pieces(
    item: KpiOutcome | CachedResult,
    encoded: Mapping[str, bytes],
    layout: SeriesLayout = SeriesLayout.VALUES,
) -> tuple[bytes, ...]:
    """The wire form of a result as it is served from the cache (marked as cached)."""
    if isinstance(item, CachedResult):
        return (item.payload, _FROM_CACHE)
    return (*result_pieces(item, encoded, layout), _FROM_CACHE)


def joined_results(
    results_field: int,
    items: Iterable[KpiOutcome | CachedResult],
    encoded: Mapping[str, bytes],
    layout: SeriesLayout = SeriesLayout.VALUES,
    *,
    as_cached: bool = False,
) -> bytes:
    """Each result as an element of the repeated field `results_field`, joined: appended to a
    response's own encoded fields they make the whole response. `as_cached` marks every result
    as served from the cache, the form a whole answer is kept in."""
    pieces = cached_pieces if as_cached else result_pieces
    return wire.message_with_repeated(
        b"", results_field, (pieces(item, encoded, layout) for item in items)
    )


def with_results(
    head: Message,
    results_field: int,
    items: Iterable[KpiOutcome | CachedResult],
    encoded: Mapping[str, bytes],
    layout: SeriesLayout = SeriesLayout.VALUES,
) -> bytes:
    """A response in wire form: `head`'s own fields followed by each result in `results_field`,
    joined from the results' wire forms rather than parsed into the message and serialized
    again (for a cached 100-KPI minute dashboard that was most of the answer's time)."""
    return wire.message_with_repeated(
        head.SerializeToString(),
        results_field,
        (result_pieces(item, encoded, layout) for item in items),
    )
