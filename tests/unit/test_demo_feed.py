"""The live demo feed: deterministic for a seed and a clock however the clock is sampled, new
records at the configured rate, every row valid for its object model (as produced and as sent
over the wire), references into the client's historical demo data and into earlier feed rows,
and records whose key and time field never change while their state moves forward."""

from __future__ import annotations

import collections
import datetime
from collections.abc import Iterable

import pytest
from google.protobuf import json_format

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data import tables
from services.data.ingest import validate_rows
from services.demo.feed import FEED_MODELS, MAX_GAP, FeedEvent, FeedSpec, LiveFeed
from services.demo.feeder import row_struct
from services.demo.generator import generate

UTC = datetime.UTC
START = datetime.datetime(2026, 9, 17, 12, 0, 0, 250_000, tzinfo=UTC)
ORIGIN_MODELS = ("ORDER", "SUPPORT_TICKET", "LEAD", "OPPORTUNITY", "PURCHASE_ORDER",
                 "WORK_ORDER")
ROWS_PER_DAY = 60


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


def run(feed: LiveFeed, seconds: float, step: float = 0.25) -> list[FeedEvent]:
    events: list[FeedEvent] = []
    ticks = round(seconds / step)
    for tick in range(1, ticks + 1):
        events += feed.advance(START + datetime.timedelta(seconds=tick * step))
    return events


@pytest.fixture(scope="module")
def ten_minutes(models: dict[str, ObjectModel]) -> list[FeedEvent]:
    feed = LiveFeed(FeedSpec("acme", seed=11, rate=3, rows_per_day=ROWS_PER_DAY), models, START)
    return run(feed, 600, step=1.0)


def key_of(model: ObjectModel, row: dict[str, object]) -> tuple[object, ...]:
    return tuple(row[name] for name in tables.natural_key(model) if name != model.time_field)


def new_records(events: Iterable[FeedEvent], model: ObjectModel) -> set[tuple[object, ...]]:
    return {key_of(model, e.row) for e in events if e.object_model_code == model.code}


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_and_clock_give_the_same_rows_however_the_clock_ticks(
    models: dict[str, ObjectModel],
) -> None:
    spec = FeedSpec("acme", seed=3, rate=4, rows_per_day=ROWS_PER_DAY)
    fine = run(LiveFeed(spec, models, START), 90, step=0.1)
    coarse = run(LiveFeed(spec, models, START), 90, step=7.5)
    # One step as long as the feed allows gives the same rows as many short ones.
    limit = START + MAX_GAP
    at_once = LiveFeed(spec, models, START).advance(limit)
    assert len(fine) > 500
    assert fine == coarse
    assert at_once == [e for e in fine if e.at < limit]
    other_seed = run(LiveFeed(FeedSpec("acme", seed=4, rate=4, rows_per_day=ROWS_PER_DAY),
                              models, START), 90, step=7.5)
    assert [e.row for e in other_seed] != [e.row for e in fine]


def test_events_come_in_time_order_inside_the_advanced_window(
    models: dict[str, ObjectModel],
) -> None:
    feed = LiveFeed(FeedSpec("acme", rate=5, rows_per_day=ROWS_PER_DAY), models, START)
    previous = START
    for tick in range(1, 121):
        now = START + datetime.timedelta(seconds=tick * 0.5)
        events = feed.advance(now)
        assert all(previous <= e.at < now for e in events)
        assert [e.at for e in events] == sorted(e.at for e in events)
        previous = now
    assert feed.cursor == previous
    assert feed.advance(previous) == []  # time did not move: nothing new


# -- rates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.5, 3.0, 12.0])
def test_new_records_arrive_at_the_configured_rate_per_model(
    models: dict[str, ObjectModel], rate: float,
) -> None:
    seconds = 240
    events = run(LiveFeed(FeedSpec("acme", rate=rate, rows_per_day=ROWS_PER_DAY), models, START),
                 seconds, step=1.0)
    expected = rate * seconds
    for code in ORIGIN_MODELS:
        created = new_records(events, models[code])
        # Poisson arrivals: the count is within five standard deviations of the rate.
        assert abs(len(created) - expected) < 5 * expected ** 0.5 + 1, (code, len(created))
    # Lines come with their orders: more than one per order on average.
    orders = len(new_records(events, models["ORDER"]))
    assert 1.5 * orders < len(new_records(events, models["ORDER_LINE"])) < 5 * orders


