"""The formula syntax tree: immutable nodes, each with the source span it was parsed from.

Spans are excluded from equality, so two trees are equal when they mean the same formula however
it was laid out. The tree is untyped; `validation` gives it meaning against the catalog.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class Span:
    """Source offsets [start, end) and the 1-based line and column of `start`."""

    start: int
    end: int
    line: int
    column: int


NO_SPAN = Span(0, 0, 1, 1)


class AggregateName(enum.StrEnum):
    COUNT = "count"
    COUNT_DISTINCT = "count_distinct"
    SUM = "sum"
    AVG = "avg"
    MIN = "min"
    MAX = "max"
    PERCENTILE = "percentile"


class FunctionName(enum.StrEnum):
    """Scalar functions. Durations are `end - start` in the named unit, fractional."""

    DURATION_SECONDS = "duration_seconds"
    DURATION_MINUTES = "duration_minutes"
    DURATION_HOURS = "duration_hours"
    DURATION_DAYS = "duration_days"
    ABS = "abs"
    PERIOD_DAYS = "period_days"

    @property
    def is_duration(self) -> bool:
        return self.value.startswith("duration_")

    @property
    def arity(self) -> int:
        if self.is_duration:
            return 2
        return 1 if self is FunctionName.ABS else 0


class ArithmeticOperator(enum.StrEnum):
    ADD = "+"
    SUBTRACT = "-"
    MULTIPLY = "*"
    DIVIDE = "/"


class Comparator(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="


class LogicalOperator(enum.StrEnum):
    AND = "and"
    OR = "or"


# -- literals --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberLiteral:
    """Non-negative as parsed (`-2` is a negation), except inside `in (...)` lists."""

    value: Decimal
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class StringLiteral:
    value: str
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class BooleanLiteral:
    value: bool
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class DateLiteral:
    """`date '2025-01-31'`."""

    value: datetime.date
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class TimestampLiteral:
    """`timestamp '2025-01-31T08:00:00Z'`; always carries a UTC offset."""

    value: datetime.datetime
    span: Span = field(default=NO_SPAN, compare=False)


Literal = NumberLiteral | StringLiteral | BooleanLiteral | DateLiteral | TimestampLiteral


# -- references and calls --------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """`ORDER`, `ORDER.status`, `invoice.due_date`, `PAYMENT.invoice.issue_date`: an object
    model, a field or a chain of relationships ending in a field. What each segment is, is
    decided by validation."""

    segments: tuple[str, ...]
    span: Span = field(default=NO_SPAN, compare=False)
    segment_spans: tuple[Span, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Aggregate:
    """`sum(ORDER.order_value where status = 'delivered')`; `fraction` only for percentile."""

    function: AggregateName
    argument: Expression
    condition: Expression | None = None
    fraction: NumberLiteral | None = None
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class FunctionCall:
    function: FunctionName
    arguments: tuple[Expression, ...]
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class KpiReference:
    """`kpi(FIN_DSO)`: the value of another KPI over the same bucket, inlined at compile time."""

    kpi_code: str
    span: Span = field(default=NO_SPAN, compare=False)


# -- operators -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Negation:
    operand: Expression
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Arithmetic:
    operator: ArithmeticOperator
    left: Expression
    right: Expression
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Comparison:
    left: Expression
    comparator: Comparator
    right: Expression
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class InList:
    operand: Expression
    values: tuple[Literal, ...]
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Between:
    """low <= operand <= high (`not between` negates it)."""

    operand: Expression
    low: Expression
    high: Expression
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class IsNull:
    operand: Expression
    negated: bool = False
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Logical:
    operator: LogicalOperator
    left: Expression
    right: Expression
    span: Span = field(default=NO_SPAN, compare=False)


@dataclass(frozen=True)
class Not:
    operand: Expression
    span: Span = field(default=NO_SPAN, compare=False)


Expression = (
    NumberLiteral | StringLiteral | BooleanLiteral | DateLiteral | TimestampLiteral
    | Path | Aggregate | FunctionCall | KpiReference
    | Negation | Arithmetic | Comparison | InList | Between | IsNull | Logical | Not
)


def children(node: Expression) -> tuple[Expression, ...]:
    """The direct sub-expressions of `node`, in source order."""
    match node:
        case Aggregate(argument=argument, condition=condition, fraction=fraction):
            extra = tuple(item for item in (condition, fraction) if item is not None)
            return (argument, *extra)
        case FunctionCall(arguments=arguments):
            return arguments
        case Negation(operand=operand) | Not(operand=operand) | IsNull(operand=operand):
            return (operand,)
        case Arithmetic(left=left, right=right) | Logical(left=left, right=right):
            return (left, right)
        case Comparison(left=left, right=right):
            return (left, right)
        case InList(operand=operand, values=values):
            return (operand, *values)
        case Between(operand=operand, low=low, high=high):
            return (operand, low, high)
        case _:
            return ()


def depth(node: Expression) -> int:
    """Height of the tree, computed without recursion (trees from hostile input can be deep)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children(current))
    return deepest
