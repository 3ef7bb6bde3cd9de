"""A result's series, appended in place from the template's bytes, carries the same values as
values stamped one by one; the cache's encoding parses back into the same result."""

from __future__ import annotations

import datetime

from analytics.calculation.v1 import calculation_pb2
from analytics.type.v1 import types_pb2

from services.aggregates.query import Period, TimeRange
from services.calculation import messages
from services.calculation.formula.values import NoValueReason
from services.calculation.results import CachedResult, KpiOutcome, Value
from services.catalog.domain import Direction

UTC = datetime.UTC
END = datetime.datetime(2026, 10, 1, tzinfo=UTC)
SPAN = TimeRange(END - datetime.timedelta(hours=2), END)


def minute(number: int) -> datetime.datetime:
    return SPAN.start + datetime.timedelta(minutes=number)


SERIES = (
    Value(minute(0), 0.0),
    Value(minute(1), -12.25),
    Value(minute(2), None, NoValueReason.NO_DATA),
    Value(minute(3), None, NoValueReason.DIVISION_BY_ZERO),
    Value(minute(4).replace(microsecond=123456), 3.0),
    Value(None, 5.0),  # stamped with the start of the range
)


def outcome(watermark: datetime.datetime | None) -> KpiOutcome:
    return KpiOutcome(
        kpi_code="SCOR_POF",
        kpi_name="Perfect Order Fulfillment",
        unit="%",
        direction=Direction.HIGHER_IS_BETTER,
        target=95.0,
        time_range=SPAN,
        period=Period.MINUTE,
        total=Value(None, 97.5),
        current=SERIES[-1],
        series=SERIES,
        groups=(),
        truncated_groups=False,
        comparison=None,
        computed_at=END + datetime.timedelta(seconds=3, microseconds=250),
        watermark=watermark,
        data_version="ORDER:7",
    )


def test_series_values_are_stamped_like_single_values() -> None:
    for watermark in (END - datetime.timedelta(seconds=1), None):
        result = messages.kpi_result(outcome(watermark))
        assert len(result.series) == len(SERIES)
        for built, value in zip(result.series, SERIES, strict=True):
            bucket = value.bucket_start or SPAN.start
            assert built.kpi_code == "SCOR_POF"
            assert built.period == types_pb2.PERIOD_MINUTE
            assert built.bucket_start.ToDatetime(tzinfo=UTC) == bucket
            assert built.computed_at.ToDatetime(tzinfo=UTC) == END + datetime.timedelta(
                seconds=3, microseconds=250
            )
            assert built.HasField("watermark") is (watermark is not None)
            assert built.HasField("value") is (value.value is not None)
            if value.value is not None:
                assert built.value == value.value
            if value.no_value is not None:
                assert built.no_value_reason == messages.NO_VALUES[value.no_value]


def test_results_are_added_to_a_response_as_encoded() -> None:
    fresh, cached = outcome(None), outcome(END)
    encoded = {fresh.kpi_code: messages.encode_result(fresh)}
    response = calculation_pb2.CalculateDashboardResponse()
    messages.add_results(
        response.results,
        [fresh, CachedResult("SCOR_POF", messages.encode_result(cached))],
        encoded,
    )
    assert response.results[0] == messages.kpi_result(fresh)
    assert not response.results[0].from_cache
    assert response.results[1].from_cache
    response.results[1].from_cache = False
    assert response.results[1] == messages.kpi_result(cached)