def test_a_clock_that_jumps_skips_arrivals_instead_of_bursting(
    models: dict[str, ObjectModel],
) -> None:
    feed = LiveFeed(FeedSpec("acme", rate=2, rows_per_day=ROWS_PER_DAY,
                             object_model_codes=frozenset({"SUPPORT_TICKET"})), models, START)
    events = feed.advance(START + datetime.timedelta(hours=2))
    opened = {e.row["ticket_id"] for e in events}
    assert 0 < len(opened) < 2 * MAX_GAP.total_seconds() * 2
    assert min(e.at for e in events) >= START + datetime.timedelta(hours=2) - MAX_GAP


# -- validity ------------------------------------------------------------------------------------


def test_every_row_is_valid_for_its_model_as_produced_and_over_the_wire(
    models: dict[str, ObjectModel], ten_minutes: list[FeedEvent],
) -> None:
    by_model: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for event in ten_minutes:
        by_model[event.object_model_code].append(event.row)
    assert set(by_model) == FEED_MODELS  # ten minutes are enough for every lifecycle step
    for code, rows in by_model.items():
        validated = validate_rows(models[code], rows)
        wire = [json_format.MessageToDict(row_struct(row)) for row in rows]
        # What IngestRows receives converts to exactly the same values.
        assert validate_rows(models[code], wire).rows == validated.rows, code


def test_only_the_requested_models_are_fed(models: dict[str, ObjectModel]) -> None:
    spec = FeedSpec("acme", rate=5, rows_per_day=ROWS_PER_DAY,
                    object_model_codes=frozenset({"SUPPORT_TICKET", "PAYMENT"}))
    feed = LiveFeed(spec, models, START)
    events = run(feed, 900, step=5.0)
    assert {e.object_model_code for e in events} == {"SUPPORT_TICKET", "PAYMENT"}
    assert feed.object_model_codes == ("PAYMENT", "SUPPORT_TICKET")


@pytest.mark.parametrize("bad", [
    {"rate": 0}, {"rate": -1}, {"rate": 10_000}, {"client_id": " "}, {"speedup": 0.5},
    {"rows_per_day": 0}, {"object_model_codes": frozenset({"PRODUCT"})},
])
def test_an_invalid_spec_is_refused(bad: dict[str, object]) -> None:
    values: dict[str, object] = {"client_id": "acme", **bad}
    with pytest.raises(ValueError):
        FeedSpec(**values)  # type: ignore[arg-type]


# -- references and lifecycles -------------------------------------------------------------------


def history_keys(models: dict[str, ObjectModel], code: str, field: str) -> set[object]:
    """Keys of a reference model in the client's historical demo data (same seed and volume)."""
    end = datetime.datetime(2026, 9, 1, tzinfo=UTC)
    keys: set[object] = set()
    for batch in generate([models[code]], "acme", end - datetime.timedelta(days=2), end,
                          ROWS_PER_DAY, 11):
        position = batch.columns.index(field)
        keys.update(row[position] for row in batch.rows)
    return keys


