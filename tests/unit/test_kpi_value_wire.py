"""Results encoded as bytes (series joined from a template, shared bucket encodings and value
fields) parse to exactly the message built value by value, field by field."""

from __future__ import annotations

import datetime
import math
import random

from analytics.calculation.v1 import calculation_pb2
from analytics.type.v1 import types_pb2

from services.aggregates.columns import micros
from services.aggregates.query import Period, TimeRange
from services.calculation import messages
from services.calculation.formula.values import NoValueReason
from services.calculation.request import Comparison
from services.calculation.results import (
    BucketAxis,
    ComparisonResult,
    GroupResult,
    KpiOutcome,
    Series,
    Value,
)
from services.calculation.value_wire import bucket_field
from services.catalog import messages as catalog_messages
from services.catalog.domain import Direction

UTC = datetime.UTC
END = datetime.datetime(2026, 10, 1, tzinfo=UTC)
SPAN = TimeRange(END - datetime.timedelta(hours=24), END)
PREVIOUS = TimeRange(SPAN.start - datetime.timedelta(hours=24), SPAN.start)


def reference_value(
    outcome: KpiOutcome,
    value: Value,
    dimensions: dict[str, str] | None = None,
    range_start: datetime.datetime | None = None,
) -> types_pb2.KpiValue:
    """A KpiValue built field by field, as results were built before they were joined as bytes."""
    message = types_pb2.KpiValue(
        kpi_code=outcome.kpi_code,
        period=messages.PERIODS_BACK[outcome.period],
        computed_at=messages.timestamp(outcome.computed_at),
    )
    if outcome.watermark is not None:
        message.watermark.CopyFrom(messages.timestamp(outcome.watermark))
    if dimensions:
        message.dimensions.update(dimensions)
    if value.value is not None:
        message.value = value.value
    if value.no_value is not None:
        message.no_value_reason = messages.NO_VALUES[value.no_value]
    message.bucket_start.CopyFrom(
        messages.timestamp(value.bucket_start or range_start or outcome.time_range.start)
    )
    return message


def reference_result(outcome: KpiOutcome) -> calculation_pb2.KpiResult:
    result = calculation_pb2.KpiResult(
        kpi_code=outcome.kpi_code,
        kpi_name=outcome.kpi_name,
        unit=outcome.unit,
        direction=catalog_messages.direction(outcome.direction),
        time_range=messages.time_range_message(outcome.time_range),
        period=messages.PERIODS_BACK[outcome.period],
        total=reference_value(outcome, outcome.total),
        series=[reference_value(outcome, v) for v in outcome.series],
        groups=[
            calculation_pb2.KpiGroup(
                dimensions=group.dimensions,
                total=reference_value(outcome, group.total, group.dimensions),
                series=[reference_value(outcome, v, group.dimensions) for v in group.series],
            )
            for group in outcome.groups
        ],
        truncated_groups=outcome.truncated_groups,
        data_version=outcome.data_version,
    )
    if outcome.current is not None:
        result.current.CopyFrom(reference_value(outcome, outcome.current))
    if outcome.watermark is not None:
        result.watermark.CopyFrom(messages.timestamp(outcome.watermark))
    if outcome.target is not None:
        result.target = outcome.target
    if outcome.comparison is not None:
        compared = outcome.comparison
        result.comparison.CopyFrom(
            calculation_pb2.KpiComparison(
                mode=messages.COMPARISONS_BACK[compared.mode],
                previous_time_range=messages.time_range_message(compared.time_range),
                previous_total=reference_value(
                    outcome, compared.total, range_start=compared.time_range.start
                ),
                previous_series=[reference_value(outcome, v) for v in compared.series],
            )
        )
        if compared.absolute_change is not None:
            result.comparison.absolute_change = compared.absolute_change
        if compared.percent_change is not None:
            result.comparison.percent_change = compared.percent_change
    return result


def series(
    span: TimeRange,
    chance: random.Random,
    count: int,
    numbers_only: bool = False,
    off_second: bool = False,
) -> Series:
    minutes = sorted(chance.sample(range(1440), count))
    starts = [micros(span.start + datetime.timedelta(minutes=m)) for m in minutes]
    # One bucket off a whole second: its Timestamp has nanos (and its field another length).
    if starts and off_second:
        starts[-1] += 250
    numbers: list[float | NoValueReason] = [0.0, -0.0, 1.5, -3e12, 1e-9, math.nan]
    reasons = [NoValueReason.NO_DATA, NoValueReason.DIVISION_BY_ZERO]
    # Numbers only, a few values without one, or many (each encoded its own way).
    share = 0.0 if numbers_only else chance.choice([0.03, 0.5])
    entries = [
        chance.choice(reasons) if chance.random() < share else chance.choice(numbers)
        for _ in starts
    ]
    return Series(BucketAxis(starts), entries)


def outcome(chance: random.Random, grouped: bool, compared: bool, watermark: bool) -> KpiOutcome:
    # With a watermark, the main series has numbers only (packed in one call).
    main = series(SPAN, chance, 200, numbers_only=watermark, off_second=compared)
    assert main.complete is watermark
    return KpiOutcome(
        kpi_code="SCOR_POF",
        kpi_name="Perfect Order Fulfillment",
        unit="%",
        direction=Direction.HIGHER_IS_BETTER,
        target=95.0 if watermark else None,
        time_range=SPAN,
        period=Period.MINUTE,
        total=Value(None, 97.5),
        current=main[-1],
        series=main,
        groups=tuple(
            GroupResult(
                {"region": region, "channel": "web"},
                Value(None, None, NoValueReason.DIVISION_BY_ZERO),
                series(SPAN, chance, 30),
            )
            for region in (("EU", "US", "(none)") if grouped else ())
        ),
        truncated_groups=grouped,
        comparison=ComparisonResult(
            Comparison.PREVIOUS_PERIOD,
            PREVIOUS,
            Value(None, 80.0),
            series(PREVIOUS, chance, 50, off_second=True),
            17.5,
            None,
        )
        if compared
        else None,
        computed_at=END + datetime.timedelta(seconds=3, microseconds=250),
        watermark=END - datetime.timedelta(seconds=1) if watermark else None,
        data_version="ORDER:7,SHIPMENT:3",
    )


def test_encoded_results_parse_to_the_message_built_field_by_field() -> None:
    chance = random.Random(11)
    for grouped in (False, True):
        for compared in (False, True):
            for watermark in (False, True):
                built = outcome(chance, grouped, compared, watermark)
                expected = reference_result(built)
                encoded = messages.encode_result(built)
                assert calculation_pb2.KpiResult.FromString(encoded) == expected
                assert messages.kpi_result(built) == expected


def test_series_given_as_values_encode_the_same_way() -> None:
    built = outcome(random.Random(5), True, True, True)
    as_values = KpiOutcome(
        **{
            **built.__dict__,
            "series": (*tuple(built.series), Value(None, 1.0), Value(END, None, None)),
        }
    )
    assert messages.kpi_result(as_values) == reference_result(as_values)


def test_a_bucket_field_is_the_timestamp_message_encoded() -> None:
    for moment in (
        datetime.datetime(1970, 1, 1, tzinfo=UTC),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
        END,
        END + datetime.timedelta(microseconds=1),
    ):
        parsed = types_pb2.KpiValue.FromString(bucket_field(micros(moment)))
        assert parsed.bucket_start == messages.timestamp(moment)
        assert parsed.bucket_start.ToDatetime(tzinfo=UTC) == moment
