"""The aggregate query model, as plain frozen values (no grpc, no SQL).

A query reads one object model over a time range, optionally bucketed, and computes many measures
in one scan. Row expressions (fields, literals, durations, arithmetic) are evaluated per row;
filters select rows; measures aggregate row expressions over the rows their filter keeps.
`wire.py` converts these values to and from `analytics.data.v1` messages.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

Scalar = str | int | float | Decimal | bool | datetime.datetime | datetime.date | None


class Period(enum.StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class AggregateFunction(enum.StrEnum):
    COUNT = "count"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    COUNT_DISTINCT = "count_distinct"
    PERCENTILE = "percentile"


class Comparator(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class DurationUnit(enum.StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"


class ArithmeticOperator(enum.StrEnum):
    ADD = "+"
    SUBTRACT = "-"
    MULTIPLY = "*"
    DIVIDE = "/"


# -- row expressions ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    """A field of the query's object model (`path` empty) or of a related object reached through
    the named relationships, in order (e.g. ("invoice",) then field "due_date")."""

    field: str
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Literal:
    value: Scalar


@dataclass(frozen=True)
class Duration:
    """end - start, in `unit` (fractional); absent when either side is absent."""

    start: FieldRef
    end: FieldRef
    unit: DurationUnit


@dataclass(frozen=True)
class Arithmetic:
    """Row-level arithmetic; a division by zero yields no value for that row."""

    operator: ArithmeticOperator
    left: RowExpression
    right: RowExpression


RowExpression = FieldRef | Literal | Duration | Arithmetic


# -- filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    left: RowExpression
    comparator: Comparator
    right: RowExpression


@dataclass(frozen=True)
class InList:
    operand: RowExpression
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Between:
    """low <= operand <= high."""

    operand: RowExpression
    low: Scalar
    high: Scalar


@dataclass(frozen=True)
class IsNull:
    operand: RowExpression


@dataclass(frozen=True)
class Subtree:
    """Rows whose `field` holds a node of a hierarchy at or below `root` (Dynamic RBAC: a
    manager sees their whole subtree, however deep). The hierarchy is the client's rows of
    `hierarchy_object_model_code`, each naming its parent in `parent_field`."""

    field: FieldRef
    hierarchy_object_model_code: str
    node_field: str
    parent_field: str
    root: Scalar
    include_root: bool = True


@dataclass(frozen=True)
class AllOf:
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class Not:
    filter: Filter


Filter = Compare | InList | Between | IsNull | Subtree | AllOf | AnyOf | Not


# -- the query ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measure:
    """One aggregate. `argument` is None only for COUNT (count rows). SUM/AVG/MIN/MAX/PERCENTILE
    ignore rows where the argument is absent, as SQL does."""

    measure_id: str
    function: AggregateFunction
    argument: RowExpression | None = None
    filter: Filter | None = None
    percentile: float | None = None


@dataclass(frozen=True)
class Dimension:
    name: str
    field: FieldRef


@dataclass(frozen=True)
class TimeRange:
    """[start, end), timezone-aware."""

    start: datetime.datetime
    end: datetime.datetime


@dataclass(frozen=True)
class AggregateQuery:
    query_id: str
    object_model_code: str
    time_range: TimeRange
    measures: tuple[Measure, ...]
    # None: one row for the whole range. Buckets follow `time_zone` of the request.
    bucket: Period | None = None
    group_by: tuple[Dimension, ...] = ()
    # Extra row filter applied to every measure (e.g. row security from the caller's claims).
    row_filter: Filter | None = None
    # The object model's time field by default.
    time_field: str = ""


@dataclass(frozen=True)
class AggregateRow:
    # None when the query is not bucketed.
    bucket_start: datetime.datetime | None
    dimensions: dict[str, Scalar]
    # measure_id -> value; None when no row contributed (SQL NULL).
    measures: dict[str, float | None]
    row_count: int


@dataclass(frozen=True)
class AggregateResult:
    query_id: str
    rows: tuple[AggregateRow, ...]
    data_version: int = 0
    watermark: datetime.datetime | None = None
    used_rollups: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class AggregateColumns:
    """The rows of a result as columns: entry i of every column belongs to row i. The form a
    caller that evaluates whole series reads, without an object per row."""

    # Bucket starts in microseconds since the Unix epoch (UTC); empty when not bucketed.
    bucket_starts: Sequence[int]
    row_counts: Sequence[int]
    # measure_id -> one value per row; None when no row contributed (SQL NULL).
    measures: Mapping[str, Sequence[float | None]]
    # dimension name -> one value per row.
    dimensions: Mapping[str, Sequence[Scalar]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.row_counts)


@dataclass(frozen=True)
class ColumnarResult:
    """An AggregateResult whose rows come as columns."""

    query_id: str
    columns: AggregateColumns
    data_version: int = 0
    watermark: datetime.datetime | None = None
    used_rollups: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class AggregateRequest:
    client_id: str
    queries: tuple[AggregateQuery, ...]
    time_zone: str = "UTC"
    extra: dict[str, str] = field(default_factory=dict)
