"""The demo data generator: deterministic, complete, consistent across models and over time."""

from __future__ import annotations

import collections
import dataclasses
import datetime
import decimal
import time
from typing import Any

import pytest
from analytics.data.v1 import data_pb2

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Cardinality, Field, FieldType, ObjectModel
from services.demo import order_rows, rpc
from services.demo.calendar import Calendar
from services.demo.generation_process import GeneratorProcess
from services.demo.generator import generate
from services.demo.scope import with_referenced_models
from services.demo.spec import DemoSpec
from services.demo.spool import Spool
from services.errors import InvalidArgument

UTC = datetime.UTC
START = datetime.datetime(2026, 6, 15, 10, 30, tzinfo=UTC)  # a Monday, mid-morning
END = datetime.datetime(2026, 7, 20, tzinfo=UTC)
ROWS_PER_DAY = 120
SEED = 7

Rows = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def models() -> tuple[ObjectModel, ...]:
    return load_catalog_files().object_models


@pytest.fixture(scope="module")
def by_code(models: tuple[ObjectModel, ...]) -> dict[str, ObjectModel]:
    return {model.code: model for model in models}


def collect(models: tuple[ObjectModel, ...], **overrides: Any) -> Rows:
    arguments: dict[str, Any] = {"client_id": "acme", "start": START, "end": END,
                                 "rows_per_day": ROWS_PER_DAY, "seed": SEED, **overrides}
    rows: Rows = collections.defaultdict(list)
    for batch in generate(models, **arguments):
        rows[batch.object_model_code].extend(dict(zip(batch.columns, row, strict=True))
                                             for row in batch.rows)
    return rows


@pytest.fixture(scope="module")
def rows(models: tuple[ObjectModel, ...]) -> Rows:
    return collect(models)


def instant(value: datetime.date) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    return datetime.datetime(value.year, value.month, value.day, tzinfo=UTC)


# -- shape ----------------------------------------------------------------------------------


def test_every_model_gets_rows_with_its_declared_columns(
    models: tuple[ObjectModel, ...],
) -> None:
    seen: dict[str, tuple[str, ...]] = {}
    for batch in generate(models, "acme", START, END, 5, SEED, batch_size=50):
        assert batch.columns == tuple(f.name for f in models[[m.code for m in models].index(
            batch.object_model_code)].fields)
        assert 0 < len(batch.rows) <= 50
        assert all(len(row) == len(batch.columns) for row in batch.rows)
        seen[batch.object_model_code] = batch.columns
    assert set(seen) == {model.code for model in models}


_PYTHON_TYPES: dict[FieldType, tuple[type, ...]] = {
    FieldType.STRING: (str,),
    FieldType.INTEGER: (int,),
    FieldType.DECIMAL: (decimal.Decimal,),
    FieldType.BOOLEAN: (bool,),
    FieldType.TIMESTAMP: (datetime.datetime,),
    FieldType.DATE: (datetime.date,),
}


def _check_value(model: ObjectModel, field: Field, value: object) -> None:
    where = f"{model.code}.{field.name}={value!r}"
    assert isinstance(value, _PYTHON_TYPES[field.type]), where
    if field.type is FieldType.INTEGER:
        assert not isinstance(value, bool), where
    if field.type is FieldType.DATE:
        assert not isinstance(value, datetime.datetime), where
    if isinstance(value, datetime.datetime):
        assert value.utcoffset() == datetime.timedelta(0), where
    if isinstance(value, decimal.Decimal):
        assert value.is_finite() and value >= 0, where
    if field.allowed_values:
        assert value in field.allowed_values, where


def test_every_field_is_populated_with_its_type_and_allowed_values(
    models: tuple[ObjectModel, ...], rows: Rows,
) -> None:
    for model in models:
        for field in model.fields:
            values = [row[field.name] for row in rows[model.code]]
            if field.required:
                assert None not in values, f"{model.code}.{field.name} is required"
            present = [value for value in values if value is not None]
            assert present, f"{model.code}.{field.name} is never set"
            for value in present:
                _check_value(model, field, value)


def test_keys_are_unique(models: tuple[ObjectModel, ...], rows: Rows) -> None:
    for model in models:
        keys = [field.name for field in model.fields if field.key]
        values = [tuple(row[k] for k in keys) for row in rows[model.code]]
        assert len(values) == len(set(values)), model.code


