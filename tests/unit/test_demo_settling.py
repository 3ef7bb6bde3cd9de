"""What a load settles: the catalog's distinct-count measures (each once), read per day over the
loaded range in chunks cut at the zone's midnights, and the total only over a range that is
over."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog
from services.demo import settling

UTC = datetime.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
END = datetime.datetime(2026, 10, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


def test_every_distinct_measure_of_the_catalog_once(catalog: Catalog) -> None:
    measures = settling.distinct_measures(catalog)
    assert {"ORDER", "SHIPMENT"} <= set(measures)
    for model_measures in measures.values():
        assert model_measures
        assert all(m.function is q.AggregateFunction.COUNT_DISTINCT for m in model_measures)
        ids = [m.measure_id for m in model_measures]
        assert len(ids) == len(set(ids))


def test_chunks_cut_at_the_zones_midnights_and_cover_the_range() -> None:
    start = datetime.datetime(2025, 10, 1, 13, 7, tzinfo=UTC)
    spans = settling.chunks(start, END, "Europe/Berlin")
    assert spans[0].start == start and spans[-1].end == END
    assert all(a.end == b.start for a, b in zip(spans, spans[1:], strict=False))
    for span in spans[1:]:
        local = span.start.astimezone(BERLIN)
        assert (local.hour, local.minute) == (0, 0)
    assert all(
        span.end - span.start <= datetime.timedelta(days=settling.CHUNK_DAYS + 1)
        for span in spans
    )
    # No last chunk too short to be kept.
    assert spans[-1].end - spans[-1].start >= datetime.timedelta(days=3)


def test_a_past_range_settles_its_total_too_an_open_one_does_not(catalog: Catalog) -> None:
    models = {model.code: model for model in catalog.object_models}
    measures = settling.distinct_measures(catalog)
    start = END - datetime.timedelta(days=90)
    past = settling.settling_queries(models, measures, start, END, "UTC", END)
    totals = [query for query in past if query.bucket is None]
    assert {query.object_model_code for query in totals} >= {"ORDER", "SHIPMENT"}
    assert all(query.time_range == q.TimeRange(start, END) for query in totals)
    series = [query for query in past if query.bucket is q.Period.DAY]
    orders = sorted(
        (query.time_range for query in series if query.object_model_code == "ORDER"),
        key=lambda span: span.start,
    )
    assert orders[0].start == start and orders[-1].end == END
    still_open = settling.settling_queries(
        models, measures, start, END, "UTC", END - datetime.timedelta(hours=1)
    )
    assert all(query.bucket is not None for query in still_open)
    # Only measures whose counts are kept are read.
    assert all(query.measures for query in past)