def test_references_point_at_history_or_at_earlier_feed_rows(
    models: dict[str, ObjectModel], ten_minutes: list[FeedEvent],
) -> None:
    customers = history_keys(models, "CUSTOMER", "customer_id")
    products = history_keys(models, "PRODUCT", "product_id")
    reps = history_keys(models, "SALES_REP", "sales_rep_id")
    suppliers = history_keys(models, "SUPPLIER", "supplier_id")
    seen: dict[str, set[object]] = collections.defaultdict(set)
    checks = {
        # model: [(field, model whose key it references)]
        "ORDER": [("customer_id", "CUSTOMER")],
        "ORDER_LINE": [("order_id", "ORDER"), ("product_id", "PRODUCT")],
        "SHIPMENT": [("order_id", "ORDER")],
        "INVOICE": [("order_id", "ORDER"), ("customer_id", "CUSTOMER")],
        "PAYMENT": [("invoice_id", "INVOICE")],
        "RETURN": [("order_id", "ORDER"), ("product_id", "PRODUCT")],
        "SURVEY_RESPONSE": [("customer_id", "CUSTOMER")],
        "SUPPORT_TICKET": [("customer_id", "CUSTOMER")],
        "LEAD": [("owner_id", "SALES_REP"), ("customer_id", "CUSTOMER")],
        "CUSTOMER": [("account_owner_id", "SALES_REP")],
        "OPPORTUNITY": [("customer_id", "CUSTOMER"), ("owner_id", "SALES_REP")],
        "PURCHASE_ORDER": [("supplier_id", "SUPPLIER")],
        "AP_INVOICE": [("supplier_id", "SUPPLIER"), ("purchase_order_id", "PURCHASE_ORDER")],
        "WORK_ORDER": [("product_id", "PRODUCT")],
    }
    known = {"CUSTOMER": customers, "PRODUCT": products, "SALES_REP": reps,
             "SUPPLIER": suppliers}
    key_field = {"ORDER": "order_id", "INVOICE": "invoice_id", "CUSTOMER": "customer_id",
                 "PURCHASE_ORDER": "purchase_order_id"}
    referenced = collections.Counter[str]()
    for event in ten_minutes:
        code, row = event.object_model_code, event.row
        if code in key_field:
            seen[code].add(row[key_field[code]])
        for field, target in checks.get(code, []):
            value = row.get(field)
            if value is None:
                continue
            referenced[target] += 1
            assert value in known.get(target, set()) | seen[target], (code, field, value)
    assert all(referenced[target] > 50 for target in
               ("CUSTOMER", "PRODUCT", "SALES_REP", "SUPPLIER", "ORDER", "INVOICE"))
    # Some leads converted into new customers, sent before the lead that names them.
    assert seen["CUSTOMER"] - customers


def test_a_record_keeps_its_key_and_time_while_its_state_moves_forward(
    models: dict[str, ObjectModel], ten_minutes: list[FeedEvent],
) -> None:
    times: dict[tuple[str, tuple[object, ...]], object] = {}
    statuses: dict[str, list[str]] = collections.defaultdict(list)
    for event in ten_minutes:
        model = models[event.object_model_code]
        key = (model.code, key_of(model, event.row))
        assert times.setdefault(key, event.row[model.time_field]) == \
            event.row[model.time_field], key
        if model.code == "ORDER":
            statuses[str(event.row["order_id"])].append(str(event.row["status"]))
    progression = ["open", "allocated", "shipped", "delivered"]
    for order_id, seen in statuses.items():
        if seen[-1] == "cancelled":
            assert seen == ["open", "cancelled"], order_id
            continue
        positions = [progression.index(status) for status in seen]
        assert positions == sorted(positions) and len(set(positions)) == len(positions), seen
    finals = collections.Counter(seen[-1] for seen in statuses.values())
    # Ten minutes at an hour per second: most orders placed early are delivered by now.
    assert finals["delivered"] > len(statuses) / 2
    assert finals["cancelled"] < len(statuses) / 10


def test_lifecycle_times_follow_the_compressed_business_clock(
    models: dict[str, ObjectModel], ten_minutes: list[FeedEvent],
) -> None:
    orders = {}
    for event in ten_minutes:
        if event.object_model_code == "ORDER":
            orders[event.row["order_id"]] = event
    delivered = [e.row for e in orders.values() if e.row["status"] == "delivered"]
    lead_times = sorted((row["delivered_at"] - row["created_at"]).total_seconds()
                        for row in delivered)
    median = lead_times[len(lead_times) // 2]
    # About 18 h to ship and 2 days in transit, at 3600x: around a minute.
    assert 20 < median < 180, median
    for row in delivered:
        assert row["created_at"] <= row["shipped_at"] <= row["delivered_at"]
        assert row["delivered_in_full"] is not None
