"""Round trips between the aggregate query model and analytics.data.v1 messages, every node type."""

from __future__ import annotations

import dataclasses
import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from analytics.data.v1 import data_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import timestamp_pb2

from services.aggregates import query as q
from services.aggregates import wire
from services.errors import InvalidArgument

UTC = datetime.UTC
START = datetime.datetime(2024, 3, 1, tzinfo=UTC)
END = datetime.datetime(2024, 4, 1, tzinfo=UTC)

SCALARS: list[q.Scalar] = [
    None,
    "it's",
    "",
    0,
    -(2**62),
    True,
    False,
    1.5,
    Decimal("123.4500"),
    Decimal("-0.001"),
    datetime.datetime(2024, 3, 10, 7, 30, 15, 123456, tzinfo=UTC),
    datetime.date(2024, 2, 29),
]


@pytest.mark.parametrize("value", SCALARS, ids=repr)
def test_scalar_round_trip_keeps_value_and_type(value: q.Scalar) -> None:
    back = wire.scalar_value(wire.scalar_message(value), "v")
    assert back == value
    assert type(back) is type(value)


def test_decimal_travels_as_exact_string() -> None:
    assert wire.scalar_message(Decimal("0.10")).decimal_value == "0.10"


def test_timestamp_in_another_zone_comes_back_as_the_same_instant() -> None:
    moment = datetime.datetime(
        2024, 3, 10, 2, 0, tzinfo=datetime.timezone(-datetime.timedelta(hours=5))
    )
    back = wire.scalar_value(wire.scalar_message(moment), "v")
    assert back == moment and isinstance(back, datetime.datetime) and back.tzinfo is UTC


def test_naive_timestamp_cannot_cross() -> None:
    with pytest.raises(ValueError):
        wire.scalar_message(datetime.datetime(2024, 1, 1))


def test_bad_decimal_and_date_name_the_field() -> None:
    with pytest.raises(InvalidArgument) as bad_decimal:
        wire.scalar_value(data_pb2.ScalarValue(decimal_value="12,5"), "queries[0].x")
    assert bad_decimal.value.violations[0].field == "queries[0].x.decimal_value"
    with pytest.raises(InvalidArgument) as bad_date:
        wire.scalar_value(data_pb2.ScalarValue(date_value="2024-02-30"), "y")
    assert bad_date.value.violations[0].field == "y.date_value"


order_value = q.FieldRef("order_value")
customer_region = q.FieldRef("region", ("customer",))
lead_time = q.Duration(q.FieldRef("created_at"), q.FieldRef("delivered_at"), q.DurationUnit.DAYS)

EXPRESSIONS: list[q.RowExpression] = [
    order_value,
    customer_region,
    q.FieldRef("carrier", ("shipments", "order", "customer")),
    lead_time,
    *(q.Duration(q.FieldRef("a"), q.FieldRef("b", ("rel",)), unit) for unit in q.DurationUnit),
    *(q.Literal(value) for value in SCALARS),
    *(q.Arithmetic(operator, order_value, q.Literal(2)) for operator in q.ArithmeticOperator),
    q.Arithmetic(
        q.ArithmeticOperator.MULTIPLY,
        order_value,
        q.Arithmetic(q.ArithmeticOperator.DIVIDE, lead_time, q.Literal(Decimal("7"))),
    ),
]


@pytest.mark.parametrize("expression", EXPRESSIONS, ids=repr)
def test_row_expression_round_trip(expression: q.RowExpression) -> None:
    assert wire.operand_value(wire.operand_message(expression), "e") == expression


FILTERS: list[q.Filter] = [
    *(q.Compare(order_value, comparator, q.Literal(Decimal("10"))) for comparator in q.Comparator),
    q.Compare(q.FieldRef("delivered_at"), q.Comparator.GT, q.FieldRef("promised_at")),
    q.Compare(lead_time, q.Comparator.LE, q.Literal(3)),
    q.InList(q.FieldRef("status"), ("open", "o'brien")),
    q.InList(q.FieldRef("status"), ()),
    q.Between(order_value, Decimal("1.5"), 100),
    q.Between(q.FieldRef("created_at"), START, datetime.date(2024, 3, 5)),
    q.IsNull(q.FieldRef("delivered_at")),
    q.Not(q.IsNull(customer_region)),
    q.AllOf(()),
    q.AnyOf(()),
    q.AllOf(
        (
            q.AnyOf((q.IsNull(order_value), q.Not(q.InList(customer_region, ("EU",))))),
            q.Compare(q.Literal("x"), q.Comparator.EQ, q.FieldRef("channel")),
        )
    ),
]


