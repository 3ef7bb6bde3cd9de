"""Which buckets of a distinct-count series are read from kept counts and which are counted, and
which measures may be kept at all (pure: no database)."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import settled_plan
from services.data.sql_builder import settled_distinct_refusal

UTC = datetime.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
D = datetime.date


def at(day: int, hour: int = 0, zone: datetime.tzinfo = UTC) -> datetime.datetime:
    return datetime.datetime(2026, 3, day, hour, tzinfo=zone)


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


def test_only_buckets_inside_the_range_are_whole() -> None:
    starts = [at(1), at(2), at(3), at(4)]
    planned = settled_plan.buckets(starts, q.TimeRange(at(1, 6), at(4)), time_is_date=False)
    # The start at the range's end only closes the bucket before it.
    assert [(b.start, b.whole) for b in planned] == [(at(1), False), (at(2), True), (at(3), True)]
    assert planned[1].days == (D(2026, 3, 2),)
    overrun = settled_plan.buckets(starts[:3], q.TimeRange(at(1), at(3, 12)), time_is_date=False)
    assert [b.whole for b in overrun] == [True, True, False]


def test_a_day_in_berlin_depends_on_two_utc_days() -> None:
    starts = [at(day, zone=BERLIN) for day in (10, 11, 12)]
    planned = settled_plan.buckets(
        starts, q.TimeRange(starts[0], starts[-1]), time_is_date=False
    )
    assert planned[0].days == (D(2026, 3, 9), D(2026, 3, 10))
    # Date-placed rows: the dates of a bucket are among its UTC days and one more either side.
    dated = settled_plan.buckets(starts, q.TimeRange(starts[0], starts[-1]), time_is_date=True)
    assert dated[0].days == (D(2026, 3, 8), D(2026, 3, 9), D(2026, 3, 10), D(2026, 3, 11))


def test_a_kept_count_answers_only_at_the_stamps_it_was_counted_at() -> None:
    starts = [at(day) for day in range(1, 6)]
    planned = settled_plan.buckets(starts, q.TimeRange(at(1), at(5)), time_is_date=False)
    day_stamps = {D(2026, 3, 1): 7, D(2026, 3, 2): 9}
    stamps = {b.start: settled_plan.current_stamps(b, 3, day_stamps) for b in planned}
    assert stamps[at(1)] == (3, 7) and stamps[at(3)] == (3, 0)
    kept = {
        at(1): settled_plan.Kept(5, (3, 7)),
        at(2): settled_plan.Kept(4, (3, 8)),  # its day was written since
        at(3): settled_plan.Kept(2, (2, 0)),  # all rows were deleted since
    }
    assert settled_plan.stale_buckets(planned, kept, stamps) == [1, 2, 3]


def test_stale_buckets_are_counted_in_runs_of_at_most_a_few_spans() -> None:
    starts = [at(day) for day in range(1, 31)]
    planned = settled_plan.buckets(starts, q.TimeRange(at(1, 12), at(30)), time_is_date=False)
    assert settled_plan.runs(planned, [0, 1, 5], q.TimeRange(at(1, 12), at(30))) == [
        (at(1, 12), at(3)),
        (at(6), at(7)),
    ]
    scattered = list(range(0, 28, 2))
    spans = settled_plan.runs(planned, scattered, q.TimeRange(at(1, 12), at(30)))
    assert len(spans) == settled_plan.MAX_RUNS
    for index in scattered:
        assert any(low <= max(planned[index].start, at(1, 12)) < high for low, high in spans)


def test_only_settled_whole_buckets_are_kept() -> None:
    planned = settled_plan.buckets([at(1), at(2), at(3)], q.TimeRange(at(1), at(3)), False)
    assert [settled_plan.settled(b, at(2, 5)) for b in planned] == [True, False]


def test_a_total_is_the_one_bucket_of_its_whole_range() -> None:
    whole = settled_plan.whole_range(q.TimeRange(at(1, 12), at(3, 1)), time_is_date=False)
    assert whole.whole and whole.days == (D(2026, 3, 1), D(2026, 3, 2), D(2026, 3, 3))


def test_the_key_follows_the_measure_and_filter_but_not_the_range(
    models: dict[str, ObjectModel],
) -> None:
    order = models["ORDER"]
    measure = q.Measure("a", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("customer_id"))
    day = q.Period.DAY
    year = q.AggregateQuery("x", "ORDER", q.TimeRange(at(1), at(30)), (measure,), bucket=day)
    other_range = q.AggregateQuery(
        "y", "ORDER", q.TimeRange(at(2), at(20)), (measure,), bucket=day
    )
    filtered = q.AggregateQuery(
        "x", "ORDER", year.time_range, (measure,), bucket=day,
        row_filter=q.Compare(q.FieldRef("region"), q.Comparator.EQ, q.Literal("EU")),
    )
    key = settled_plan.measure_key(order, year, measure)
    assert settled_plan.measure_key(order, other_range, measure) == key
    renamed = q.Measure("b", measure.function, measure.argument)
    assert settled_plan.measure_key(order, year, renamed) == key
    assert settled_plan.measure_key(order, filtered, measure) != key
    # A total's count is of its range: the range's end is part of its key.
    total = q.AggregateQuery("x", "ORDER", year.time_range, (measure,))
    longer = q.AggregateQuery("x", "ORDER", q.TimeRange(at(1), at(31)), (measure,))
    assert settled_plan.measure_key(order, total, measure) != settled_plan.measure_key(
        order, longer, measure
    )


def _series(measure: q.Measure, **changes: object) -> q.AggregateQuery:
    query = q.AggregateQuery(
        "s", "ORDER", q.TimeRange(at(1), at(30)), (measure,), bucket=q.Period.DAY
    )
    return q.AggregateQuery(**{**query.__dict__, **changes})


def test_measures_reading_only_their_row_may_be_kept(models: dict[str, ObjectModel]) -> None:
    order, line = models["ORDER"], models["ORDER_LINE"]
    customers = q.Measure(
        "c", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("customer_id"),
        q.Compare(q.FieldRef("status"), q.Comparator.NE, q.Literal("cancelled")),
    )
    assert settled_distinct_refusal(_series(customers), customers, order) is None
    # A total is kept as the count of its whole range.
    assert settled_distinct_refusal(_series(customers, bucket=None), customers, order) is None
    # A copy of the order's status that the line carries is read from the line itself.
    carried = q.Measure(
        "p", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("product_id"),
        q.Compare(q.FieldRef("status", ("order",)), q.Comparator.EQ, q.Literal("open")),
    )
    assert settled_distinct_refusal(
        _series(carried, object_model_code="ORDER_LINE"), carried, line
    ) is None
    joined = q.Measure(
        "j", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("customer_id"),
        q.Compare(q.FieldRef("segment", ("customer",)), q.Comparator.EQ, q.Literal("smb")),
    )
    refusals = {
        "joined row": settled_distinct_refusal(_series(joined), joined, order),
        "minute": settled_distinct_refusal(
            _series(customers, bucket=q.Period.MINUTE), customers, order
        ),
        "grouped": settled_distinct_refusal(
            _series(customers, group_by=(q.Dimension("r", q.FieldRef("region")),)),
            customers, order,
        ),
        "short": settled_distinct_refusal(
            _series(customers, time_range=q.TimeRange(at(1), at(2))), customers, order
        ),
        "other time field": settled_distinct_refusal(
            _series(customers, time_field="promised_at"), customers, order
        ),
        "rollups disabled": settled_distinct_refusal(
            _series(customers), customers, order, allow_rollups=False
        ),
        "hierarchy": settled_distinct_refusal(
            _series(customers, row_filter=q.Subtree(
                q.FieldRef("region"), "ORG_NODE", "node_id", "parent_id", "x")),
            customers, order,
        ),
        "not distinct": settled_distinct_refusal(
            _series(q.Measure("n", q.AggregateFunction.COUNT)),
            q.Measure("n", q.AggregateFunction.COUNT), order,
        ),
    }
    assert all(refusals.values()), refusals
