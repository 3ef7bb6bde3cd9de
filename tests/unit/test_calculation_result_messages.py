"""A result's series, appended in place from the template's bytes, carries the same values as
values stamped one by one; the cache's encoding parses back into the same result."""

from __future__ import annotations

import dataclasses
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
HOUR = datetime.timedelta(hours=1)
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


def test_a_response_joined_from_wire_forms_decodes_as_the_built_one() -> None:
    fresh, cached = outcome(None), outcome(END)
    # Without a cache nothing is encoded: that result is built afresh.
    unencoded = dataclasses.replace(outcome(END - HOUR), kpi_code="SCOR_OTHER")
    encoded = {fresh.kpi_code: messages.encode_result(fresh)}
    head = calculation_pb2.CalculateDashboardResponse(
        errors=[calculation_pb2.KpiError(kpi_code="NOPE")],
        stats=calculation_pb2.CalculationStats(kpi_count=4, cache_hits=1),
        dashboard_id="ops",
    )
    wire = messages.with_results(
        head,
        calculation_pb2.CalculateDashboardResponse.RESULTS_FIELD_NUMBER,
        [fresh, CachedResult("SCOR_POF", messages.encode_result(cached)), unencoded],
        encoded,
    )
    expected = calculation_pb2.CalculateDashboardResponse()
    expected.CopyFrom(head)
    marked = messages.kpi_result(cached)
    marked.from_cache = True
    expected.results.extend([messages.kpi_result(fresh), marked, messages.kpi_result(unencoded)])
    response = calculation_pb2.CalculateDashboardResponse.FromString(wire)
    assert response == expected
    assert [r.from_cache for r in response.results] == [False, True, False]
    assert response.results[2].watermark.ToDatetime(tzinfo=UTC) == END - HOUR


def test_a_singular_result_field_is_joined_the_same_way() -> None:
    cached = outcome(END)
    wire = messages.with_results(
        calculation_pb2.CalculateResponse(),
        calculation_pb2.CalculateResponse.RESULT_FIELD_NUMBER,
        [CachedResult("SCOR_POF", messages.encode_result(cached))],
        {},
    )
    response = calculation_pb2.CalculateResponse.FromString(wire)
    assert response.result.from_cache
    response.result.from_cache = False
    assert response.result == messages.kpi_result(cached)