def test_every_reference_points_at_a_generated_row(
    models: tuple[ObjectModel, ...], by_code: dict[str, ObjectModel], rows: Rows,
) -> None:
    checked = 0
    for model in models:
        for relationship in model.relationships:
            if relationship.cardinality is not Cardinality.MANY_TO_ONE:
                continue
            targets = {row[relationship.target_field]
                       for row in rows[relationship.target_object_model_code]}
            for row in rows[model.code]:
                value = row[relationship.source_field]
                if value is not None:
                    assert value in targets, f"{model.code}.{relationship.name} -> {value}"
                    checked += 1
    assert checked > 10_000


# -- determinism ----------------------------------------------------------------------------


def test_the_same_inputs_give_identical_rows(
    models: tuple[ObjectModel, ...], rows: Rows,
) -> None:
    assert collect(models) == rows


@pytest.mark.parametrize("change", [{"seed": 8}, {"client_id": "globex"},
                                    {"rows_per_day": ROWS_PER_DAY + 1}])
def test_a_different_seed_client_or_volume_gives_different_rows(
    models: tuple[ObjectModel, ...], rows: Rows, change: dict[str, Any],
) -> None:
    other = collect(models, end=START + datetime.timedelta(days=5), **change)
    same = collect(models, end=START + datetime.timedelta(days=5))
    assert other["ORDER"] != same["ORDER"]


# -- time -----------------------------------------------------------------------------------

# Rows whose time field may lie outside the range: reference data that predates it, planning
# rows of months overlapping it, forward-looking dates (open pipeline, running subscription
# terms) and the receivables and payables already open when it starts.
_MAY_LIE_OUTSIDE = {"PRODUCT", "SUPPLIER", "SALES_REP", "CUSTOMER", "QUOTA", "SUBSCRIPTION",
                    "OPPORTUNITY", "INVOICE", "AP_INVOICE"}


def test_transactional_time_fields_fall_in_the_range(
    models: tuple[ObjectModel, ...], rows: Rows,
) -> None:
    first_day, last_day = START.date(), (END - datetime.timedelta(microseconds=1)).date()
    for model in models:
        for row in rows[model.code]:
            value = row[model.time_field]
            if model.code in _MAY_LIE_OUTSIDE:
                continue
            if isinstance(value, datetime.datetime):
                assert START <= value < END, (model.code, value)
            else:
                assert first_day <= value <= last_day, (model.code, value)
    customers_won = [c for c in rows["CUSTOMER"] if c["acquired_at"] >= START]
    assert customers_won and all(c["acquired_at"] < END for c in rows["CUSTOMER"])
    for invoice in rows["INVOICE"]:
        if invoice["order_id"] is not None:
            assert first_day <= invoice["issue_date"] <= last_day
    for opportunity in rows["OPPORTUNITY"]:
        if opportunity["stage"].startswith("closed"):
            assert first_day <= opportunity["close_date"] <= last_day
    for term in rows["SUBSCRIPTION"]:
        if term["status"] == "active":
            assert term["end_date"] > last_day
        else:
            assert first_day <= term["end_date"] <= last_day


def test_order_to_cash_happens_in_order(rows: Rows) -> None:
    orders = {o["order_id"]: o for o in rows["ORDER"]}
    for order in orders.values():
        assert order["created_at"] < order["promised_at"]
        delivered = order["status"] == "delivered"
        if order["status"] in ("shipped", "delivered"):
            assert order["created_at"] <= order["shipped_at"]
        else:
            assert order["shipped_at"] is None
        if delivered:
            assert order["shipped_at"] <= order["delivered_at"] < END
        flags = (order["delivered_in_full"], order["delivered_damage_free"],
                 order["documentation_accurate"])
        assert all(f is not None for f in flags) if delivered else flags == (None, None, None)
    for shipment in rows["SHIPMENT"]:
        order = orders[shipment["order_id"]]
        assert order["created_at"] <= shipment["shipped_at"] <= order["shipped_at"]
        assert (shipment["delivered_at"] is not None) == (shipment["status"] == "delivered")
        if shipment["delivered_at"]:
            assert shipment["shipped_at"] <= shipment["delivered_at"]
    invoices = {i["invoice_id"]: i for i in rows["INVOICE"]}
    for invoice in invoices.values():
        assert invoice["issue_date"] <= invoice["due_date"]
        if invoice["order_id"]:
            assert invoice["issue_date"] == orders[invoice["order_id"]]["shipped_at"].date()
        assert (invoice["paid_date"] is not None) == (invoice["status"] == "paid")
    paid: dict[str, decimal.Decimal] = collections.defaultdict(decimal.Decimal)
    for payment in rows["PAYMENT"]:
        invoice = invoices[payment["invoice_id"]]
        assert instant(invoice["issue_date"]) <= payment["received_at"] < END
        paid[invoice["invoice_id"]] += payment["amount"]
    for invoice_id, amount in paid.items():
        assert amount <= invoices[invoice_id]["amount"]
    for returned in rows["RETURN"]:
        order = orders[returned["order_id"]]
        assert order["status"] == "delivered"
        assert order["delivered_at"] <= returned["requested_at"]
        for later in ("received_at", "closed_at"):
            if returned[later]:
                assert returned["requested_at"] <= returned[later] < END
        assert (returned["closed_at"] is not None) == (returned["status"] in ("closed",
                                                                              "rejected"))