@pytest.mark.parametrize("node", FILTERS, ids=repr)
def test_filter_round_trip(node: q.Filter) -> None:
    assert wire.filter_value(wire.filter_message(node), "f") == node


MEASURES: list[q.Measure] = [
    q.Measure("rows", q.AggregateFunction.COUNT),
    q.Measure("delivered", q.AggregateFunction.COUNT, q.FieldRef("delivered_at")),
    q.Measure(
        "revenue", q.AggregateFunction.SUM, order_value, q.InList(q.FieldRef("channel"), ("web",))
    ),
    q.Measure("avg", q.AggregateFunction.AVG, lead_time),
    q.Measure("min", q.AggregateFunction.MIN, order_value),
    q.Measure("max", q.AggregateFunction.MAX, customer_region),
    q.Measure("customers", q.AggregateFunction.COUNT_DISTINCT, q.FieldRef("customer_id")),
    q.Measure("p95", q.AggregateFunction.PERCENTILE, lead_time, percentile=0.95),
    q.Measure(
        "weighted",
        q.AggregateFunction.SUM,
        q.Arithmetic(q.ArithmeticOperator.MULTIPLY, order_value, lead_time),
        q.Not(q.IsNull(q.FieldRef("delivered_at"))),
    ),
    q.Measure("literal", q.AggregateFunction.SUM, q.Literal(1)),
]


@pytest.mark.parametrize("measure", MEASURES, ids=lambda m: m.measure_id)
def test_measure_round_trip(measure: q.Measure) -> None:
    assert wire.measure_value(wire.measure_message(measure), "m") == measure


def test_measure_argument_uses_the_narrowest_oneof_member() -> None:
    assert wire.measure_message(MEASURES[2]).WhichOneof("argument") == "field"
    assert wire.measure_message(MEASURES[3]).WhichOneof("argument") == "duration"
    assert wire.measure_message(MEASURES[8]).WhichOneof("argument") == "expression"
    assert wire.measure_message(MEASURES[0]).WhichOneof("argument") is None


QUERY = q.AggregateQuery(
    query_id="orders",
    object_model_code="ORDER",
    time_range=q.TimeRange(START, END),
    measures=tuple(MEASURES),
    bucket=q.Period.WEEK,
    group_by=(
        q.Dimension("channel", q.FieldRef("channel")),
        q.Dimension("region", customer_region),
    ),
    row_filter=q.Compare(q.FieldRef("region"), q.Comparator.EQ, q.Literal("EU")),
    time_field="promised_at",
)


@pytest.mark.parametrize("bucket", [None, *q.Period])
def test_request_round_trip(bucket: q.Period | None) -> None:
    request = q.AggregateRequest(
        client_id="acme",
        queries=(
            q.AggregateQuery(
                "q0",
                "ORDER",
                q.TimeRange(START, END),
                (q.Measure("n", q.AggregateFunction.COUNT),),
                bucket=bucket,
            ),
            QUERY,
        ),
        time_zone="America/New_York",
    )
    options = (wire.QueryOptions(), wire.QueryOptions(max_groups=5, disable_rollups=True))
    message = wire.request_message(request, options)
    message = data_pb2.QueryAggregatesRequest.FromString(message.SerializeToString())
    assert wire.request_value(message) == (request, options)


def test_query_filter_and_row_security_are_both_applied() -> None:
    message = wire.query_message(QUERY)
    assert QUERY.row_filter is not None
    message.filter.CopyFrom(wire.filter_message(q.IsNull(q.FieldRef("shipped_at"))))
    back = wire.query_value(message, "queries[0]")
    assert back.row_filter == q.AllOf((q.IsNull(q.FieldRef("shipped_at")), QUERY.row_filter))


