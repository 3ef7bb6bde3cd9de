"""Request validation, the size guard, the cache key and codec, and exports — pure logic."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from analytics.calculation.v1 import calculation_pb2

from services.aggregates.query import Period, TimeRange
from services.calculation import cache, export, messages
from services.calculation.formula.values import NoValueReason
from services.calculation.request import CalculationRequest, Comparison, validate
from services.calculation.results import (
    CachedResult,
    ComparisonResult,
    GroupResult,
    KpiOutcome,
    Value,
)
from services.catalog.domain import Direction
from services.errors import InvalidArgument, ResourceExhausted

UTC = datetime.UTC
START = datetime.datetime(2026, 1, 1, tzinfo=UTC)


def make(**changes: object) -> CalculationRequest:
    fields: dict[str, object] = {
        "kpi_codes": ("SCOR_POF",),
        "client_id": "acme",
        "time_range": TimeRange(START, START + datetime.timedelta(days=7)),
        "period": Period.DAY,
    }
    fields.update(changes)
    return CalculationRequest(**fields)  # type: ignore[arg-type]


def test_end_before_start_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate(make(time_range=TimeRange(START, START - datetime.timedelta(days=1))))
    assert [v.field for v in error.value.violations] == ["time_range.end"]


def test_every_problem_is_reported() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate(make(kpi_codes=(), client_id=" ", time_zone="Mars/Base", max_groups=0))
    assert {v.field for v in error.value.violations} == {
        "kpi_codes",
        "client_id",
        "time_zone",
        "max_groups",
    }


def test_minutes_over_years_are_refused_with_the_limit() -> None:
    with pytest.raises(ResourceExhausted) as error:
        validate(
            make(
                period=Period.MINUTE,
                time_range=TimeRange(START, START + datetime.timedelta(days=730)),
            )
        )
    assert "at most" in error.value.message and "minute" in error.value.message
    validate(
        make(period=Period.MINUTE, time_range=TimeRange(START, START + datetime.timedelta(days=1)))
    )


def test_comparison_ranges() -> None:
    request = make(comparison=Comparison.PREVIOUS_PERIOD)
    assert request.comparison_range() == TimeRange(START - datetime.timedelta(days=7), START)
    leap = make(
        comparison=Comparison.PREVIOUS_YEAR,
        time_range=TimeRange(
            datetime.datetime(2028, 2, 29, tzinfo=UTC), datetime.datetime(2028, 3, 1, tzinfo=UTC)
        ),
    )
    previous = leap.comparison_range()
    assert previous is not None and previous.start == datetime.datetime(2027, 2, 28, tzinfo=UTC)


def test_cache_key_changes_with_data_version_and_shape() -> None:
    base = cache.cache_key(make(), "SCOR_POF", "v1", {"ORDER": 3})
    assert base == cache.cache_key(make(), "SCOR_POF", "v1", {"ORDER": 3})
    assert base != cache.cache_key(make(), "SCOR_POF", "v1", {"ORDER": 4})
    assert base != cache.cache_key(make(period=Period.HOUR), "SCOR_POF", "v1", {"ORDER": 3})
    assert base != cache.cache_key(make(client_id="other"), "SCOR_POF", "v1", {"ORDER": 3})
    assert base != cache.cache_key(make(), "SCOR_POF", "v1", {"ORDER": 3}, "region=EU")
    assert base != cache.cache_key(make(), "SCOR_OTIF", "v1", {"ORDER": 3})
    assert base != cache.cache_key(make(), "SCOR_POF", "v2", {"ORDER": 3})
    # One request's keys, made together, are the keys made one by one.
    keys = cache.CacheKeys(make())
    assert keys.key("SCOR_POF", "v1", {"ORDER": 3}) == base


def outcome() -> KpiOutcome:
    day = datetime.timedelta(days=1)
    series = (Value(START, 91.5), Value(START + day, None, NoValueReason.DIVISION_BY_ZERO))
    return KpiOutcome(
        kpi_code="SCOR_POF",
        kpi_name="Perfect Order Fulfillment",
        unit="%",
        direction=Direction.HIGHER_IS_BETTER,
        target=95.0,
        time_range=TimeRange(START, START + 2 * day),
        period=Period.DAY,
        total=Value(None, 91.5),
        current=series[-1],
        series=series,
        groups=(GroupResult({"region": "EU"}, Value(None, 90.0), (Value(START, 90.0),)),),
        truncated_groups=False,
        comparison=ComparisonResult(
            Comparison.PREVIOUS_PERIOD,
            TimeRange(START - 2 * day, START),
            Value(None, 88.0),
            (),
            3.5,
            3.977,
        ),
        computed_at=START + 3 * day,
        watermark=START + day,
        data_version="ORDER:4",
    )


def test_cached_results_are_the_wire_form_marked_as_cached() -> None:
    original = outcome()
    stored = messages.encode_result(original)
    served = calculation_pb2.KpiResult.FromString(
        b"".join(messages.result_pieces(CachedResult("SCOR_POF", stored), {}))
    )
    assert served.from_cache
    assert messages.result_of(CachedResult("SCOR_POF", stored), {}) == served
    assert served.total.value == 91.5 and served.comparison.absolute_change == 3.5
    fresh = calculation_pb2.KpiResult.FromString(b"".join(messages.result_pieces(original, {})))
    assert not fresh.from_cache
    fresh.from_cache = True
    assert fresh == served


def test_csv_and_xlsx_carry_every_value() -> None:
    content, rows = export.to_csv([outcome()])
    lines = content.decode().splitlines()
    assert lines[0].split(",")[:5] == ["kpi_code", "kpi_name", "unit", "region", "bucket_start"]
    assert rows == len(lines) - 1 == 5  # total + 2 buckets, group total + 1 bucket
    assert "division_by_zero" in content.decode()

    workbook, count = export.to_xlsx([outcome()])
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    values = list(sheet.iter_rows(values_only=True))
    assert count == 5 and len(values) == 6
    assert values[1][0] == "SCOR_POF" and values[1][5] == 91.5