def test_lines_add_up_to_their_order(rows: Rows) -> None:
    totals: dict[str, decimal.Decimal] = collections.defaultdict(decimal.Decimal)
    orders = {o["order_id"]: o for o in rows["ORDER"]}
    for line in rows["ORDER_LINE"]:
        assert line["extended_price"] == line["quantity"] * line["unit_price"]
        assert 0 <= line["shipped_quantity"] <= line["quantity"]
        assert line["created_at"] == orders[line["order_id"]]["created_at"]
        totals[line["order_id"]] += line["extended_price"]
    assert all(totals[o["order_id"]] == o["order_value"] for o in orders.values())
    for order in orders.values():
        if order["status"] == "delivered" and order["delivered_in_full"]:
            assert all(line["shipped_quantity"] == line["quantity"] for line in rows["ORDER_LINE"]
                       if line["order_id"] == order["order_id"])


def test_other_lifecycles_run_forward(rows: Rows) -> None:
    for po in rows["PURCHASE_ORDER"]:
        assert po["ordered_at"] < po["promised_at"]
        assert (po["received_at"] is not None) == (po["status"] == "received")
        if po["received_at"]:
            assert po["ordered_at"] < po["received_at"] < END
    for invoice in rows["AP_INVOICE"]:
        assert invoice["invoice_date"] <= invoice["due_date"]
        if invoice["paid_date"]:
            assert invoice["invoice_date"] < invoice["paid_date"] < END.date()
    for work_order in rows["WORK_ORDER"]:
        assert work_order["planned_start_at"] < work_order["planned_end_at"]
        assert work_order["good_quantity"] <= work_order["produced_quantity"]
        if work_order["completed_at"]:
            assert work_order["status"] == "completed" and work_order["completed_at"] < END
    for ticket in rows["SUPPORT_TICKET"]:
        if ticket["first_response_at"]:
            assert ticket["opened_at"] <= ticket["first_response_at"]
        if ticket["resolved_at"]:
            assert ticket["first_response_at"] <= ticket["resolved_at"] < END
    customers = {c["customer_id"]: c for c in rows["CUSTOMER"]}
    for lead in rows["LEAD"]:
        if lead["status"] == "converted":
            assert lead["created_at"] < lead["converted_at"]
            assert customers[lead["customer_id"]]["acquired_at"] == lead["converted_at"]
        else:
            assert lead["customer_id"] is None and lead["converted_at"] is None
    for opportunity in rows["OPPORTUNITY"]:
        assert opportunity["created_at"].date() <= opportunity["close_date"]
    for term in rows["SUBSCRIPTION"]:
        assert term["start_date"] < term["end_date"]
        assert customers[term["customer_id"]]["acquired_at"].date() <= term["start_date"]
    for quota in rows["QUOTA"]:
        assert quota["period_start"] < quota["period_end"]
    for response in rows["SURVEY_RESPONSE"]:
        assert 0 <= response["score"] <= 10


# -- what the KPIs need ---------------------------------------------------------------------