def test_unset_enums_and_oneofs_are_refused_with_the_field_named() -> None:
    message = wire.query_message(QUERY)
    message.measures[1].function = data_pb2.AGGREGATE_FUNCTION_UNSPECIFIED
    with pytest.raises(InvalidArgument) as missing_function:
        wire.query_value(message, "queries[3]")
    assert missing_function.value.violations[0].field == "queries[3].measures[1].function"

    empty_filter = wire.query_message(QUERY)
    empty_filter.measures[2].filter.Clear()
    empty_filter.measures[2].filter.SetInParent()  # present, but no node set
    with pytest.raises(InvalidArgument) as empty:
        wire.query_value(empty_filter, "queries[0]")
    assert empty.value.violations[0].field == "queries[0].measures[2].filter"

    no_range = wire.query_message(QUERY)
    no_range.ClearField("time_range")
    with pytest.raises(InvalidArgument) as range_error:
        wire.query_value(no_range, "queries[0]")
    assert range_error.value.violations[0].field == "queries[0].time_range"


def test_subtree_filter_round_trip() -> None:
    subtree = q.Subtree(
        field=q.FieldRef("owner_id"),
        hierarchy_object_model_code="SALES_REP",
        node_field="sales_rep_id",
        parent_field="manager_id",
        root="REP-014",
    )
    assert wire.filter_value(wire.filter_message(subtree), "f") == subtree


def test_incomplete_subtree_filter_names_the_missing_field() -> None:
    message = wire.query_message(QUERY)
    message.row_security.CopyFrom(data_pb2.Filter(subtree=data_pb2.SubtreeFilter(node_field="x")))
    with pytest.raises(InvalidArgument) as refused:
        wire.query_value(message, "queries[0]")
    assert refused.value.violations[0].field == (
        "queries[0].row_security.subtree.hierarchy_object_model_code"
    )


def test_unspecified_duration_unit_means_seconds() -> None:
    message = wire.duration_message(lead_time)
    message.unit = data_pb2.DURATION_UNIT_UNSPECIFIED
    assert wire.duration_value(message, "d").unit is q.DurationUnit.SECONDS


def test_results_round_trip() -> None:
    bucketed = q.AggregateResult(
        query_id="orders",
        rows=(
            q.AggregateRow(
                bucket_start=START,
                dimensions={
                    "channel": "web",
                    "region": None,
                    "flag": True,
                    "day": datetime.date(2024, 3, 1),
                },
                measures={"rows": 3, "avg": 2.5, "min": None},
                row_count=3,
            ),
        ),
        data_version=42,
        watermark=datetime.datetime(2024, 3, 31, 23, 59, tzinfo=UTC),
        used_rollups=True,
        truncated=True,
    )
    response = wire.response_message([bucketed], [QUERY], datetime.timedelta(milliseconds=12))
    response = data_pb2.QueryAggregatesResponse.FromString(response.SerializeToString())
    assert response.elapsed.ToTimedelta() == datetime.timedelta(milliseconds=12)
    assert wire.response_value(response, [QUERY]) == (bucketed,)

    unbucketed_query = q.AggregateQuery("t", "ORDER", q.TimeRange(START, END), MEASURES[:1])
    total = q.AggregateResult("t", (q.AggregateRow(None, {}, {"rows": 0}, 0),))
    message = wire.result_message(total, unbucketed_query)
    # The contract puts the range start in an unbucketed row; the model says None.
    assert message.rows[0].bucket_start.ToDatetime(tzinfo=UTC) == START
    assert not message.HasField("watermark")
    assert wire.result_value(message, unbucketed_query, "results[0]") == total


def test_decimal_measure_values_arrive_as_floats() -> None:
    message = data_pb2.AggregateResult(
        rows=[data_pb2.AggregateRow(measures={"m": data_pb2.ScalarValue(decimal_value="2.50")})]
    )
    result = wire.result_value(message, QUERY, "r")
    assert result.rows[0].measures == {"m": 2.5}


def test_period_enum_matches_contract() -> None:
    message = wire.query_message(QUERY)
    assert message.bucket_period == types_pb2.PERIOD_WEEK


