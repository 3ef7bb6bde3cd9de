"""Turns one AggregateQuery into ONE parameterised SQL statement (pure: no I/O, no grpc).

Safety: identifiers in the statement come only from the catalog's object models (schema, table,
field and relationship names, all double-quoted); every value from the request — literals, the
client, the time range, the time zone, percentiles, limits — is a `$n` parameter. Measure ids and
dimension names never reach SQL either: result columns are positional (`d0`, `m0`, ...) and mapped
back by `Statement`. Every table the statement reads, joined or inside EXISTS, is scoped with
`client_id = $1`.

Shape: `SELECT bucket, dimensions, count(*), aggregate(...) FILTER (WHERE measure filter), ...
FROM raw table LEFT JOIN related tables WHERE client AND time range AND row filter GROUP BY ...`,
so the measures of many KPIs over one object model share one scan. The same statement reads the
per-minute rollup table instead when `rollup_refusal` finds no reason not to (see there). A
total's COUNT_DISTINCT is the exception to one scan: a subquery of its own over the raw rows,
cross-joined to the rest of the total (`_distinct_count_apart`).

Derived fields: a comparison of two fields of one row that an object model declares as a derived
field (`delivered_at <= promised_at` for ORDER.delivered_on_time), as written or mirrored
(`promised_at >= delivered_at`), reads that field's column instead, in raw tables and rollups
alike. The column is the comparison computed when the row was written, NULL when either side is
NULL, so it is the comparison's exact three-valued result even under NOT; and it is a rollup
dimension, so a filter made of such comparisons and dimension fields no longer keeps the rollup
from answering.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import itertools
import math
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.aggregates import query as q
from services.catalog.domain import (
    Cardinality,
    Comparator,
    DerivedDuration,
    DerivedField,
    FieldType,
    ObjectModel,
    TimeWindow,
    carried_column,
)
from services.data.tables import rollup_dimensions
from services.errors import InvalidArgument

# Result rows beyond this make the statement fail rather than silently lose buckets or groups.
DEFAULT_ROW_LIMIT = 100_000

ROLLUP_SUFFIX = "__minute"
HOUR_ROLLUP_SUFFIX = "__hour"
ROLLUP_TIME_COLUMN = "bucket"
ROLLUP_ROW_COUNT_COLUMN = "row_count"
ROLLUP_SUM_PREFIX = "sum__"
ROLLUP_COUNT_PREFIX = "count__"
# Ranges up to this long find each row's related row by lookup when the relationship says where
# in time it usually is (Relationship.target_time_window); longer ones hash the related table once.
# Raw tables are partitioned by time and the related row's key says nothing about its time, so a
# plain join either probes every partition per row or hashes the whole related table: for a live
# dashboard's last day that was most of the statement (10k order lines of a day against a year of
# orders, 240 ms; by lookup 40-60 ms). A lookup costs a few microseconds a row, so a year-long
# read by lookup would cost more than the hash.
LOOKUP_JOIN_MAX_SPAN = datetime.timedelta(hours=36)
# Ranges longer than this group their rows by joining the range's bucket starts (a series) rather
# than by the bucket expression alone. The planner cannot tell how many distinct values an
# expression of a timestamp makes, so it assumes one per row: a year of orders per day looked
# like 1.3M groups, for which aggregating in parallel workers seemed pointless, and it sorted
# every row in one process (700-1000 ms). Grouped by the series' column it expects a few hundred
# groups and aggregates in the workers first (360 ms). Short ranges read few rows either way.
BUCKET_SERIES_MIN_SPAN = LOOKUP_JOIN_MAX_SPAN


class Kind(enum.Enum):
    """SQL type of a row expression; the value is the type name used in parameter casts."""

    TEXT = "text"
    INTEGER = "bigint"
    NUMERIC = "numeric"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamptz"
    DATE = "date"

    @property
    def is_numeric(self) -> bool:
        return self in (Kind.INTEGER, Kind.NUMERIC)

    @property
    def is_temporal(self) -> bool:
        return self in (Kind.TIMESTAMP, Kind.DATE)

    def comparable_with(self, other: Kind) -> bool:
        return (
            self is other
            or (self.is_numeric and other.is_numeric)
            or (self.is_temporal and other.is_temporal)
        )


KIND_OF_FIELD = {
    FieldType.STRING: Kind.TEXT,
    FieldType.INTEGER: Kind.INTEGER,
    FieldType.DECIMAL: Kind.NUMERIC,
    FieldType.BOOLEAN: Kind.BOOLEAN,
    FieldType.TIMESTAMP: Kind.TIMESTAMP,
    FieldType.DATE: Kind.DATE,
}

_SECONDS_PER_UNIT = {
    q.DurationUnit.SECONDS: 1,
    q.DurationUnit.MINUTES: 60,
    q.DurationUnit.HOURS: 3_600,
    q.DurationUnit.DAYS: 86_400,
}
_COMPARATORS = {
    q.Comparator.EQ: "=",
    q.Comparator.NE: "<>",
    q.Comparator.LT: "<",
    q.Comparator.LE: "<=",
    q.Comparator.GT: ">",
    q.Comparator.GE: ">=",
}
_OPERATORS = {
    q.ArithmeticOperator.ADD: "+",
    q.ArithmeticOperator.SUBTRACT: "-",
    q.ArithmeticOperator.MULTIPLY: "*",
}
# Buckets that have a fixed length everywhere: binned from an origin aligned with the zone's local
# midnight, so a DST fall-back hour stays two separate hours (date_trunc on local time would merge
# them into one bucket). Days, weeks and months vary in length and follow the zone's calendar.
_FIXED_BUCKETS = {q.Period.MINUTE: "1 minute", q.Period.HOUR: "1 hour"}
_CALENDAR_BUCKETS = {q.Period.DAY: "day", q.Period.WEEK: "week", q.Period.MONTH: "month"}
# Calendar buckets of one length in UTC, binned from a Monday midnight (1900-01-01) long before
# any data, so weeks start on Mondays as ISO weeks do.
_UTC_BINS = {q.Period.DAY: "1 day", q.Period.WEEK: "7 days"}
_MONDAY_ORIGIN = "TIMESTAMPTZ '1900-01-01 00:00:00+00'"


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_name(model: ObjectModel, suffix: str = "") -> str:
    return f"{quote_identifier(model.schema_name)}.{quote_identifier(model.table_name + suffix)}"


# Zone names that are UTC all year (Europe/London is UTC only in winter).
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu"})


def zone(time_zone: str, field: str = "time_zone") -> zoneinfo.ZoneInfo:
    """The IANA zone, or InvalidArgument naming `field`."""
    try:
        return zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgument.for_field(
            field, f"{time_zone!r} is not an IANA time zone name (e.g. 'Europe/Berlin')"
        ) from None


def is_dimension_field(model: ObjectModel, name: str) -> bool:
    """Fields the per-minute rollup keeps as grouping columns: booleans and strings with a closed
    set of allowed values (small, known cardinality, so the rollup stays small), and the
    derived fields (booleans too)."""
    found = model.field(name)
    if found is None:
        return model.derived_field(name) is not None
    return found.type is FieldType.BOOLEAN or (
        found.type is FieldType.STRING and bool(found.allowed_values)
    )


def derived_field_of(
    model: ObjectModel, left: str, comparator: q.Comparator, right: str
) -> DerivedField | None:
    """The derived field of `model` holding `left comparator right` (fields of the model), as
    written or mirrored; None when no derived field is that comparison."""
    return model.derived_field_for(left, Comparator(_COMPARATORS[comparator]), right)


@dataclass(frozen=True)
class Statement:
    """One SQL statement and how to read its rows back.

    Columns: `bucket_start` (when bucketed), `d0..` (dimensions in `dimension_names` order),
    `row_count`, `m0..` (measures in `measure_ids` order), and `group_total` (groups in the bucket
    before `max_groups` cut them) when `max_groups` applies."""

    sql: str
    params: tuple[object, ...]
    used_rollups: bool
    # "hour" or "minute": which rollup answers (None: the raw rows).
    rollup_level: str | None
    # Why the raw rows are read; None when the rollups answer.
    rollup_refusal: str | None
    bucketed: bool
    dimension_names: tuple[str, ...]
    measure_ids: tuple[str, ...]
    max_groups: int
    # The statement returns at most row_limit + 1 rows; more than row_limit means "too many".
    row_limit: int


def build_statement(
    query: q.AggregateQuery,
    object_models: Mapping[str, ObjectModel],
    *,
    client_id: str,
    time_zone: str = "UTC",
    max_groups: int = 0,
    allow_rollups: bool = True,
    row_limit: int = DEFAULT_ROW_LIMIT,
    field_prefix: str = "",
) -> Statement:
    """The statement answering `query` for `client_id`. Raises InvalidArgument naming the field
    (prefixed with `field_prefix`, e.g. "queries[2].") for anything the catalog does not allow."""
    if "\x00" in client_id:
        # PostgreSQL text cannot hold NUL; no client id has one.
        raise InvalidArgument.for_field("client_id", "must not contain NUL characters")
    builder = _Builder(object_models, client_id, zone(time_zone), time_zone, field_prefix)
    return builder.statement(query, max_groups, allow_rollups, row_limit)


def rollup_refusal(
    query: q.AggregateQuery,
    model: ObjectModel,
    time_field: str,
    time_zone: str = "UTC",
    allow_rollups: bool = True,
) -> str | None:
    """Why the per-minute rollup cannot answer `query` exactly, or None when it can.

    A rollup row holds, per client, UTC minute of the model's time field and combination of
    dimension field values: the row count and the sum (0 when every value is absent) of every
    numeric field. An answer read from it must equal the raw answer exactly, which gives these
    rules."""
    if not allow_rollups:
        return "the caller disabled rollups"
    if time_field != model.time_field:
        # Rollups are bucketed by the default time field only.
        return f"time field {time_field!r} is not the rollup's time field {model.time_field!r}"
    time_spec = model.field(time_field)
    if time_spec is None:
        return f"time field {time_field!r} does not exist"
    if time_spec.type is FieldType.DATE and time_zone not in _UTC_ZONES:
        # A date-placed row sits at its date's UTC midnight in the rollup, while a query places
        # it at midnight in the request's zone: the two agree only in UTC.
        return f"time field {time_field!r} is a date and the time zone is not UTC"
    for moment in (query.time_range.start, query.time_range.end):
        # A rollup minute cannot be split: the range must start and end on whole minutes.
        # (Every bucket period is a whole number of minutes, and every zone in use today is
        # offset from UTC by whole minutes, so bucket boundaries are whole minutes too.)
        if moment.second or moment.microsecond or moment.utcoffset() is None:
            return "the time range does not start and end on whole minutes"
    for index, measure in enumerate(query.measures):
        reason = _measure_refusal(measure, model)
        if reason is not None:
            return f"measure {index} ({measure.function.value}): {reason}"
    for index, dimension in enumerate(query.group_by):
        if not _is_dimension_ref(dimension.field, model):
            # The rollup only keeps the dimension fields of the model itself (and its copies).
            return f"group-by {index} is not a dimension field of the model itself"
    if query.row_filter is not None and not _filter_on_dimensions(query.row_filter, model):
        return "the row filter touches more than the model's own dimension fields"
    return None


# Periods whose buckets a distinct count may be kept for (see settled_distinct_refusal), besides
# a total's whole range. Minute buckets serve live views of a month at most, whose rows are few
# and counted quickly.
SETTLED_PERIODS = frozenset({q.Period.HOUR, q.Period.DAY, q.Period.WEEK, q.Period.MONTH})


def settled_distinct_refusal(
    query: q.AggregateQuery, measure: q.Measure, model: ObjectModel, allow_rollups: bool = True
) -> str | None:
    """Why the COUNT_DISTINCT `measure` of `query` cannot be read per bucket from the counts kept
    of whole buckets (services.data.settled_distinct), or None when it can.

    A kept count stays right only while nothing it was counted from changes without a new stamp
    of the days it covers. The writes of a model's own rows give one (and the copies the rows
    carry are moved by writes of them), but not the rows of other models: so the measure's
    argument and filter and the row filter may read only the row itself (its fields, derived
    fields and carried copies), never a joined row, a one-to-many EXISTS or a hierarchy."""
    if not allow_rollups:
        return "the caller disabled rollups"
    if measure.function is not q.AggregateFunction.COUNT_DISTINCT or measure.argument is None:
        return "not a distinct count of a value"
    if query.bucket is not None and query.bucket not in SETTLED_PERIODS:
        return "counts are kept of whole ranges and of hour, day, week and month buckets only"
    if query.group_by:
        return "grouped counts are not kept"
    if (query.time_field or model.time_field) != model.time_field:
        return "days are stamped by the model's time field only"
    if query.time_range.end - query.time_range.start <= BUCKET_SERIES_MIN_SPAN:
        return "a short range is counted quickly from its rows"
    if _is_date_time_field(measure.argument, model):
        return "the rollups answer it"
    if not all(_own_row_ref(ref, model) for ref in _expression_refs(measure.argument)):
        return "its argument reads another row than the row itself"
    for node in (measure.filter, query.row_filter):
        if node is not None and not _own_row_filter(node, model):
            return "a filter reads another row than the row itself"
    return None


def _own_row_ref(ref: q.FieldRef, model: ObjectModel) -> bool:
    """Whether `ref` is read from the row itself: its own field, or a copy it carries."""
    if not ref.path:
        return True
    relationship = model.relationship(ref.path[0]) if len(ref.path) == 1 else None
    return relationship is not None and relationship.carried(ref.field) is not None


def _own_row_filter(node: q.Filter, model: ObjectModel) -> bool:
    return _every_condition(
        node, lambda leaf: all(_own_row_ref(ref, model) for ref in _field_refs(leaf))
    )


# The leaves of a filter tree: each tests a row's values.
_Condition = q.Compare | q.InList | q.Between | q.IsNull


def _every_condition(node: q.Filter, holds: Callable[[_Condition], bool]) -> bool:
    """Whether `holds` is true of every condition (comparison, membership, null test) of a
    filter tree. A hierarchy filter never qualifies: it reads the hierarchy's rows, which
    neither the rollups nor the row itself hold."""
    if isinstance(node, q.AllOf | q.AnyOf):
        return all(_every_condition(child, holds) for child in node.filters)
    if isinstance(node, q.Not):
        return _every_condition(node.filter, holds)
    if isinstance(node, q.Subtree):
        return False
    return holds(node)


def bucket_starts_statement(
    query: q.AggregateQuery,
    object_models: Mapping[str, ObjectModel],
    *,
    client_id: str,
    time_zone: str,
) -> tuple[str, tuple[object, ...]]:
    """A statement returning `starts`: every bucket start of `query`'s range in order, as the
    statement answering it makes them (see _bucket_series), and its parameters ($1 the
    client, unused, so other statements can share it)."""
    builder = _Builder(object_models, client_id, zone(time_zone), time_zone, "")
    series = builder._bucket_series(query)
    sql = f"SELECT ARRAY(SELECT buckets.start FROM {series} AS buckets(start) ORDER BY 1)"
    return sql, tuple(builder._params.values)


def _measure_refusal(measure: q.Measure, model: ObjectModel) -> str | None:
    if measure.filter is not None and not _filter_on_dimensions(measure.filter, model):
        # Each rollup row has one value per dimension field, so a predicate over dimension
        # fields (and literals) is true or false for all the raw rows it summarises alike;
        # anything else (other fields, related objects, durations) is not in the rollup.
        return "its filter touches more than the model's own dimension fields"
    function = measure.function
    if function is q.AggregateFunction.COUNT and measure.argument is None:
        return None  # the sum of row_count
    if function is q.AggregateFunction.COUNT_DISTINCT and _is_date_time_field(
        measure.argument, model
    ):
        # A date-placed row sits in its date's bucket (UTC midnight) in the rollups: the distinct
        # dates of the rows are the distinct buckets of their rollup rows (days with snapshots).
        return None
    if function not in (q.AggregateFunction.SUM, q.AggregateFunction.AVG):
        # COUNT(x) needs the non-null count of x, COUNT_DISTINCT the values themselves, MIN, MAX
        # and PERCENTILE the value distribution: none of it survives summing per minute.
        return "only COUNT(*), SUM and AVG of a field can be read from sums per minute"
    argument = measure.argument
    if derived_duration_of(argument, model) is not None:
        # Its sum and the count of rows that have one are kept per minute and hour.
        return None
    if not isinstance(argument, q.FieldRef) or argument.path:
        return "the argument is not a plain field of the model itself"
    spec = model.field(argument.field)
    if spec is None or not spec.type.is_numeric:
        return "the argument is not a numeric field"
    if not spec.required:
        # The rollup does not know how many rows had the field absent: AVG = sum / count of
        # non-null values would divide by the wrong count, and a SUM over rows whose values are
        # all absent is NULL on raw rows but whatever the rollup stored for "no sum". A required
        # field is never absent, which makes both exact.
        return f"field {argument.field!r} may be absent (not required)"
    return None


def derived_duration_of(
    argument: q.RowExpression | None, model: ObjectModel
) -> DerivedDuration | None:
    """The derived duration of `model` that `argument` is: the duration between two operands of
    the row (its fields, or copies it carries), in the declared order, or that duration times a
    numeric field of the row declared as its weight; None when there is none."""
    duration, weight = _weighed(argument)
    if duration is None:
        return None
    start, end = _operand_name(duration.start, model), _operand_name(duration.end, model)
    if start is None or end is None:
        return None
    return model.derived_duration_for(start, end, weight)


def _weighed(argument: q.RowExpression | None) -> tuple[q.Duration | None, str]:
    """`argument` as a duration and the field it is multiplied by ("" when it is not)."""
    if isinstance(argument, q.Duration):
        return argument, ""
    if not (isinstance(argument, q.Arithmetic)
            and argument.operator is q.ArithmeticOperator.MULTIPLY):
        return None, ""
    for weight, duration in ((argument.left, argument.right), (argument.right, argument.left)):
        if isinstance(weight, q.FieldRef) and not weight.path and isinstance(duration, q.Duration):
            return duration, weight.field
    return None, ""


def _operand_name(ref: q.FieldRef, model: ObjectModel) -> str | None:
    """How a derived field or duration of `model` names `ref`: a field of the row by its name, a
    related row's field the row carries a copy of as `relationship.field`; None otherwise."""
    if not ref.path:
        return ref.field
    name = f"{ref.path[0]}.{ref.field}"
    return name if len(ref.path) == 1 and model.operand(name) is not None else None