def test_the_data_carries_the_signals_the_kpis_measure(rows: Rows) -> None:
    delivered = [o for o in rows["ORDER"] if o["status"] == "delivered"]
    late = [o for o in delivered if o["delivered_at"] > o["promised_at"]]
    assert 0.02 < len(late) / len(delivered) < 0.3
    assert any(not o["delivered_in_full"] for o in delivered)
    assert any(not o["delivered_damage_free"] for o in delivered)
    assert any(not o["documentation_accurate"] for o in delivered)
    assert {o["status"] for o in rows["ORDER"]} >= {"delivered", "shipped", "cancelled"}
    assert {r["status"] for r in rows["RETURN"]} >= {"closed", "rejected"}
    assert {i["status"] for i in rows["INVOICE"]} >= {"paid", "open", "overdue"}
    assert {i["status"] for i in rows["AP_INVOICE"]} >= {"paid", "open"}
    assert {o["stage"] for o in rows["OPPORTUNITY"]} >= {"closed_won", "closed_lost",
                                                         "prospecting", "negotiation"}
    assert {s["status"] for s in rows["SUBSCRIPTION"]} == {"active", "renewed", "churned"}
    assert {lead["status"] for lead in rows["LEAD"]} >= {"converted", "disqualified", "new"}
    scores = [s["score"] for s in rows["SURVEY_RESPONSE"]]
    assert min(scores) <= 6 and max(scores) >= 9
    assert {g["account_type"] for g in rows["GL_ENTRY"]} == {
        "revenue", "cogs", "opex", "depreciation", "amortization", "interest", "tax",
        "other_income"}
    revenue = sum(g["amount"] for g in rows["GL_ENTRY"] if g["account_type"] == "revenue")
    cogs = sum(g["amount"] for g in rows["GL_ENTRY"] if g["account_type"] == "cogs")
    assert 0.25 < (revenue - cogs) / revenue < 0.55  # a distributor's gross margin
    # One inventory snapshot per product, location and day.
    days = {s["snapshot_date"] for s in rows["INVENTORY_SNAPSHOT"]}
    assert len(days) == (END - datetime.timedelta(microseconds=1)).date().toordinal() - \
        START.date().toordinal() + 1
    # One quota per rep and month; a single head of sales; every manager exists.
    reps = {r["sales_rep_id"]: r for r in rows["SALES_REP"]}
    assert [r for r in reps.values() if r["manager_id"] is None] == [rows["SALES_REP"][0]]
    for rep in reps.values():
        seen, current = set(), rep
        while current["manager_id"] is not None:
            assert current["sales_rep_id"] not in seen
            seen.add(current["sales_rep_id"])
            current = reps[current["manager_id"]]
    quota_keys = [(q["sales_rep_id"], q["period_start"]) for q in rows["QUOTA"]]
    assert len(quota_keys) == len(set(quota_keys))


def test_weekdays_are_busier_than_weekends(rows: Rows) -> None:
    per_weekday = collections.Counter(o["created_at"].weekday() for o in rows["ORDER"])
    assert min(per_weekday[d] for d in range(5)) > 1.8 * max(per_weekday[5], per_weekday[6])


def test_the_carrier_disruption_week_delivers_late() -> None:
    spec = DemoSpec("acme", START, END, ROWS_PER_DAY, SEED)
    first, last = Calendar(spec).anomalies.carrier_disruption
    rows = collect(load_catalog_files().object_models)
    shipped_then = [o for o in rows["ORDER"] if o["status"] == "delivered"
                    and first <= o["shipped_at"].date() <= last]
    shipped_else = [o for o in rows["ORDER"] if o["status"] == "delivered"
                    and not first <= o["shipped_at"].date() <= last + datetime.timedelta(days=3)]

    def late_share(orders: list[dict[str, Any]]) -> float:
        late = sum(1 for o in orders if o["delivered_at"] > o["promised_at"])
        return late / len(orders)

    assert late_share(shipped_then) > 3 * late_share(shipped_else)


# -- volume and laziness --------------------------------------------------------------------


def test_volume_scales_with_rows_per_day(models: tuple[ObjectModel, ...]) -> None:
    end = START + datetime.timedelta(days=14)
    small = collect(models, end=end, rows_per_day=40)
    large = collect(models, end=end, rows_per_day=400)
    for code in ("ORDER", "ORDER_LINE", "SHIPMENT", "SUPPORT_TICKET", "LEAD"):
        assert 7 < len(large[code]) / len(small[code]) < 13, code
    assert len(large["SALES_REP"]) / len(small["SALES_REP"]) < 5
    assert len(large["PRODUCT"]) / len(small["PRODUCT"]) < 10


def test_rows_come_lazily_in_bounded_batches(models: tuple[ObjectModel, ...]) -> None:
    # A three-year range at the maximum volume would take hours to generate in full.
    started = time.perf_counter()
    batches = generate(models, "acme", datetime.datetime(2024, 1, 1, tzinfo=UTC),
                       datetime.datetime(2026, 12, 1, tzinfo=UTC), 200_000, SEED,
                       batch_size=1_000)
    first = next(batches)
    second = next(batches)
    assert len(first.rows) <= 1_000 and len(second.rows) <= 1_000
    assert time.perf_counter() - started < 30


