"""A value expression evaluated over whole series at once.

`compile_columns` turns a KPI's value expression into a function over columns — one entry per
bucket — with exactly the per-point semantics of `values.compile_expression`: the first operand
without a value decides the reason, a zero denominator gives DIVISION_BY_ZERO, `Combine` skips
parts without a value. A series of 1,440 buckets then costs a few list passes per operator
instead of 1,440 calls through nested closures.

A column entry is a float, or the NoValueReason it has none (the two never go together). A column
also says whether it is complete (every entry a float), which lets an operator run as one
`map` over the columns instead of checking each pair.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Protocol

from services.aggregates.query import ArithmeticOperator
from services.calculation.formula.values import (
    Absolute,
    Binary,
    Combine,
    CombineMode,
    Constant,
    MeasureValue,
    Negate,
    NoValueReason,
    PeriodDays,
    ValueExpression,
)

Entry = float | NoValueReason
# The entries, and True when every one is a float.
Column = tuple[list[Entry], bool]

_NO_DATA = NoValueReason.NO_DATA
_BY_ZERO = NoValueReason.DIVISION_BY_ZERO


class SeriesInputs(Protocol):
    """What an expression reads, aligned on the series' buckets."""

    def __len__(self) -> int: ...

    def measure(self, measure_id: str) -> Column:
        """The measure's entries (a missing value is NO_DATA); all NO_DATA when unknown."""
        ...

    def period_days(self) -> Sequence[float]:
        """Each bucket's length in days, clipped to the requested range."""
        ...


ColumnEvaluator = Callable[[SeriesInputs], Column]
_Step = Callable[[SeriesInputs], Column]


def measure_column(values: Sequence[float | None]) -> Column:
    """A measure's values as a column: None becomes NO_DATA, numbers become floats."""
    if None in values:
        return [
            value if value.__class__ is float else _NO_DATA if value is None else float(value)
            for value in values
        ], False
    return list(map(float, values)), True  # type: ignore[arg-type]  # no None left


def compile_columns(expression: ValueExpression) -> ColumnEvaluator:
    """The expression as a function from its inputs to its column (entries, complete)."""
    return _compile(expression)


def _compile(expression: ValueExpression) -> _Step:
    match expression:
        case Constant(value=constant):
            number = float(constant)
            return lambda inputs: ([number] * len(inputs), True)
        case MeasureValue(measure_id=measure_id):
            return lambda inputs: inputs.measure(measure_id)
        case PeriodDays():
            return lambda inputs: (list(map(float, inputs.period_days())), True)
        case Negate(operand=operand):
            return _compile_unary(_compile(operand), operator.neg)
        case Absolute(operand=operand):
            return _compile_unary(_compile(operand), abs)
        case Binary(operator=arithmetic, left=left, right=right):
            return _compile_binary(arithmetic, _compile(left), _compile(right))
        case Combine(mode=mode, operands=operands):
            return _compile_combine(mode, [_compile(item) for item in operands])
    raise TypeError(f"not a value expression: {expression!r}")


def _compile_unary(inner: _Step, apply: Callable[[float], float]) -> _Step:
    def unary(inputs: SeriesInputs) -> Column:
        entries, complete = inner(inputs)
        if complete:
            return list(map(apply, entries)), True  # type: ignore[arg-type]  # all floats
        return [apply(entry) if entry.__class__ is float else entry for entry in entries], False

    return unary


_OPERATIONS: dict[ArithmeticOperator, Callable[[float, float], float]] = {
    ArithmeticOperator.ADD: operator.add,
    ArithmeticOperator.SUBTRACT: operator.sub,
    ArithmeticOperator.MULTIPLY: operator.mul,
    ArithmeticOperator.DIVIDE: operator.truediv,
}


def _compile_binary(arithmetic: ArithmeticOperator, left: _Step, right: _Step) -> _Step:
    operation = _OPERATIONS[arithmetic]
    divide = arithmetic is ArithmeticOperator.DIVIDE
    with_gaps = _WITH_GAPS[arithmetic]

    def binary(inputs: SeriesInputs) -> Column:
        a, a_complete = left(inputs)
        b, b_complete = right(inputs)
        if a_complete and b_complete and not (divide and 0.0 in b):
            return list(map(operation, a, b)), True  # type: ignore[arg-type]  # all floats
        return with_gaps(a, b), False

    return binary


# Per operator, over columns with entries without a value: the left one's reason first, then the
# right one's. Spelled out per operator, as calling the operation per entry costs as much again.


def _add(a: list[Entry], b: list[Entry]) -> list[Entry]:
    return [
        x if x.__class__ is not float else y if y.__class__ is not float else x + y
        for x, y in zip(a, b, strict=True)
    ]


def _subtract(a: list[Entry], b: list[Entry]) -> list[Entry]:
    return [
        x if x.__class__ is not float else y if y.__class__ is not float else x - y
        for x, y in zip(a, b, strict=True)
    ]


def _multiply(a: list[Entry], b: list[Entry]) -> list[Entry]:
    return [
        x if x.__class__ is not float else y if y.__class__ is not float else x * y
        for x, y in zip(a, b, strict=True)
    ]


def _divide(a: list[Entry], b: list[Entry]) -> list[Entry]:
    return [
        x
        if x.__class__ is not float
        else y
        if y.__class__ is not float
        else (x / y if y != 0 else _BY_ZERO)
        for x, y in zip(a, b, strict=True)
    ]


_WITH_GAPS: dict[ArithmeticOperator, Callable[[list[Entry], list[Entry]], list[Entry]]] = {
    ArithmeticOperator.ADD: _add,
    ArithmeticOperator.SUBTRACT: _subtract,
    ArithmeticOperator.MULTIPLY: _multiply,
    ArithmeticOperator.DIVIDE: _divide,
}


_PICK: dict[CombineMode, Callable[[Sequence[float]], float]] = {
    CombineMode.TOTAL: sum,
    CombineMode.LEAST: min,
    CombineMode.GREATEST: max,
}


def _compile_combine(mode: CombineMode, parts: list[_Step]) -> _Step:
    pick = _PICK[mode]

    def point(entries: tuple[Entry, ...]) -> Entry:
        if _BY_ZERO in entries:
            return _BY_ZERO
        present = [entry for entry in entries if entry.__class__ is float]
        return pick(present) if present else _NO_DATA

    def combine(inputs: SeriesInputs) -> Column:
        if not parts:
            return [_NO_DATA] * len(inputs), False
        columns = [part(inputs) for part in parts]
        rows = zip(*(entries for entries, _ in columns), strict=True)
        if all(complete for _, complete in columns):
            return list(map(pick, rows)), True
        return list(map(point, rows)), False

    return combine
