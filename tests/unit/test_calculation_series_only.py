"""Series-only calculations (live updates and stream snapshots): no total is read or evaluated,
the series is the one a full calculation gives, and the result cache keeps the two apart."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping, Sequence

import pytest

from services.aggregates import query
from services.aggregates.columns import micros
from services.calculation import messages
from services.calculation.cache import cache_key, request_shape
from services.calculation.calculator import Calculator, ModelVersion
from services.calculation.catalog_view import CatalogSnapshot
from services.calculation.request import CalculationRequest, Comparison
from services.calculation.results import KpiOutcome
from services.catalog.catalog_files import load_catalog_files
from services.errors import InvalidArgument

START = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
SPAN = query.TimeRange(START, START + datetime.timedelta(minutes=3))
# Averages and distinct counts: totals the data service cannot derive from the series.
KPIS = ("CRM_ACTIVE_CUSTOMERS", "SCOR_AVG_ORDER_VALUE", "SCOR_BACKORDER_RATE")


class Catalog:
    def __init__(self) -> None:
        files = load_catalog_files()
        self.snapshot_value = CatalogSnapshot(
            "catalog-1",
            {kpi.code: kpi for kpi in files.kpis},
            {model.code: model for model in files.object_models},
        )

    async def snapshot_for(self, client_id: str, kpi_codes: Iterable[str]) -> CatalogSnapshot:
        return self.snapshot_value

    async def snapshot(self) -> CatalogSnapshot:
        return self.snapshot_value


class Rows:
    """Two rows in every bucket of the range (the second bucket left empty), 2.0 per measure."""

    def __init__(self) -> None:
        self.requests: list[query.AggregateRequest] = []

    async def aggregate(self, request: query.AggregateRequest) -> Sequence[query.ColumnarResult]:
        self.requests.append(request)
        return [self._answer(q) for q in request.queries]

    def _answer(self, q: query.AggregateQuery) -> query.ColumnarResult:
        if q.bucket is None:
            starts: tuple[int, ...] = ()
            count = 1
        else:
            minutes = (q.time_range.start, q.time_range.start + datetime.timedelta(minutes=2))
            starts = tuple(micros(m) for m in minutes)
            count = len(starts)
        columns = query.AggregateColumns(
            bucket_starts=starts,
            row_counts=(2,) * count,
            measures={m.measure_id: (2.0,) * count for m in q.measures},
        )
        return query.ColumnarResult(q.query_id, columns, data_version=7)

    async def versions(
        self, client_id: str, object_model_codes: Sequence[str]
    ) -> Mapping[str, ModelVersion]:
        return {code: ModelVersion(7, None) for code in object_model_codes}


def calculator(rows: Rows) -> Calculator:
    return Calculator(Catalog(), rows, None, encode=messages.encode_result)  # type: ignore[arg-type]


def request(series_only: bool) -> CalculationRequest:
    return CalculationRequest(
        kpi_codes=KPIS,
        client_id="acme",
        time_range=SPAN,
        period=query.Period.MINUTE,
        bypass_cache=True,
        series_only=series_only,
    )


async def test_a_series_only_calculation_reads_no_totals_and_keeps_the_series() -> None:
    full_rows, live_rows = Rows(), Rows()
    full = await calculator(full_rows).calculate(request(series_only=False))
    live = await calculator(live_rows).calculate(request(series_only=True))
    assert not full.errors and not live.errors

    (full_request,), (live_request,) = full_rows.requests, live_rows.requests
    assert any(q.bucket is None for q in full_request.queries)
    assert all(q.bucket is not None for q in live_request.queries)
    assert [q for q in full_request.queries if q.bucket is not None] == list(live_request.queries)

    for whole, series_only in zip(full.outcomes, live.outcomes, strict=True):
        assert isinstance(whole, KpiOutcome) and isinstance(series_only, KpiOutcome)
        assert list(series_only.series) == list(whole.series)
        assert len(whole.series) == 2  # the empty bucket is left out, as always
        assert whole.total.value is not None or whole.total.no_value is not None
        assert series_only.total.value is None and series_only.total.no_value is None
        assert series_only.data_version == whole.data_version


def test_series_only_results_are_cached_apart_from_full_ones() -> None:
    def key(series_only: bool) -> str:
        return cache_key(request(series_only), KPIS[0], "catalog-1", {"ORDER": 7})

    assert key(True) != key(False)
    # Every other request keeps the key it had.
    assert "series_only" not in request_shape(request(False))


@pytest.mark.parametrize(
    "change", [{"group_by": ("region",)}, {"comparison": Comparison.PREVIOUS_PERIOD}]
)
async def test_groups_and_comparisons_need_totals(change: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await calculator(Rows()).calculate(dataclasses.replace(request(True), **change))  # type: ignore[arg-type]
    assert "series_only" in str(refused.value)