def test_each_day_of_the_order_book_is_simulated_once(
    models: tuple[ObjectModel, ...], monkeypatch: pytest.MonkeyPatch,
) -> None:
    simulated: collections.Counter[datetime.date] = collections.Counter()
    simulate = order_rows.orders_of_day

    def counted(world: Any, day: datetime.date) -> Any:
        simulated[day] += 1
        return simulate(world, day)

    monkeypatch.setattr(order_rows, "orders_of_day", counted)
    rows = collect(models, end=START + datetime.timedelta(days=10))
    assert rows["ORDER"] and rows["PAYMENT"] and rows["GL_ENTRY"]
    assert set(simulated.values()) == {1}
    assert len(simulated) == len(DemoSpec("acme", START, START + datetime.timedelta(days=10),
                                          ROWS_PER_DAY, SEED).days)


def test_a_model_generated_alone_matches_the_same_model_generated_with_its_family(
    models: tuple[ObjectModel, ...], rows: Rows,
) -> None:
    for code in ("PAYMENT", "GL_ENTRY", "AP_INVOICE"):
        alone = collect(models, only={code})
        assert set(alone) == {code}
        assert alone[code] == rows[code], code


def test_a_generator_process_gives_the_batches_of_the_generator(
    models: tuple[ObjectModel, ...],
) -> None:
    end = START + datetime.timedelta(days=4)
    process = GeneratorProcess(models, "acme", START, end, ROWS_PER_DAY, SEED, batch_size=700)
    assert list(process) == list(generate(models, "acme", START, end, ROWS_PER_DAY, SEED,
                                          batch_size=700))
    with pytest.raises(StopIteration):
        next(process)


def test_a_generator_process_refuses_a_bad_spec_at_once_and_stops_when_closed(
    models: tuple[ObjectModel, ...],
) -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        GeneratorProcess(models, "acme", END, START, ROWS_PER_DAY, SEED)
    process = GeneratorProcess(models, "acme", START, END, 5_000, SEED, batch_size=100)
    assert next(process).rows
    child = process._process
    assert child is not None and child.poll() is None
    process.close()
    assert child.poll() is not None
    with pytest.raises(StopIteration):
        next(process)


def test_a_spool_gives_back_the_batches_it_was_given() -> None:
    types = (FieldType.STRING, FieldType.TIMESTAMP, FieldType.DATE, FieldType.DECIMAL,
             FieldType.INTEGER, FieldType.BOOLEAN)
    moment = datetime.datetime(2026, 3, 29, 1, 59, 58, 123_456, tzinfo=UTC)
    first = [("a", moment, datetime.date(2026, 3, 29), decimal.Decimal("12.30"), 7, True),
             ("b", None, None, None, None, None)]
    second = [("c", datetime.datetime(1969, 12, 31, 23, 0, tzinfo=datetime.timezone(
        datetime.timedelta(hours=-5))), datetime.date(1, 1, 1), decimal.Decimal("-0.001"), -3,
        False)]
    spool = Spool(types)
    spool.write(first)
    spool.write(second)
    back = list(spool.read())
    spool.close()
    assert back == [first, second]
    assert [type(value) for value in back[0][0]] == [type(value) for value in first[0]]
    assert str(back[0][0][3]) == "12.30" and back[1][0][1].utcoffset() == datetime.timedelta(0)
    assert list(Spool(types).read()) == []


def test_fields_and_models_the_generator_does_not_know_still_get_valid_rows(
    models: tuple[ObjectModel, ...], by_code: dict[str, ObjectModel],
) -> None:
    order = by_code["ORDER"]
    extended = dataclasses.replace(order, fields=(*order.fields,
        Field("priority_class", FieldType.STRING, "new", required=True,
              allowed_values=("standard", "express")),
        Field("weight_kg", FieldType.DECIMAL, "new", required=True),
        Field("note", FieldType.STRING, "new")))
    novel = ObjectModel("CARBON_REPORT", "Carbon", "new", "scor_data", "carbon", "reported_at",
                        (Field("report_id", FieldType.STRING, "", required=True, key=True),
                         Field("reported_at", FieldType.TIMESTAMP, "", required=True),
                         Field("tonnes", FieldType.DECIMAL, "", required=True),
                         Field("verified", FieldType.BOOLEAN, "", required=True)), (), ("SCOR",))
    rows = collect((extended, novel), end=START + datetime.timedelta(days=3))
    for model in (extended, novel):
        assert rows[model.code]
        for row in rows[model.code]:
            for field in model.fields:
                if field.required:
                    _check_value(model, field, row[field.name])
    assert all(row["note"] is None for row in rows["ORDER"])
    keys = [row["report_id"] for row in rows["CARBON_REPORT"]]
    assert len(keys) == len(set(keys))


