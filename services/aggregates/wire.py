"""Conversion between the aggregate query model (query.py) and `analytics.data.v1` messages.

Both directions live here so the calculation service (which sends queries) and the data service
(which answers them) agree byte for byte. Nothing else: no validation beyond what the messages
cannot express in the model (unset required oneofs, unknown enum values, naive timestamps), which
is reported as InvalidArgument naming the field in protobuf terms.

Live rounds send the same queries over and over, so each direction keeps what it built lately:
the sender the messages of the measures and filters it reuses (by identity), the receiver the
values decoded from each query's bytes.

Two contract fields have no home in the model: `max_groups` and `disable_rollups` travel as
`QueryOptions` beside the query. The contract's `filter` and `row_security` are both "rows every
measure aggregates over"; the model keeps one `row_filter`, which is sent as `row_security` and
read back as the AND of whichever of the two is set.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Generic, TypeVar

from analytics.data.v1 import data_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import duration_pb2, timestamp_pb2

from services.aggregates import query as q
from services.aggregates.lru import LruMemo
from services.errors import InvalidArgument


@dataclass(frozen=True)
class QueryOptions:
    """Contract fields of an AggregateQuery that the query model does not carry."""

    # Groups kept per bucket, largest row count first; 0 keeps every group.
    max_groups: int = 0
    # True to read raw rows even when rollups could answer (verification).
    disable_rollups: bool = False


# -- enums ----------------------------------------------------------------------------------

_FUNCTIONS = {
    q.AggregateFunction.COUNT: data_pb2.AGGREGATE_FUNCTION_COUNT,
    q.AggregateFunction.SUM: data_pb2.AGGREGATE_FUNCTION_SUM,
    q.AggregateFunction.AVG: data_pb2.AGGREGATE_FUNCTION_AVG,
    q.AggregateFunction.MIN: data_pb2.AGGREGATE_FUNCTION_MIN,
    q.AggregateFunction.MAX: data_pb2.AGGREGATE_FUNCTION_MAX,
    q.AggregateFunction.COUNT_DISTINCT: data_pb2.AGGREGATE_FUNCTION_COUNT_DISTINCT,
    q.AggregateFunction.PERCENTILE: data_pb2.AGGREGATE_FUNCTION_PERCENTILE,
}
_COMPARATORS = {
    q.Comparator.EQ: data_pb2.COMPARISON_OPERATOR_EQ,
    q.Comparator.NE: data_pb2.COMPARISON_OPERATOR_NE,
    q.Comparator.LT: data_pb2.COMPARISON_OPERATOR_LT,
    q.Comparator.LE: data_pb2.COMPARISON_OPERATOR_LE,
    q.Comparator.GT: data_pb2.COMPARISON_OPERATOR_GT,
    q.Comparator.GE: data_pb2.COMPARISON_OPERATOR_GE,
}
_DURATION_UNITS = {
    q.DurationUnit.SECONDS: data_pb2.DURATION_UNIT_SECONDS,
    q.DurationUnit.MINUTES: data_pb2.DURATION_UNIT_MINUTES,
    q.DurationUnit.HOURS: data_pb2.DURATION_UNIT_HOURS,
    q.DurationUnit.DAYS: data_pb2.DURATION_UNIT_DAYS,
}
_OPERATORS = {
    q.ArithmeticOperator.ADD: data_pb2.ARITHMETIC_OPERATOR_ADD,
    q.ArithmeticOperator.SUBTRACT: data_pb2.ARITHMETIC_OPERATOR_SUBTRACT,
    q.ArithmeticOperator.MULTIPLY: data_pb2.ARITHMETIC_OPERATOR_MULTIPLY,
    q.ArithmeticOperator.DIVIDE: data_pb2.ARITHMETIC_OPERATOR_DIVIDE,
}
_PERIODS = {
    q.Period.MINUTE: types_pb2.PERIOD_MINUTE,
    q.Period.HOUR: types_pb2.PERIOD_HOUR,
    q.Period.DAY: types_pb2.PERIOD_DAY,
    q.Period.WEEK: types_pb2.PERIOD_WEEK,
    q.Period.MONTH: types_pb2.PERIOD_MONTH,
}


K = TypeVar("K")
V = TypeVar("V")
M = TypeVar("M")


def _reverse(mapping: Mapping[K, V]) -> dict[V, K]:
    return {value: key for key, value in mapping.items()}


_FUNCTIONS_BACK = _reverse(_FUNCTIONS)
_COMPARATORS_BACK = _reverse(_COMPARATORS)
_OPERATORS_BACK = _reverse(_OPERATORS)
_PERIODS_BACK = _reverse(_PERIODS)
_DURATION_UNITS_BACK = _reverse(_DURATION_UNITS)


# -- scalars and times ----------------------------------------------------------------------


def timestamp_message(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} cannot cross the wire")
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment.astimezone(datetime.UTC))
    return message


def timestamp_value(message: timestamp_pb2.Timestamp) -> datetime.datetime:
    return message.ToDatetime(tzinfo=datetime.UTC)


def scalar_message(value: q.Scalar) -> data_pb2.ScalarValue:
    # bool before int (bool is an int) and datetime before date (datetime is a date).
    if value is None:
        return data_pb2.ScalarValue()
    if isinstance(value, bool):
        return data_pb2.ScalarValue(bool_value=value)
    if isinstance(value, int):
        return data_pb2.ScalarValue(int_value=value)
    if isinstance(value, Decimal):
        return data_pb2.ScalarValue(decimal_value=str(value))
    if isinstance(value, float):
        return data_pb2.ScalarValue(double_value=value)
    if isinstance(value, str):
        return data_pb2.ScalarValue(string_value=value)
    if isinstance(value, datetime.datetime):
        return data_pb2.ScalarValue(timestamp_value=timestamp_message(value))
    return data_pb2.ScalarValue(date_value=value.isoformat())


def scalar_value(message: data_pb2.ScalarValue, field: str) -> q.Scalar:
    kind = message.WhichOneof("kind")
    if kind is None:
        return None
    if kind == "string_value":
        return message.string_value
    if kind == "int_value":
        return message.int_value
    if kind == "decimal_value":
        try:
            number = Decimal(message.decimal_value)
        except InvalidOperation:
            raise InvalidArgument.for_field(
                f"{field}.decimal_value", f"{message.decimal_value!r} is not a decimal number"
            ) from None
        if not number.is_finite():
            raise InvalidArgument.for_field(f"{field}.decimal_value", "must be a finite number")
        return number
    if kind == "double_value":
        return message.double_value
    if kind == "bool_value":
        return message.bool_value
    if kind == "timestamp_value":
        return timestamp_value(message.timestamp_value)
    try:
        return datetime.date.fromisoformat(message.date_value)
    except ValueError:
        raise InvalidArgument.for_field(
            f"{field}.date_value", f"{message.date_value!r} is not a date (YYYY-MM-DD)"
        ) from None


def _enum_value(mapping: Mapping[K, V], value: K, field: str) -> V:
    found = mapping.get(value)
    if found is None:
        raise InvalidArgument.for_field(field, "is required (unspecified or unknown value)")
    return found


# -- row expressions ------------------------------------------------------------------------


def field_ref_message(ref: q.FieldRef) -> data_pb2.FieldRef:
    return data_pb2.FieldRef(relationship_path=list(ref.path), field=ref.field)


def field_ref_value(message: data_pb2.FieldRef, field: str) -> q.FieldRef:
    if not message.field:
        raise InvalidArgument.for_field(f"{field}.field", "is required")
    return q.FieldRef(message.field, tuple(message.relationship_path))


def duration_message(duration: q.Duration) -> data_pb2.DurationBetween:
    return data_pb2.DurationBetween(
        start=field_ref_message(duration.start),
        end=field_ref_message(duration.end),
        unit=_DURATION_UNITS[duration.unit],
    )


def duration_value(message: data_pb2.DurationBetween, field: str) -> q.Duration:
    # The contract says an unspecified unit means seconds.
    unit = _DURATION_UNITS_BACK.get(message.unit, q.DurationUnit.SECONDS)
    return q.Duration(
        start=field_ref_value(message.start, f"{field}.start"),
        end=field_ref_value(message.end, f"{field}.end"),
        unit=unit,
    )


def operand_message(expression: q.RowExpression) -> data_pb2.Operand:
    if isinstance(expression, q.FieldRef):
        return data_pb2.Operand(field=field_ref_message(expression))
    if isinstance(expression, q.Duration):
        return data_pb2.Operand(duration=duration_message(expression))
    if isinstance(expression, q.Literal):
        return data_pb2.Operand(literal=scalar_message(expression.value))
    return data_pb2.Operand(
        arithmetic=data_pb2.RowArithmetic(
            operator=_OPERATORS[expression.operator],
            left=operand_message(expression.left),
            right=operand_message(expression.right),
        )
    )


def operand_value(message: data_pb2.Operand, field: str) -> q.RowExpression:
    kind = message.WhichOneof("kind")
    if kind == "field":
        return field_ref_value(message.field, f"{field}.field")
    if kind == "duration":
        return duration_value(message.duration, f"{field}.duration")
    if kind == "literal":
        return q.Literal(scalar_value(message.literal, f"{field}.literal"))
    if kind == "arithmetic":
        arithmetic = message.arithmetic
        return q.Arithmetic(
            operator=_enum_value(
                _OPERATORS_BACK, arithmetic.operator, f"{field}.arithmetic.operator"
            ),
            left=operand_value(arithmetic.left, f"{field}.arithmetic.left"),
            right=operand_value(arithmetic.right, f"{field}.arithmetic.right"),
        )
    raise InvalidArgument.for_field(field, "is required")


# -- filters --------------------------------------------------------------------------------


def filter_message(node: q.Filter) -> data_pb2.Filter:
    if isinstance(node, q.Compare):
        return data_pb2.Filter(
            comparison=data_pb2.Comparison(
                left=operand_message(node.left),
                operator=_COMPARATORS[node.comparator],
                right=operand_message(node.right),
            )
        )
    if isinstance(node, q.InList):
        return data_pb2.Filter(
            in_list=data_pb2.InFilter(
                operand=operand_message(node.operand),
                values=[scalar_message(value) for value in node.values],
            )
        )
    if isinstance(node, q.Between):
        return data_pb2.Filter(
            between=data_pb2.BetweenFilter(
                operand=operand_message(node.operand),
                low=scalar_message(node.low),
                high=scalar_message(node.high),
            )
        )
    if isinstance(node, q.IsNull):
        return data_pb2.Filter(is_null=data_pb2.NullFilter(operand=operand_message(node.operand)))
    if isinstance(node, q.Subtree):
        return data_pb2.Filter(
            subtree=data_pb2.SubtreeFilter(
                field=field_ref_message(node.field),
                hierarchy_object_model_code=node.hierarchy_object_model_code,
                node_field=node.node_field,
                parent_field=node.parent_field,
                root=scalar_message(node.root),
                include_root=node.include_root,
            )
        )
    if isinstance(node, q.AllOf):
        return data_pb2.Filter(
            all_of=data_pb2.FilterList(filters=[filter_message(f) for f in node.filters])
        )
    if isinstance(node, q.AnyOf):
        return data_pb2.Filter(
            any_of=data_pb2.FilterList(filters=[filter_message(f) for f in node.filters])
        )
    return data_pb2.Filter(negation=filter_message(node.filter))


def filter_value(message: data_pb2.Filter, field: str) -> q.Filter:
    node = message.WhichOneof("node")
    if node == "comparison":
        comparison = message.comparison
        return q.Compare(
            left=operand_value(comparison.left, f"{field}.comparison.left"),
            comparator=_enum_value(
                _COMPARATORS_BACK, comparison.operator, f"{field}.comparison.operator"
            ),
            right=operand_value(comparison.right, f"{field}.comparison.right"),
        )
    if node == "in_list":
        in_list = message.in_list
        return q.InList(
            operand=operand_value(in_list.operand, f"{field}.in_list.operand"),
            values=tuple(
                scalar_value(value, f"{field}.in_list.values[{index}]")
                for index, value in enumerate(in_list.values)
            ),
        )
    if node == "between":
        between = message.between
        return q.Between(
            operand=operand_value(between.operand, f"{field}.between.operand"),
            low=scalar_value(between.low, f"{field}.between.low"),
            high=scalar_value(between.high, f"{field}.between.high"),
        )
    if node == "is_null":
        return q.IsNull(operand_value(message.is_null.operand, f"{field}.is_null.operand"))
    if node == "all_of":
        return q.AllOf(_filter_list(message.all_of.filters, f"{field}.all_of.filters"))
    if node == "any_of":
        return q.AnyOf(_filter_list(message.any_of.filters, f"{field}.any_of.filters"))
    if node == "negation":
        return q.Not(filter_value(message.negation, f"{field}.negation"))
    if node == "subtree":
        return _subtree_value(message.subtree, f"{field}.subtree")
    raise InvalidArgument.for_field(field, "is empty: set one filter node")


def _subtree_value(message: data_pb2.SubtreeFilter, field: str) -> q.Subtree:
    for name in ("hierarchy_object_model_code", "node_field", "parent_field"):
        if not getattr(message, name):
            raise InvalidArgument.for_field(f"{field}.{name}", "is required")
    root = scalar_value(message.root, f"{field}.root")
    if root is None:
        raise InvalidArgument.for_field(f"{field}.root", "is required")
    return q.Subtree(
        field=field_ref_value(message.field, f"{field}.field"),
        hierarchy_object_model_code=message.hierarchy_object_model_code,
        node_field=message.node_field,
        parent_field=message.parent_field,
        root=root,
        include_root=message.include_root,
    )


def _filter_list(messages: Sequence[data_pb2.Filter], field: str) -> tuple[q.Filter, ...]:
    return tuple(filter_value(m, f"{field}[{index}]") for index, m in enumerate(messages))


# -- queries --------------------------------------------------------------------------------


def measure_message(measure: q.Measure) -> data_pb2.Measure:
    message = data_pb2.Measure(
        measure_id=measure.measure_id,
        function=_FUNCTIONS[measure.function],
        percentile=measure.percentile or 0.0,
    )
    argument = measure.argument
    if isinstance(argument, q.FieldRef):
        message.field.CopyFrom(field_ref_message(argument))
    elif isinstance(argument, q.Duration):
        message.duration.CopyFrom(duration_message(argument))
    elif argument is not None:
        message.expression.CopyFrom(operand_message(argument))
    if measure.filter is not None:
        message.filter.CopyFrom(filter_message(measure.filter))
    return message


def measure_value(message: data_pb2.Measure, field: str) -> q.Measure:
    function = _enum_value(_FUNCTIONS_BACK, message.function, f"{field}.function")
    argument: q.RowExpression | None
    kind = message.WhichOneof("argument")
    if kind == "field":
        argument = field_ref_value(message.field, f"{field}.field")
    elif kind == "duration":
        argument = duration_value(message.duration, f"{field}.duration")
    elif kind == "expression":
        argument = operand_value(message.expression, f"{field}.expression")
    else:
        argument = None
    return q.Measure(
        measure_id=message.measure_id,
        function=function,
        argument=argument,
        filter=filter_value(message.filter, f"{field}.filter")
        if message.HasField("filter")
        else None,
        percentile=message.percentile if function is q.AggregateFunction.PERCENTILE else None,
    )


def query_message(
    query: q.AggregateQuery, options: QueryOptions = QueryOptions()
) -> data_pb2.AggregateQuery:
    message = data_pb2.AggregateQuery()
    _fill_query(message, query, options)
    return message


def _fill_query(
    message: data_pb2.AggregateQuery, query: q.AggregateQuery, options: QueryOptions
) -> None:
    """Writes `query` into an empty `message` in place: a request's queries are written where
    they end up, as building each apart copied it once more into the request."""
    message.query_id = query.query_id
    message.object_model_code = query.object_model_code
    set_timestamp(message.time_range.start, query.time_range.start)
    set_timestamp(message.time_range.end, query.time_range.end)
    message.time_field = query.time_field
    if query.bucket:
        message.bucket_period = _PERIODS[query.bucket]
    message.measures.extend([_ENCODED_MEASURES.message(measure) for measure in query.measures])
    for dimension in query.group_by:
        message.group_by.add(name=dimension.name, field=field_ref_message(dimension.field))
    message.max_groups = options.max_groups
    message.disable_rollups = options.disable_rollups
    if query.row_filter is not None:
        message.row_security.CopyFrom(_ENCODED_FILTERS.message(query.row_filter))


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def set_timestamp(target: timestamp_pb2.Timestamp, moment: datetime.datetime) -> None:
    """`timestamp_message(moment)` written into `target`, by integer arithmetic (a dozen
    timestamps go into every live round's request and answer)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()} cannot cross the wire")
    seconds, microseconds = divmod((moment - _EPOCH) // _MICROSECOND, 1_000_000)
    target.SetInParent()  # present even at the epoch itself, where both fields are zero
    target.seconds = seconds
    target.nanos = microseconds * 1000


class _EncodedByIdentity(Generic[V, M]):
    """Messages of values a sender keeps reusing — the calculator's compiled measures and
    row-security filters go into every live round's queries, and encoding them was most of
    encoding a request — kept by the value's identity. Not by equality: 1 == 1.0 == True, so
    equal values can need different messages. An entry holds its value, so no other value can
    take its id while it is kept. The messages are only ever copied from, never changed."""

    def __init__(self, encode: Callable[[V], M], capacity: int) -> None:
        self._encode = encode
        self._kept: LruMemo[int, tuple[V, M]] = LruMemo(capacity)

    def message(self, value: V) -> M:
        found = self._kept.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        encoded = self._encode(value)
        self._kept.put(id(value), (value, encoded))
        return encoded


_ENCODED_MEASURES = _EncodedByIdentity(measure_message, 8192)
_ENCODED_FILTERS = _EncodedByIdentity(filter_message, 1024)


def query_value(message: data_pb2.AggregateQuery, field: str) -> q.AggregateQuery:
    if not message.object_model_code:
        raise InvalidArgument.for_field(f"{field}.object_model_code", "is required")
    if not message.HasField("time_range") or not (
        message.time_range.HasField("start") and message.time_range.HasField("end")
    ):
        raise InvalidArgument.for_field(f"{field}.time_range", "needs a start and an end")
    row_filters = [
        filter_value(getattr(message, name), f"{field}.{name}")
        for name in ("filter", "row_security")
        if message.HasField(name)
    ]
    bucket = None
    if message.bucket_period != types_pb2.PERIOD_UNSPECIFIED:
        bucket = _enum_value(_PERIODS_BACK, message.bucket_period, f"{field}.bucket_period")
    return q.AggregateQuery(
        query_id=message.query_id,
        object_model_code=message.object_model_code,
        time_range=q.TimeRange(
            timestamp_value(message.time_range.start), timestamp_value(message.time_range.end)
        ),
        measures=tuple(
            measure_value(m, f"{field}.measures[{index}]")
            for index, m in enumerate(message.measures)
        ),
        bucket=bucket,
        group_by=tuple(
            q.Dimension(d.name, field_ref_value(d.field, f"{field}.group_by[{index}].field"))
            for index, d in enumerate(message.group_by)
        ),
        row_filter=(
            None
            if not row_filters
            else row_filters[0]
            if len(row_filters) == 1
            else q.AllOf(tuple(row_filters))
        ),
        time_field=message.time_field,
    )


def query_options(message: data_pb2.AggregateQuery) -> QueryOptions:
    return QueryOptions(max_groups=message.max_groups, disable_rollups=message.disable_rollups)


def request_message(
    request: q.AggregateRequest, options: Sequence[QueryOptions] = (), *, columnar: bool = False
) -> data_pb2.QueryAggregatesRequest:
    """`options` pairs with `request.queries` by position; missing entries are the defaults.
    `columnar` asks for the results as columns (see columnar_wire)."""
    padded = list(options) + [QueryOptions()] * (len(request.queries) - len(options))
    message = data_pb2.QueryAggregatesRequest(
        client_id=request.client_id, time_zone=request.time_zone, columnar=columnar
    )
    for query, opts in zip(request.queries, padded, strict=False):
        _fill_query(message.queries.add(), query, opts)
    return message


def request_value(
    message: data_pb2.QueryAggregatesRequest,
) -> tuple[q.AggregateRequest, tuple[QueryOptions, ...]]:
    request, options, _ = keyed_request_value(message)
    return request, options


def keyed_request_value(
    message: data_pb2.QueryAggregatesRequest,
) -> tuple[q.AggregateRequest, tuple[QueryOptions, ...], tuple[bytes, ...]]:
    """`request_value`, plus each query's encoding: a key naming the query and its options
    exactly, for whatever a caller derives from them. (The values are no such key: 1 == 1.0 ==
    True, so literals of different types compare equal.)"""
    keys = tuple(query.SerializeToString() for query in message.queries)
    decoded = [
        _decoded_query(query, key, f"queries[{index}]")
        for index, (query, key) in enumerate(zip(message.queries, keys, strict=True))
    ]
    request = q.AggregateRequest(
        client_id=message.client_id,
        queries=tuple(query for query, _ in decoded),
        time_zone=message.time_zone or "UTC",
    )
    return request, tuple(options for _, options in decoded), keys


# Queries decoded lately, by encoding. A live dashboard asks for the same few queries of the
# current bucket again and again; decoding one took longer than answering it from the rollups.
# Holds immutable values only, so every caller may share them.
_DECODED_QUERIES: LruMemo[bytes, tuple[q.AggregateQuery, QueryOptions]] = LruMemo(4096)


def _decoded_query(
    message: data_pb2.AggregateQuery, key: bytes, field: str
) -> tuple[q.AggregateQuery, QueryOptions]:
    found = _DECODED_QUERIES.get(key)
    if found is None:
        # Not kept when refused: the next request gets the error with its own field name.
        found = (query_value(message, field), query_options(message))
        _DECODED_QUERIES.put(key, found)
    return found


# -- results --------------------------------------------------------------------------------


def row_message(row: q.AggregateRow, unbucketed_start: datetime.datetime) -> data_pb2.AggregateRow:
    """The contract puts the range start in `bucket_start` of an unbucketed query's rows.
    Values are written into the row's map entries in place: a dashboard's answer holds some
    100,000 of them, and building each as a message of its own to copy it in doubled the time."""
    message = data_pb2.AggregateRow(
        bucket_start=timestamp_message(row.bucket_start or unbucketed_start),
        row_count=row.row_count,
    )
    for name, value in row.dimensions.items():
        message.dimensions[name].CopyFrom(scalar_message(value))
    measures = message.measures
    for name, value in row.measures.items():
        entry = measures[name]  # an empty entry is NULL
        if isinstance(value, float):
            entry.double_value = value
        elif isinstance(value, int) and not isinstance(value, bool):
            entry.int_value = value
        elif value is not None:
            entry.CopyFrom(scalar_message(value))
    return message


def _measure_number(message: data_pb2.ScalarValue, field: str, name: str) -> float | None:
    # The usual kinds first, without spelling the field's name (only an error needs it).
    kind = message.WhichOneof("kind")
    if kind == "double_value":
        return message.double_value
    if kind == "int_value":
        return message.int_value
    if kind is None:
        return None
    where = f"{field}.measures[{name}]"
    value = scalar_value(message, where)
    if isinstance(value, float | Decimal):
        return float(value)
    raise InvalidArgument.for_field(where, "a measure value must be a number")


def row_value(message: data_pb2.AggregateRow, bucketed: bool, field: str) -> q.AggregateRow:
    return q.AggregateRow(
        bucket_start=timestamp_value(message.bucket_start) if bucketed else None,
        dimensions={
            name: scalar_value(value, f"{field}.dimensions[{name}]")
            for name, value in message.dimensions.items()
        },
        measures={
            name: _measure_number(value, field, name) for name, value in message.measures.items()
        },
        row_count=message.row_count,
    )


def result_message(result: q.AggregateResult, query: q.AggregateQuery) -> data_pb2.AggregateResult:
    message = data_pb2.AggregateResult(
        query_id=result.query_id,
        rows=[row_message(row, query.time_range.start) for row in result.rows],
        truncated=result.truncated,
        used_rollups=result.used_rollups,
        data_version=result.data_version,
    )
    if result.watermark is not None:
        message.watermark.CopyFrom(timestamp_message(result.watermark))
    return message


def result_value(
    message: data_pb2.AggregateResult, query: q.AggregateQuery, field: str
) -> q.AggregateResult:
    bucketed = query.bucket is not None
    return q.AggregateResult(
        query_id=message.query_id,
        rows=tuple(
            row_value(row, bucketed, f"{field}.rows[{index}]")
            for index, row in enumerate(message.rows)
        ),
        data_version=message.data_version,
        watermark=timestamp_value(message.watermark) if message.HasField("watermark") else None,
        used_rollups=message.used_rollups,
        truncated=message.truncated,
    )


def response_message(
    results: Sequence[q.AggregateResult],
    queries: Sequence[q.AggregateQuery],
    elapsed: datetime.timedelta,
) -> data_pb2.QueryAggregatesResponse:
    duration = duration_pb2.Duration()
    duration.FromTimedelta(elapsed)
    return data_pb2.QueryAggregatesResponse(
        results=[
            result_message(result, query) for result, query in zip(results, queries, strict=True)
        ],
        elapsed=duration,
    )


def response_value(
    message: data_pb2.QueryAggregatesResponse, queries: Sequence[q.AggregateQuery]
) -> tuple[q.AggregateResult, ...]:
    """Results in request order; `queries` are the ones sent (they say which are bucketed)."""
    if len(message.results) != len(queries):
        raise InvalidArgument.for_field(
            "results", f"{len(message.results)} results for {len(queries)} queries"
        )
    return tuple(
        result_value(result, query, f"results[{index}]")
        for index, (result, query) in enumerate(zip(message.results, queries, strict=True))
    )