def _duration_unit(argument: q.RowExpression | None) -> q.DurationUnit:
    """The unit of the derived duration `argument` is (see derived_duration_of)."""
    duration, _ = _weighed(argument)
    assert duration is not None
    return duration.unit


def _is_date_time_field(argument: q.RowExpression | None, model: ObjectModel) -> bool:
    time = model.field(model.time_field)
    return (
        isinstance(argument, q.FieldRef)
        and not argument.path
        and argument.field == model.time_field
        and time is not None
        and time.type is FieldType.DATE
    )


def _filter_on_dimensions(node: q.Filter, model: ObjectModel) -> bool:
    return _every_condition(node, lambda leaf: _condition_on_dimensions(leaf, model))


def _condition_on_dimensions(node: _Condition, model: ObjectModel) -> bool:
    operands: tuple[q.RowExpression, ...]
    if isinstance(node, q.Compare):
        if _is_derived_comparison(node, model):
            return True
        operands = (node.left, node.right)
    else:
        operands = (node.operand,)
    return all(
        isinstance(operand, q.Literal)
        or (isinstance(operand, q.FieldRef) and _is_dimension_ref(operand, model))
        for operand in operands
    )


def _is_dimension_ref(ref: q.FieldRef, model: ObjectModel) -> bool:
    """Whether the rollups group by `ref`: a dimension field of the model, or a copy the model
    keeps of a related row's field of a kind they group by."""
    if not ref.path:
        return is_dimension_field(model, ref.field)
    if len(ref.path) != 1:
        return False
    relationship = model.relationship(ref.path[0])
    carried = relationship.carried(ref.field) if relationship is not None else None
    return (
        relationship is not None
        and carried is not None
        and carried_column(relationship, carried) in {d.name for d in rollup_dimensions(model)}
    )