# -- scope and request validation -----------------------------------------------------------


def test_named_models_bring_the_models_they_reference(by_code: dict[str, ObjectModel]) -> None:
    assert with_referenced_models(by_code, ["PAYMENT"]) >= {"PAYMENT", "INVOICE", "CUSTOMER",
                                                            "ORDER", "SALES_REP"}
    assert "ORDER_LINE" not in with_referenced_models(by_code, ["PAYMENT"])
    assert with_referenced_models(by_code, []) == set(by_code)


def _request(**fields: Any) -> data_pb2.GenerateDemoRowsRequest:
    request = data_pb2.GenerateDemoRowsRequest(client_id="acme", rows_per_day=100)
    request.time_range.start.FromDatetime(START)
    request.time_range.end.FromDatetime(END)
    for name, value in fields.items():
        if name == "end":
            request.time_range.end.FromDatetime(value)
        else:
            setattr(request, name, value)
    return request


@pytest.mark.parametrize(("change", "field"), [
    ({"client_id": ""}, "client_id"),
    ({"end": START}, "time_range.end"),
    ({"end": START - datetime.timedelta(days=1)}, "time_range.end"),
    ({"end": START + datetime.timedelta(days=2000)}, "time_range"),
    ({"rows_per_day": -1}, "rows_per_day"),
    ({"rows_per_day": 10_000_000}, "rows_per_day"),
    ({"rows_per_day": 150_000, "end": START + datetime.timedelta(days=900)}, "rows_per_day"),
])
def test_invalid_requests_name_the_field(
    by_code: dict[str, ObjectModel], change: dict[str, Any], field: str,
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        rpc.validate(by_code, _request(**change))
    assert [v.field for v in raised.value.violations] == [field]


def test_unknown_object_models_and_a_missing_range_are_refused(
    by_code: dict[str, ObjectModel],
) -> None:
    request = _request()
    request.object_model_codes.append("NOPE")
    with pytest.raises(InvalidArgument, match="NOPE"):
        rpc.validate(by_code, request)
    with pytest.raises(InvalidArgument) as raised:
        rpc.validate(by_code, data_pb2.GenerateDemoRowsRequest(client_id="acme"))
    assert raised.value.violations[0].field == "time_range"
    assert rpc.validate(by_code, _request(rows_per_day=0))[2] == rpc.DEFAULT_ROWS_PER_DAY



# -- the config service's request to the data service ---------------------------------------


def test_the_config_request_defaults_to_thirty_days_ending_now() -> None:
    from analytics.config.v1 import config_pb2

    from services.config.demo_servicer import data_request

    now = datetime.datetime(2026, 10, 5, 12, 34, 56, tzinfo=UTC)
    outbound = data_request(config_pb2.GenerateDemoDataRequest(client_id="acme", seed=3), now)
    assert outbound.time_range.end.ToDatetime(UTC) == datetime.datetime(2026, 10, 5, 12, 34,
                                                                         tzinfo=UTC)
    assert outbound.time_range.end.ToDatetime(UTC) - outbound.time_range.start.ToDatetime(UTC) \
        == datetime.timedelta(days=30)
    assert (outbound.client_id, outbound.rows_per_day, outbound.seed) == ("acme", 1_000, 3)
    explicit = config_pb2.GenerateDemoDataRequest(client_id="acme", days=5, rows_per_day=7)
    explicit.time_range.start.FromDatetime(START)
    explicit.time_range.end.FromDatetime(END)
    outbound = data_request(explicit, now)
    assert outbound.time_range.start.ToDatetime(UTC) == START
    assert outbound.rows_per_day == 7
    with pytest.raises(InvalidArgument) as raised:
        data_request(config_pb2.GenerateDemoDataRequest(), now)
    assert raised.value.violations[0].field == "client_id"
    with pytest.raises(InvalidArgument) as raised:
        data_request(config_pb2.GenerateDemoDataRequest(client_id="acme", days=5000), now)
    assert raised.value.violations[0].field == "days"