def _one_query_request(literal: q.Scalar) -> data_pb2.QueryAggregatesRequest:
    filtered = q.AggregateQuery(
        "q",
        "ORDER",
        q.TimeRange(START, END),
        (q.Measure("n", q.AggregateFunction.COUNT),),
        row_filter=q.Compare(q.FieldRef("flag"), q.Comparator.EQ, q.Literal(literal)),
    )
    return wire.request_message(q.AggregateRequest("acme", (filtered,)))


def test_keyed_decoding_tells_literals_apart_that_compare_equal() -> None:
    # True == 1 == 1.0 in Python: decoded values must not be shared between them.
    decoded = {}
    for literal in (True, 1, 1.0, Decimal("1.0")):
        request, _, keys = wire.keyed_request_value(_one_query_request(literal))
        row_filter = request.queries[0].row_filter
        assert isinstance(row_filter, q.Compare) and isinstance(row_filter.right, q.Literal)
        assert type(row_filter.right.value) is type(literal)
        decoded[keys[0]] = request
    assert len(decoded) == 4
    again, _, keys = wire.keyed_request_value(_one_query_request(1))
    assert again.queries[0] is decoded[keys[0]].queries[0]


def test_a_refused_query_is_refused_again_with_its_own_position() -> None:
    bad = wire.query_message(QUERY)
    bad.measures[0].function = data_pb2.AGGREGATE_FUNCTION_UNSPECIFIED
    fine = wire.query_message(QUERY)
    for queries, field in (([bad], "queries[0]"), ([fine, bad], "queries[1]")):
        message = data_pb2.QueryAggregatesRequest(client_id="acme", queries=queries)
        with pytest.raises(InvalidArgument) as refused:
            wire.keyed_request_value(message)
        assert refused.value.violations[0].field.startswith(field)


def test_equal_measures_of_different_literal_types_are_encoded_apart() -> None:
    def flagged(literal: q.Scalar) -> q.Measure:
        where = q.Compare(q.FieldRef("flag"), q.Comparator.EQ, q.Literal(literal))
        return q.Measure("n", q.AggregateFunction.COUNT, filter=where)

    measures = [flagged(True), flagged(1), flagged(1.0)]
    assert measures[0] == measures[1] == measures[2]
    for _ in range(2):  # the second time from what was kept
        kinds = [
            wire.query_message(q.AggregateQuery("q", "ORDER", q.TimeRange(START, END), (measure,)))
            .measures[0]
            .filter.comparison.right.literal.WhichOneof("kind")
            for measure in measures
        ]
        assert kinds == ["bool_value", "int_value", "double_value"]


@pytest.mark.parametrize(
    "moment",
    [
        datetime.datetime(2024, 3, 10, 1, 59, 59, 999_999, tzinfo=datetime.UTC),
        datetime.datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=datetime.UTC),
        datetime.datetime(2024, 3, 10, 3, 0, 0, 1, tzinfo=ZoneInfo("America/New_York")),
    ],
)
def test_a_request_holds_the_very_messages_of_its_queries(moment: datetime.datetime) -> None:
    # Written in place, yet byte for byte what each query encodes to (the receiver keys the
    # statements it keeps by those bytes), with the time range as Timestamp.FromDatetime has it.
    query = dataclasses.replace(
        QUERY, time_range=q.TimeRange(moment, moment + datetime.timedelta(minutes=1))
    )
    options = (wire.QueryOptions(max_groups=3), wire.QueryOptions(disable_rollups=True))
    message = wire.request_message(q.AggregateRequest("acme", (query, QUERY)), options)
    assert [m.SerializeToString() for m in message.queries] == [
        wire.query_message(query, options[0]).SerializeToString(),
        wire.query_message(QUERY, options[1]).SerializeToString(),
    ]
    expected = timestamp_pb2.Timestamp()
    expected.FromDatetime(moment.astimezone(datetime.UTC))
    assert message.queries[0].time_range.start == expected
    assert wire.timestamp_value(message.queries[0].time_range.start) == moment


def test_the_epoch_itself_is_a_time_range_bound() -> None:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    query = dataclasses.replace(
        QUERY, time_range=q.TimeRange(epoch, epoch + datetime.timedelta(hours=1))
    )
    message = wire.request_message(q.AggregateRequest("acme", (query,)))
    assert message.queries[0].time_range.HasField("start")
    request, _ = wire.request_value(message)
    assert request.queries[0].time_range == query.time_range