def _is_derived_comparison(node: q.Compare, model: ObjectModel) -> bool:
    """Whether `node` compares two fields of the model itself as one of its derived fields does,
    so the statement reads that derived field (a rollup dimension) instead."""
    left, right = node.left, node.right
    if not (isinstance(left, q.FieldRef) and isinstance(right, q.FieldRef)):
        return False
    left_name, right_name = _operand_name(left, model), _operand_name(right, model)
    return (
        left_name is not None
        and right_name is not None
        and derived_field_of(model, left_name, node.comparator, right_name) is not None
    )


# -- the builder ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sql:
    text: str
    kind: Kind


@dataclass(eq=False)
class _Scope:
    """One FROM clause: a root table (the queried model, or the related table of an EXISTS
    subquery) and the many-to-one LEFT JOINs made from it, keyed by relationship path."""

    root_path: tuple[str, ...]
    model: ObjectModel
    alias: str
    parent: _Scope | None
    joins: list[str] = field(default_factory=list)
    tables: dict[tuple[str, ...], tuple[str, ObjectModel]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tables[self.root_path] = (self.alias, self.model)

    def chain(self) -> Iterator[_Scope]:
        scope: _Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent


@dataclass(frozen=True)
class _Crossing:
    """A path that follows a one-to-many relationship: allowed only in a filter, where it means
    "some related row satisfies the condition" (an EXISTS subquery)."""

    owner: _Scope
    anchor: tuple[str, ...]
    source: str
    target_model: ObjectModel
    target_field: str


class _Parameters:
    def __init__(self, client_id: str) -> None:
        self.values: list[object] = [client_id]
        self._time_zone: str | None = None

    def add(self, value: object, kind: Kind | str) -> str:
        self.values.append(value)
        sql_type = kind.value if isinstance(kind, Kind) else kind
        return f"${len(self.values)}::{sql_type}"

    def time_zone(self, name: str) -> str:
        if self._time_zone is None:
            self._time_zone = self.add(name, Kind.TEXT)
        return self._time_zone


CLIENT = "$1"


class _Builder:
    def __init__(
        self,
        models: Mapping[str, ObjectModel],
        client_id: str,
        zone_info: zoneinfo.ZoneInfo,
        time_zone: str,
        field_prefix: str,
    ) -> None:
        self._models = models
        self._params = _Parameters(client_id)
        self._zone = zone_info
        self._time_zone = time_zone
        self._prefix = field_prefix
        self._aliases = itertools.count(1)
        self._lookup_joins = False
        # Per lookup join: the name of the WITH query holding the span of the client's related
        # rows, and the related table and its time column.
        self._spans: dict[str, tuple[str, str]] = {}

    def _invalid(self, where: str, description: str) -> InvalidArgument:
        return InvalidArgument.for_field(f"{self._prefix}{where}", description)

    # -- the statement ------------------------------------------------------------------------

    def statement(
        self, query: q.AggregateQuery, max_groups: int, allow_rollups: bool, row_limit: int
    ) -> Statement:
        model = self._models.get(query.object_model_code)
        if model is None:
            raise self._invalid(
                "object_model_code", f"unknown object model {query.object_model_code!r}"
            )
        self._check_measures(query)
        if max_groups < 0:
            raise self._invalid("max_groups", "must not be negative")
        time_field = query.time_field or model.time_field
        time_spec = model.field(time_field)
        if time_spec is None or not KIND_OF_FIELD[time_spec.type].is_temporal:
            raise self._invalid(
                "time_field", f"{time_field!r} is not a timestamp or date field of {model.code}"
            )
        whole = rollup_refusal(query, model, time_field, self._time_zone, allow_rollups)
        # A query the rollups answer whole (distinct dates included) needs nothing apart.
        apart = [] if whole is None else [
            m for m in query.measures if _counts_distinct_apart(query, m)
        ]
        # Distinct counts counted apart read the raw rows in their own subquery whatever the
        # rest of the statement reads, so only the other measures decide about the rollup.
        rest = dataclasses.replace(
            query, measures=tuple(m for m in query.measures if m not in apart)
        )
        refusal = rollup_refusal(rest, model, time_field, self._time_zone, allow_rollups)
        span = query.time_range.end - query.time_range.start
        self._lookup_joins = span <= LOOKUP_JOIN_MAX_SPAN
        rollup = refusal is None
        scope = _Scope((), model, "t", None)
        hourly = rollup and self._whole_hours(query)
        suffix = (HOUR_ROLLUP_SUFFIX if hourly else ROLLUP_SUFFIX) if rollup else ""
        table = table_name(model, suffix)
        time_column = f"t.{quote_identifier(ROLLUP_TIME_COLUMN if rollup else time_field)}"
        time_kind = Kind.TIMESTAMP if rollup else KIND_OF_FIELD[time_spec.type]

        columns: list[str] = []
        bucket_joins: list[str] = []
        if query.bucket is not None:
            moment = self._as_timestamptz(_Sql(time_column, time_kind))
            bucket = self._bucket(moment, query)
            if span > BUCKET_SERIES_MIN_SPAN:
                series = self._bucket_series(query)
                bucket_joins.append(f"JOIN {series} AS buckets(start) ON buckets.start = {bucket}")
                bucket = "buckets.start"
            columns.append(f"{bucket} AS bucket_start")
        for index, dimension in enumerate(query.group_by):
            ref = self._column(dimension.field, scope, f"group_by[{index}].field")
            columns.append(f"{ref.text} AS d{index}")
        group_count = len(columns)
        columns.append(
            f"coalesce(sum(t.{ROLLUP_ROW_COUNT_COLUMN}), 0)::bigint AS row_count"
            if rollup
            else "count(*) AS row_count"
        )
        counted_apart: list[tuple[int, str]] = []
        for index, measure in enumerate(query.measures):
            where = f"measures[{index}]"
            if measure in apart:
                raw_rows = (model, time_field, KIND_OF_FIELD[time_spec.type])
                counted_apart.append(
                    (index, self._distinct_count_apart(query, measure, raw_rows, where))
                )
                continue
            aggregate = (
                self._rollup_measure(measure, scope, where)
                if rollup
                else self._raw_measure(measure, scope, where)
            )
            columns.append(f"{aggregate} AS m{index}")

        conditions = [f"t.client_id = {CLIENT}", *self._time_range(query, time_column, time_kind)]
        if query.row_filter is not None:
            conditions.append(self._filter(query.row_filter, scope, "row_filter"))

        positions = ", ".join(str(n) for n in range(1, group_count + 1))
        sql = "\n".join(
            [
                "SELECT " + ",\n       ".join(columns),
                f"FROM {table} AS t",
                *scope.joins,
                *bucket_joins,
                "WHERE " + "\n  AND ".join(conditions),
                *([f"GROUP BY {positions}"] if group_count else []),
            ]
        )
        if counted_apart:
            sql = _with_counts_apart(sql, counted_apart)
        applies_max_groups = max_groups > 0 and bool(query.group_by)
        if applies_max_groups:
            sql = self._keep_largest_groups(sql, query, max_groups)
        ordering = ["bucket_start"] if query.bucket is not None else []
        ordering += [f"d{index}" for index in range(len(query.group_by))]
        if ordering:
            sql += "\nORDER BY " + ", ".join(ordering)
        sql += f"\nLIMIT {self._params.add(row_limit + 1, Kind.INTEGER)}"
        if self._spans:
            sql = self._with_spans(sql)
        return Statement(
            sql=sql,
            params=tuple(self._params.values),
            used_rollups=rollup,
            rollup_level=("hour" if hourly else "minute") if rollup else None,
            rollup_refusal=refusal,
            bucketed=query.bucket is not None,
            dimension_names=tuple(d.name for d in query.group_by),
            measure_ids=tuple(m.measure_id for m in query.measures),
            max_groups=max_groups if applies_max_groups else 0,
            row_limit=row_limit,
        )

    def _check_measures(self, query: q.AggregateQuery) -> None:
        if not query.measures:
            raise self._invalid("measures", "at least one measure is required")
        seen: set[str] = set()
        for index, measure in enumerate(query.measures):
            if not measure.measure_id or measure.measure_id in seen:
                raise self._invalid(
                    f"measures[{index}].measure_id", "must be set and unique within the query"
                )
            seen.add(measure.measure_id)
        names = [dimension.name for dimension in query.group_by]
        if len(set(names)) != len(names) or "" in names:
            raise self._invalid("group_by", "dimension names must be set and unique")

    def _keep_largest_groups(self, grouped: str, query: q.AggregateQuery, max_groups: int) -> str:
        partition = "PARTITION BY g.bucket_start " if query.bucket is not None else ""
        tie_break = ", ".join(f"g.d{index}" for index in range(len(query.group_by)))
        limit = self._params.add(max_groups, Kind.INTEGER)
        return (
            "SELECT * FROM (\n"
            "  SELECT g.*,\n"
            f"         row_number() OVER ({partition}ORDER BY g.row_count DESC, {tie_break})"
            " AS group_rank,\n"
            f"         count(*) OVER ({partition.strip()}) AS group_total\n"
            f"  FROM (\n{grouped}\n  ) AS g\n"
            f") AS ranked\nWHERE ranked.group_rank <= {limit}"
        )

    # -- time -----------------------------------------------------------------------------------

    def _as_timestamptz(self, moment: _Sql) -> str:
        if moment.kind is Kind.DATE:
            # A date stands for its midnight in the request's zone.
            return (
                f"({moment.text}::timestamp AT TIME ZONE {self._params.time_zone(self._time_zone)})"
            )
        return moment.text

    def _bucket(self, moment: str, query: q.AggregateQuery) -> str:
        assert query.bucket is not None
        if query.bucket in _FIXED_BUCKETS:
            local_start = query.time_range.start.astimezone(self._zone)
            origin = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
            origin_param = self._params.add(origin, Kind.TIMESTAMP)
            return f"date_bin(interval '{_FIXED_BUCKETS[query.bucket]}', {moment}, {origin_param})"
        if query.bucket in _UTC_BINS and self._time_zone in _UTC_ZONES:
            # In UTC every day and week has one length, so plain arithmetic binning gives the
            # buckets date_trunc would, without its zone conversion per row (which costs about
            # as much as the rest of a year-long scan).
            return f"date_bin(interval '{_UTC_BINS[query.bucket]}', {moment}, {_MONDAY_ORIGIN})"
        # date_trunc(unit, timestamptz, zone) truncates the local time in `zone` and converts it
        # back, so days, weeks (ISO: starting Monday) and months follow the request's calendar.
        tz = self._params.time_zone(self._time_zone)
        return f"date_trunc('{_CALENDAR_BUCKETS[query.bucket]}', {moment}, {tz})"

    def _whole_hours(self, query: q.AggregateQuery) -> bool:
        """Whether the range and every bucket boundary in it fall on whole UTC hours, so the
        hour rollup holds exactly the rows of each bucket. Zones offset by whole hours make day,
        week and month boundaries whole hours (checked at every local midnight of the range,
        since a DST change may alter the offset); minute buckets never are."""
        start, end = query.time_range.start, query.time_range.end
        if any(moment.astimezone(datetime.UTC).minute for moment in (start, end)):
            return False
        if query.bucket is None:
            return True
        if query.bucket is q.Period.MINUTE:
            return False
        first_day = start.astimezone(self._zone).date()
        days = (end.astimezone(self._zone).date() - first_day).days
        return all(
            _whole_hour_offset(
                datetime.datetime.combine(
                    first_day + datetime.timedelta(days=day), datetime.time(), self._zone
                )
            )
            for day in range(days + 1)
        )

    def _bucket_series(self, query: q.AggregateQuery) -> str:
        """Every bucket start of the range, in the zone's calendar: from the bucket holding the
        range's start up to the range's end (a bucket starting at the end holds no row)."""
        assert query.bucket is not None
        start = self._params.add(query.time_range.start, Kind.TIMESTAMP)
        end = self._params.add(query.time_range.end, Kind.TIMESTAMP)
        first = self._bucket(start, query)
        if query.bucket in _FIXED_BUCKETS:
            return f"generate_series({first}, {end}, interval '{_FIXED_BUCKETS[query.bucket]}')"
        if query.bucket in _UTC_BINS and self._time_zone in _UTC_ZONES:
            return f"generate_series({first}, {end}, interval '{_UTC_BINS[query.bucket]}')"
        # Stepping in the zone's calendar keeps each start on a local midnight across DST.
        tz = self._params.time_zone(self._time_zone)
        step = f"interval '1 {_CALENDAR_BUCKETS[query.bucket]}'"
        return f"generate_series({first}, {end}, {step}, {tz})"

    def _time_range(self, query: q.AggregateQuery, column: str, kind: Kind) -> list[str]:
        start, end = query.time_range.start, query.time_range.end
        if kind is Kind.DATE:
            # Compare dates with dates (keeps the column's index and partitions usable): a date
            # is in [start, end) when its local midnight is.
            low = self._params.add(self._first_date_at_or_after(start), Kind.DATE)
            high = self._params.add(self._first_date_at_or_after(end), Kind.DATE)
        else:
            low = self._params.add(start, Kind.TIMESTAMP)
            high = self._params.add(end, Kind.TIMESTAMP)
        return [f"{column} >= {low}", f"{column} < {high}"]

    def _first_date_at_or_after(self, moment: datetime.datetime) -> datetime.date:
        day = moment.astimezone(self._zone).date()
        if datetime.datetime.combine(day, datetime.time(), self._zone) < moment:
            day += datetime.timedelta(days=1)
        return day

    # -- measures -------------------------------------------------------------------------------

    def _raw_measure(self, measure: q.Measure, scope: _Scope, where: str) -> str:
        function = measure.function
        argument: _Sql | None = None
        if measure.argument is not None:
            argument = self._expression(measure.argument, scope, f"{where}.argument")
        elif function is not q.AggregateFunction.COUNT:
            raise self._invalid(f"{where}.argument", f"{function.value} needs an argument")
        assert argument is not None or function is q.AggregateFunction.COUNT
        if function in (
            q.AggregateFunction.SUM,
            q.AggregateFunction.AVG,
            q.AggregateFunction.MIN,
            q.AggregateFunction.MAX,
            q.AggregateFunction.PERCENTILE,
        ) and (argument is None or not argument.kind.is_numeric):
            raise self._invalid(f"{where}.argument", f"{function.value} needs a numeric argument")
        duration = derived_duration_of(measure.argument, scope.model)
        if duration is not None and function in (q.AggregateFunction.SUM, q.AggregateFunction.AVG):
            # The stored seconds, divided once per bucket: the very arithmetic of the rollups,
            # so raw rows and rollups agree to the last digit.
            column = f"{scope.alias}.{quote_identifier(duration.name)}"
            divisor = _SECONDS_PER_UNIT[_duration_unit(measure.argument)]
            filtered = self._aggregate_filter(measure, scope, where)
            return f"{function.value}({column}){filtered} / {divisor}"
        if function is q.AggregateFunction.COUNT:
            text = "count(*)" if argument is None else f"count({argument.text})"
        elif function is q.AggregateFunction.COUNT_DISTINCT:
            assert argument is not None
            text = f"count(DISTINCT {argument.text})"
        elif function is q.AggregateFunction.PERCENTILE:
            assert argument is not None
            fraction = measure.percentile
            if fraction is None or not 0.0 <= fraction <= 1.0 or math.isnan(fraction):
                raise self._invalid(f"{where}.percentile", "must be a fraction in [0, 1]")
            p = self._params.add(fraction, "double precision")
            text = (
                f"percentile_cont({p}) WITHIN GROUP (ORDER BY ({argument.text})::double precision)"
            )
        else:
            assert argument is not None
            text = f"{function.value}({argument.text})"
        return text + self._aggregate_filter(measure, scope, where)

    def _distinct_count_apart(
        self,
        query: q.AggregateQuery,
        measure: q.Measure,
        rows: tuple[ObjectModel, str, Kind],
        where: str,
    ) -> str:
        """The COUNT_DISTINCT of a total as a subquery of its own giving `value_count`: the
        distinct values found by hashing (GROUP BY, in parallel workers), then counted.
        `count(DISTINCT x)` sorts every row of the range in one process instead, since an
        aggregate with DISTINCT is never hashed (a year of orders: 300 ms against 45 ms). The
        subquery reads the rows the statement reads: the raw table (even when the rest is read
        from the rollup), client, time range and row filter, plus the measure's filter and
        `x IS NOT NULL` (count(DISTINCT x) ignores absent values). Its root alias is `t` too,
        which inside the subquery means its own table."""
        model, time_field, time_kind = rows
        scope = _Scope((), model, "t", None)
        assert measure.argument is not None
        value = self._expression(measure.argument, scope, f"{where}.argument")
        time_column = f"t.{quote_identifier(time_field)}"
        conditions = [
            f"t.client_id = {CLIENT}",
            *self._time_range(query, time_column, time_kind),
            f"({value.text}) IS NOT NULL",
        ]
        if query.row_filter is not None:
            conditions.append(self._filter(query.row_filter, scope, "row_filter"))
        if measure.filter is not None:
            conditions.append(self._filter(measure.filter, scope, f"{where}.filter"))
        values = " ".join(
            [
                f"SELECT {value.text} AS value FROM {table_name(model)} AS t",
                *scope.joins,
                "WHERE " + " AND ".join(conditions),
                "GROUP BY 1",
            ]
        )
        return f"SELECT count(*) AS value_count FROM ({values}) AS distinct_values"

    def _rollup_measure(self, measure: q.Measure, scope: _Scope, where: str) -> str:
        # Only reached for measures rollup_refusal accepted.
        condition = self._aggregate_filter(measure, scope, where)
        count = f"sum(t.{ROLLUP_ROW_COUNT_COLUMN}){condition}"
        if measure.function is q.AggregateFunction.COUNT:
            return f"coalesce({count}, 0)::bigint"
        if measure.function is q.AggregateFunction.COUNT_DISTINCT:
            # The distinct dates of a date-placed model (see _measure_refusal).
            return f"count(DISTINCT t.{ROLLUP_TIME_COLUMN}){condition}"
        duration = derived_duration_of(measure.argument, scope.model)
        if duration is not None:
            divisor = _SECONDS_PER_UNIT[_duration_unit(measure.argument)]
            seconds = f"sum(t.{quote_identifier(ROLLUP_SUM_PREFIX + duration.name)}){condition}"
            having = f"sum(t.{quote_identifier(ROLLUP_COUNT_PREFIX + duration.name)}){condition}"
            if measure.function is q.AggregateFunction.SUM:
                # No row with a duration: no sum (as SUM over raw rows gives).
                return f"(CASE WHEN {having} > 0 THEN {seconds} END) / {divisor}"
            return f"{seconds} / NULLIF({having}, 0) / {divisor}"
        assert isinstance(measure.argument, q.FieldRef)
        total = f"sum(t.{quote_identifier(ROLLUP_SUM_PREFIX + measure.argument.field)}){condition}"
        if measure.function is q.AggregateFunction.SUM:
            return total
        return f"{total} / NULLIF({count}, 0)"

    def _aggregate_filter(self, measure: q.Measure, scope: _Scope, where: str) -> str:
        if measure.filter is None:
            return ""
        return f" FILTER (WHERE {self._filter(measure.filter, scope, f'{where}.filter')})"

    # -- row expressions ------------------------------------------------------------------------

    def _expression(
        self, node: q.RowExpression, scope: _Scope, where: str, expected: Kind | None = None
    ) -> _Sql:
        if isinstance(node, q.FieldRef):
            return self._column(node, scope, where)
        if isinstance(node, q.Literal):
            return self._literal(node.value, expected, where)
        if isinstance(node, q.Duration):
            first = self._temporal_column(node.start, scope, f"{where}.start")
            last = self._temporal_column(node.end, scope, f"{where}.end")
            if first.kind is last.kind is Kind.DATE:
                # Whole calendar days, in every zone (as a stored derived duration between two
                # dates is): their local midnights are a DST hour apart across a switch.
                seconds = f"(({last.text} - {first.text}) * 86400)::numeric"
            else:
                start, end = self._as_timestamptz(first), self._as_timestamptz(last)
                seconds = f"extract(epoch from ({end} - {start}))"
            divisor = _SECONDS_PER_UNIT[node.unit]
            return _Sql(seconds if divisor == 1 else f"({seconds} / {divisor})", Kind.NUMERIC)
        left = self._expression(node.left, scope, f"{where}.left", Kind.NUMERIC)
        right = self._expression(node.right, scope, f"{where}.right", Kind.NUMERIC)
        for side, name in ((left, "left"), (right, "right")):
            if not side.kind.is_numeric:
                raise self._invalid(f"{where}.{name}", "arithmetic needs numeric operands")
        if node.operator is q.ArithmeticOperator.DIVIDE:
            # numeric, not bigint, division (7 / 2 is 3.5), and a zero divisor gives no value.
            return _Sql(
                f"(({left.text})::numeric / NULLIF(({right.text})::numeric, 0))", Kind.NUMERIC
            )
        kind = Kind.INTEGER if left.kind is right.kind is Kind.INTEGER else Kind.NUMERIC
        return _Sql(f"({left.text} {_OPERATORS[node.operator]} {right.text})", kind)

    def _temporal_column(self, ref: q.FieldRef, scope: _Scope, where: str) -> _Sql:
        column = self._column(ref, scope, where)
        if not column.kind.is_temporal:
            raise self._invalid(where, f"{ref.field!r} is not a timestamp or date field")
        return column

    def _literal(self, value: q.Scalar, expected: Kind | None, where: str) -> _Sql:
        coerced, kind = self._coerce(value, expected, where)
        return _Sql(self._params.add(coerced, kind), kind)

    def _coerce(self, value: q.Scalar, expected: Kind | None, where: str) -> tuple[q.Scalar, Kind]:
        """The literal as the Python value asyncpg sends for the SQL type it is compared with
        (or, with nothing to compare with, for its own type)."""
        if value is None:
            return None, expected or Kind.TEXT
        if isinstance(value, bool):
            if expected in (None, Kind.BOOLEAN):
                return value, Kind.BOOLEAN
        elif isinstance(value, int | float | Decimal):
            if expected is None or expected.is_numeric:
                if isinstance(value, int):
                    return value, Kind.INTEGER
                number = Decimal(repr(value)) if isinstance(value, float) else value
                if not number.is_finite():
                    raise self._invalid(where, "must be a finite number")
                return number, Kind.NUMERIC
        elif isinstance(value, str):
            if "\x00" in value:
                raise self._invalid(where, "text must not contain NUL characters")
            if expected in (None, Kind.TEXT):
                return value, Kind.TEXT
            if expected is not None and expected.is_temporal:
                return self._coerce(self._parse_moment(value, where), expected, where)
        elif isinstance(value, datetime.datetime):
            if expected is None or expected.is_temporal:
                if value.utcoffset() is None:
                    raise self._invalid(where, "a timestamp literal needs a UTC offset")
                return value, Kind.TIMESTAMP
        elif expected in (None, Kind.DATE):
            return value, Kind.DATE
        elif expected is Kind.TIMESTAMP:
            # A date compared with an instant stands for its midnight in the request's zone.
            return datetime.datetime.combine(value, datetime.time(), self._zone), Kind.TIMESTAMP
        assert expected is not None
        raise self._invalid(where, f"{value!r} cannot be compared with a {expected.value} value")

    def _parse_moment(self, text: str, where: str) -> datetime.date:
        try:
            return (
                datetime.datetime.fromisoformat(text)
                if len(text) > 10
                else datetime.date.fromisoformat(text)
            )
        except ValueError:
            raise self._invalid(where, f"{text!r} is not an ISO 8601 date or timestamp") from None

    # -- fields and relationships ---------------------------------------------------------------

    def _column(self, ref: q.FieldRef, scope: _Scope, where: str) -> _Sql:
        if ref.path:
            copy = self._carried_copy(ref, scope, where)
            if copy is not None:
                return copy
        located = self._locate(ref, scope, where)
        if isinstance(located, _Crossing):
            raise self._invalid(
                where,
                f"relationship {located.anchor[-1]!r} is one-to-many: only filters can follow it "
                "(meaning 'some related row'); measures and group-by need many-to-one paths",
            )
        alias, model = located
        spec = model.field(ref.field)
        if spec is None:
            if model.derived_field(ref.field) is not None:
                return _Sql(f"{alias}.{quote_identifier(ref.field)}", Kind.BOOLEAN)
            raise self._invalid(where, f"{model.code} has no field {ref.field!r}")
        return _Sql(f"{alias}.{quote_identifier(spec.name)}", KIND_OF_FIELD[spec.type])

    def _holder_if_carried(self, ref: q.FieldRef, scope: _Scope) -> q.FieldRef:
        """`ref`, or when its row keeps a copy of it, a reference to that row instead (so that
        finding where it is joins nothing the copy makes needless)."""
        if not ref.path:
            return ref
        shorter = q.FieldRef(ref.field, ref.path[:-1])
        holder = self._models.get(self._model_at(shorter.path, scope))
        relationship = holder.relationship(ref.path[-1]) if holder is not None else None
        if relationship is not None and relationship.carried(ref.field) is not None:
            return shorter
        return ref

    def _model_at(self, path: tuple[str, ...], scope: _Scope) -> str:
        """The code of the model reached by `path` from the query's model (no joins made)."""
        root = scope
        while root.parent is not None:
            root = root.parent
        model: ObjectModel | None = root.model
        for name in path:
            relationship = model.relationship(name) if model is not None else None
            if relationship is None:
                return ""
            model = self._models.get(relationship.target_object_model_code)
        return model.code if model is not None else ""

    def _carried_copy(self, ref: q.FieldRef, scope: _Scope, where: str) -> _Sql | None:
        """The row's own copy of a related row's field when the last relationship of `ref`'s
        path carries it (see services.catalog.carried_fields): the same value the join would
        find, read without the join."""
        holder = self._locate(q.FieldRef(ref.field, ref.path[:-1]), scope, where)
        if isinstance(holder, _Crossing):
            return None
        alias, model = holder
        relationship = model.relationship(ref.path[-1])
        carried = relationship.carried(ref.field) if relationship is not None else None
        if relationship is None or carried is None:
            return None
        column = quote_identifier(carried_column(relationship, carried))
        return _Sql(f"{alias}.{column}", KIND_OF_FIELD[carried.type])

    def _locate(
        self, ref: q.FieldRef, scope: _Scope, where: str
    ) -> tuple[str, ObjectModel] | _Crossing:
        """The alias and model holding `ref`'s field, joining many-to-one relationships as
        needed; or where the path first crosses a one-to-many relationship."""
        owner = max(
            (s for s in scope.chain() if ref.path[: len(s.root_path)] == s.root_path),
            key=lambda s: len(s.root_path),
        )
        alias, model = owner.tables[owner.root_path]
        for depth in range(len(owner.root_path), len(ref.path)):
            name = ref.path[depth]
            relationship = model.relationship(name)
            if relationship is None:
                raise self._invalid(where, f"{model.code} has no relationship {name!r}")
            target = self._models.get(relationship.target_object_model_code)
            if target is None:
                raise self._invalid(
                    where, f"relationship {name!r} leads to an unknown object model"
                )
            source = f"{alias}.{quote_identifier(relationship.source_field)}"
            path = ref.path[: depth + 1]
            if relationship.cardinality is Cardinality.ONE_TO_MANY:
                return _Crossing(owner, path, source, target, relationship.target_field)
            if path not in owner.tables:
                # Ingest keeps one row per natural key, so a many-to-one join finds at most one
                # row and never multiplies the rows being aggregated.
                join_alias = f"j{next(self._aliases)}"
                key = quote_identifier(relationship.target_field)
                window = relationship.target_time_window
                if self._lookup_joins and window is not None:
                    owner.joins.append(
                        self._lookup_join(target, key, source, (alias, model), window, join_alias)
                    )
                else:
                    owner.joins.append(
                        f"LEFT JOIN {table_name(target)} AS {join_alias}"
                        f" ON {join_alias}.client_id = {CLIENT} AND {join_alias}.{key} = {source}"
                    )
                owner.tables[path] = (join_alias, target)
            alias, model = owner.tables[path]
        return alias, model

    def _lookup_join(
        self,
        target: ObjectModel,
        key: str,
        source: str,
        row: tuple[str, ObjectModel],
        window: TimeWindow,
        alias: str,
    ) -> str:
        """The many-to-one join of `source` to `target` as a lookup per row: first within the
        window of the row's time where the related row usually is (its time prunes the search
        to a partition or two at run time), and only when that finds nothing, in every
        partition. LIMIT 1 over the two stops at the first that finds the row, so the second
        runs for the few rows whose related row is elsewhere (or missing). At most one related
        row is taken, as the relationship means one.

        Both searches are also kept within the span of the client's related rows (their first
        and last time, read once per statement; the time column is never NULL). That changes
        no answer, but it is known when the searches run, so partitions outside it are pruned:
        a missing related row no longer costs a probe of every partition per row. Streaming
        payments whose invoices were never loaded made each live recomputation probe 29 invoice
        partitions per payment, most of the recomputation's database time. (Only asking whether
        the client has any related row plans faster, but still visits every partition per row.)"""
        row_alias, row_model = row
        moment = f"{row_alias}.{quote_identifier(row_model.time_field)}"
        spec = target.field(target.time_field)
        target_type = "date" if spec is not None and spec.type is FieldType.DATE else "timestamptz"
        time = quote_identifier(target.time_field)
        # A day of slack each side: a date compared with a moment is cut in the session's zone.
        earliest = f"({moment} - interval '{window.days_before + 1} days')::{target_type}"
        latest = f"({moment} + interval '{window.days_after + 1} days')::{target_type}"
        found = f"{alias}_found"
        span = f"{alias}_span"
        self._spans[span] = (table_name(target), time)
        lookup = (
            f"SELECT * FROM {table_name(target)} AS {found}"
            f" WHERE {found}.client_id = {CLIENT} AND {found}.{key} = {source}"
            f" AND {found}.{time} >= (SELECT first_at FROM {span})"
            f" AND {found}.{time} <= (SELECT last_at FROM {span})"
        )
        return (
            f"LEFT JOIN LATERAL (({lookup} AND {found}.{time} >= {earliest}"
            f" AND {found}.{time} <= {latest} LIMIT 1)"
            f" UNION ALL ({lookup} LIMIT 1) LIMIT 1) AS {alias} ON true"
        )

    def _with_spans(self, sql: str) -> str:
        """`sql` with the WITH queries its lookup joins read: the span of the client's related
        rows, computed once (MATERIALIZED) before the lookups run."""
        spans = ",\n     ".join(
            f"{name} AS MATERIALIZED (SELECT min({time}) AS first_at, max({time}) AS last_at"
            f" FROM {table} WHERE client_id = {CLIENT})"
            for name, (table, time) in self._spans.items()
        )
        return f"WITH {spans}\n{sql}"

    # -- filters --------------------------------------------------------------------------------

    def _filter(self, node: q.Filter, scope: _Scope, where: str) -> str:
        if isinstance(node, q.AllOf | q.AnyOf):
            joiner, empty, name = (
                (" AND ", "TRUE", "all_of")
                if isinstance(node, q.AllOf)
                else (" OR ", "FALSE", "any_of")
            )
            parts = [
                self._filter(child, scope, f"{where}.{name}[{index}]")
                for index, child in enumerate(node.filters)
            ]
            return f"({joiner.join(parts)})" if parts else empty
        if isinstance(node, q.Not):
            return f"(NOT {self._filter(node.filter, scope, f'{where}.negation')})"
        if isinstance(node, q.Subtree):
            return self._subtree(node, scope, f"{where}.subtree")
        return self._condition(node, scope, where)

    def _subtree(self, node: q.Subtree, scope: _Scope, where: str) -> str:
        """`field IN (the root and every node below it)`, walking the client's hierarchy rows
        with a recursive query. UNION (not UNION ALL) drops nodes already reached, so a cycle
        in the client's data ends the walk instead of looping."""
        column = self._column(node.field, scope, f"{where}.field")
        hierarchy = self._models.get(node.hierarchy_object_model_code)
        if hierarchy is None:
            raise self._invalid(
                f"{where}.hierarchy_object_model_code",
                f"unknown object model {node.hierarchy_object_model_code!r}",
            )
        kinds = {}
        for name in ("node_field", "parent_field"):
            spec = hierarchy.field(getattr(node, name))
            if spec is None:
                raise self._invalid(
                    f"{where}.{name}", f"{hierarchy.code} has no field {getattr(node, name)!r}"
                )
            kinds[name] = KIND_OF_FIELD[spec.type]
        if not (column.kind is kinds["node_field"] is kinds["parent_field"]):
            raise self._invalid(
                f"{where}.field", "the field, node_field and parent_field must have one type"
            )
        root = self._literal(node.root, column.kind, f"{where}.root")
        node_column = quote_identifier(node.node_field)
        parent_column = quote_identifier(node.parent_field)
        alias = f"h{next(self._aliases)}"
        walk = (
            f"WITH RECURSIVE subtree(node) AS (SELECT {root.text}"
            f" UNION SELECT {alias}.{node_column} FROM {table_name(hierarchy)} AS {alias}"
            f" JOIN subtree ON {alias}.{parent_column} = subtree.node"
            f" WHERE {alias}.client_id = {CLIENT})"
            " SELECT node FROM subtree"
        )
        if not node.include_root:
            walk += f" WHERE node <> {root.text}"
        return f"({column.text} IN ({walk}))"

    def _condition(self, node: _Condition, scope: _Scope, where: str) -> str:
        """A leaf of the filter tree. When its fields cross a one-to-many relationship, it
        becomes EXISTS over the related rows (correlated to the row at hand), with the whole
        leaf evaluated against one related row: "some shipment is late", not "some shipment
        exists and the lateness of some possibly other one"."""
        for ref in _field_refs(node):
            located = self._locate(self._holder_if_carried(ref, scope), scope, where)
            if isinstance(located, _Crossing):
                alias = f"x{next(self._aliases)}"
                child = _Scope(located.anchor, located.target_model, alias, scope)
                inner = self._condition(node, child, where)
                return (
                    f"EXISTS (SELECT 1 FROM {table_name(located.target_model)} AS {alias}"
                    + "".join(f" {join}" for join in child.joins)
                    + f" WHERE {alias}.client_id = {CLIENT}"
                    f" AND {alias}.{quote_identifier(located.target_field)} = {located.source}"
                    f" AND {inner})"
                )
        if isinstance(node, q.Compare):
            return self._comparison(node, scope, where)
        if isinstance(node, q.IsNull):
            operand = self._expression(node.operand, scope, f"{where}.operand")
            return f"({operand.text} IS NULL)"
        operand = self._expression(node.operand, scope, f"{where}.operand")
        if isinstance(node, q.InList):
            array = self._array(node.values, operand.kind, f"{where}.values")
            return f"({operand.text} = ANY({array}))"
        low = self._literal(node.low, operand.kind, f"{where}.low")
        high = self._literal(node.high, operand.kind, f"{where}.high")
        return f"({operand.text} BETWEEN {low.text} AND {high.text})"

    def _array(self, values: tuple[q.Scalar, ...], expected: Kind, where: str) -> str:
        """One array parameter for an IN list, whatever its length, typed like the operand (or
        widened: integers to numeric when a value is fractional, dates to instants when a value
        is a timestamp)."""
        coerced = [
            self._coerce(value, expected, f"{where}[{index}]") for index, value in enumerate(values)
        ]
        kinds = {kind for value, kind in coerced if value is not None}
        kind = expected
        if Kind.NUMERIC in kinds and expected.is_numeric:
            kind = Kind.NUMERIC
        elif Kind.TIMESTAMP in kinds and expected.is_temporal:
            kind = Kind.TIMESTAMP
            coerced = [
                (self._coerce(value, Kind.TIMESTAMP, where) if k is Kind.DATE else (value, k))
                for value, k in coerced
            ]
        return self._params.add([value for value, _ in coerced], f"{kind.value}[]")

    def _comparison(self, node: q.Compare, scope: _Scope, where: str) -> str:
        derived = self._derived_column(node, scope, where)
        if derived is not None:
            return f"({derived})"
        # Compile the non-literal side first so a literal takes the type of what it meets.
        if isinstance(node.left, q.Literal) and not isinstance(node.right, q.Literal):
            right = self._expression(node.right, scope, f"{where}.right")
            left = self._expression(node.left, scope, f"{where}.left", right.kind)
        else:
            left = self._expression(node.left, scope, f"{where}.left")
            right = self._expression(node.right, scope, f"{where}.right", left.kind)
        if not left.kind.comparable_with(right.kind):
            raise self._invalid(
                where, f"cannot compare a {left.kind.value} with a {right.kind.value}"
            )
        return f"({left.text} {_COMPARATORS[node.comparator]} {right.text})"

    def _derived_column(self, node: q.Compare, scope: _Scope, where: str) -> str | None:
        """The column of the derived field that holds `node`, when both sides are fields of one
        row (the same table in the statement) whose model declares this comparison."""
        if not (isinstance(node.left, q.FieldRef) and isinstance(node.right, q.FieldRef)):
            return None
        sides = []
        for ref, at in ((node.left, f"{where}.left"), (node.right, f"{where}.right")):
            # A field the row carries a copy of is the row's own operand `relationship.field`.
            holder = self._holder_if_carried(ref, scope)
            located = self._locate(holder, scope, at)
            if isinstance(located, _Crossing):
                return None
            name = ref.field if holder is ref else f"{ref.path[-1]}.{ref.field}"
            sides.append((located, name))
        (left, left_name), (right, right_name) = sides
        if left[0] != right[0]:
            return None
        alias, model = left
        derived = derived_field_of(model, left_name, node.comparator, right_name)
        return None if derived is None else f"{alias}.{quote_identifier(derived.name)}"


def _whole_hour_offset(moment: datetime.datetime) -> bool:
    offset = moment.utcoffset()
    return offset is not None and offset % datetime.timedelta(hours=1) == datetime.timedelta()


def _counts_distinct_apart(query: q.AggregateQuery, measure: q.Measure) -> bool:
    """Whether a COUNT_DISTINCT is computed by its own subquery (see _distinct_count_apart):
    for a total without groups, whose one row the subquery's one value joins. In a series the
    (bucket, value) pairs are about as many as the rows, and the planner (which cannot tell how
    many buckets an expression makes) hashes them in one process: no faster than the scan's
    count(DISTINCT), sorted by bucket and value in parallel (measured on a year of orders per
    day). Grouped, the groups would have to be matched null-safely, which rules out a hash join."""
    return (
        measure.function is q.AggregateFunction.COUNT_DISTINCT
        and measure.argument is not None
        and query.bucket is None
        and not query.group_by
    )


def _with_counts_apart(total: str, counts: list[tuple[int, str]]) -> str:
    """The one row of `total` with the distinct counts counted apart as its measure columns
    `m{index}`: both sides are aggregates without GROUP BY, one row each."""
    columns = ["total.*"]
    joins = []
    for index, subquery in counts:
        alias = f"distinct_m{index}"
        columns.append(f"{alias}.value_count AS m{index}")
        joins.append(f"CROSS JOIN ({subquery}) AS {alias}")
    return "\n".join(["SELECT " + ", ".join(columns), f"FROM (\n{total}\n) AS total", *joins])


def _field_refs(node: _Condition) -> Iterator[q.FieldRef]:
    operands = (node.left, node.right) if isinstance(node, q.Compare) else (node.operand,)
    for operand in operands:
        yield from _expression_refs(operand)


def _expression_refs(node: q.RowExpression) -> Iterator[q.FieldRef]:
    if isinstance(node, q.FieldRef):
        yield node
    elif isinstance(node, q.Duration):
        yield node.start
        yield node.end
    elif isinstance(node, q.Arithmetic):
        yield from _expression_refs(node.left)
        yield from _expression_refs(node.right)
