"""The value expression of a compiled KPI: arithmetic over measure values, and its evaluation.

A KPI's value per bucket (and per group) is this expression evaluated over the measure values
the aggregate queries returned. Nothing here can fail at run time: a division by zero or a
missing measure gives no value, with the reason.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.aggregates.query import ArithmeticOperator


class NoValueReason(enum.StrEnum):
    # A measure the KPI needs has no value (no rows contributed to a sum, avg, min, max, …).
    NO_DATA = "no_data"
    # A denominator was zero; the KPI is undefined there, not infinite.
    DIVISION_BY_ZERO = "division_by_zero"


class CombineMode(enum.StrEnum):
    """How `Combine` joins operands that stand for parts of one aggregate (see compiler)."""

    TOTAL = "total"
    LEAST = "least"
    GREATEST = "greatest"


@dataclass(frozen=True)
class Constant:
    value: float


@dataclass(frozen=True)
class MeasureValue:
    measure_id: str


@dataclass(frozen=True)
class PeriodDays:
    """Length of the bucket (or of the whole range when unbucketed) in days."""


@dataclass(frozen=True)
class Negate:
    operand: ValueExpression


@dataclass(frozen=True)
class Absolute:
    operand: ValueExpression


@dataclass(frozen=True)
class Binary:
    operator: ArithmeticOperator
    left: ValueExpression
    right: ValueExpression


@dataclass(frozen=True)
class Combine:
    """Joins partial aggregates, skipping those without a value; no value when none has one."""

    mode: CombineMode
    operands: tuple[ValueExpression, ...]


ValueExpression = Constant | MeasureValue | PeriodDays | Negate | Absolute | Binary | Combine


@dataclass(frozen=True)
class Evaluation:
    """Either a value or the reason there is none."""

    value: float | None
    reason: NoValueReason | None = None

    @classmethod
    def of(cls, value: float) -> Evaluation:
        return cls(value, None)

    @classmethod
    def none(cls, reason: NoValueReason) -> Evaluation:
        return cls(None, reason)


def evaluate(
    expression: ValueExpression, measures: Mapping[str, float | None], period_days: float
) -> Evaluation:
    """Evaluates left to right: the first operand without a value decides the reason. A measure
    missing from `measures` counts as having no value."""
    match expression:
        case Constant(value=value):
            return Evaluation.of(value)
        case MeasureValue(measure_id=measure_id):
            found = measures.get(measure_id)
            return Evaluation.none(NoValueReason.NO_DATA) if found is None \
                else Evaluation.of(float(found))
        case PeriodDays():
            return Evaluation.of(period_days)
        case Negate(operand=operand) | Absolute(operand=operand):
            inner = evaluate(operand, measures, period_days)
            if inner.value is None:
                return inner
            return Evaluation.of(-inner.value if isinstance(expression, Negate)
                                 else abs(inner.value))
        case Binary(operator=operator, left=left, right=right):
            return _binary(operator, evaluate(left, measures, period_days),
                           evaluate(right, measures, period_days))
        case Combine(mode=mode, operands=operands):
            return _combine(mode, [evaluate(item, measures, period_days) for item in operands])


def _binary(operator: ArithmeticOperator, left: Evaluation, right: Evaluation) -> Evaluation:
    if left.value is None:
        return left
    if right.value is None:
        return right
    match operator:
        case ArithmeticOperator.ADD:
            return Evaluation.of(left.value + right.value)
        case ArithmeticOperator.SUBTRACT:
            return Evaluation.of(left.value - right.value)
        case ArithmeticOperator.MULTIPLY:
            return Evaluation.of(left.value * right.value)
        case ArithmeticOperator.DIVIDE:
            if right.value == 0:
                return Evaluation.none(NoValueReason.DIVISION_BY_ZERO)
            return Evaluation.of(left.value / right.value)


def _combine(mode: CombineMode, parts: list[Evaluation]) -> Evaluation:
    for part in parts:
        if part.reason is NoValueReason.DIVISION_BY_ZERO:
            return part
    present = [part.value for part in parts if part.value is not None]
    if not present:
        return Evaluation.none(NoValueReason.NO_DATA)
    if mode is CombineMode.TOTAL:
        return Evaluation.of(sum(present))
    return Evaluation.of(min(present) if mode is CombineMode.LEAST else max(present))


def measure_ids(expression: ValueExpression) -> frozenset[str]:
    match expression:
        case MeasureValue(measure_id=measure_id):
            return frozenset({measure_id})
        case Negate(operand=operand) | Absolute(operand=operand):
            return measure_ids(operand)
        case Binary(left=left, right=right):
            return measure_ids(left) | measure_ids(right)
        case Combine(operands=operands):
            return frozenset().union(*(measure_ids(item) for item in operands))
        case _:
            return frozenset()


# -- compiled evaluation ----------------------------------------------------------------------
# A dashboard evaluates each KPI's expression once per bucket and group (tens of thousands of
# times); walking the tree with `match` each time dominated the cost. `compile_expression` turns
# the tree into nested closures once, with exactly the semantics of `evaluate`. Internally a
# result is a (value, reason) pair; one Evaluation is built at the end.

_Pair = tuple[float | None, NoValueReason | None]
_Step = Callable[[Mapping[str, float | None], float], _Pair]
_NO_DATA: _Pair = (None, NoValueReason.NO_DATA)
_BY_ZERO: _Pair = (None, NoValueReason.DIVISION_BY_ZERO)


def compile_expression(
    expression: ValueExpression,
) -> Callable[[Mapping[str, float | None], float], Evaluation]:
    step = _compile(expression)

    def run(measures: Mapping[str, float | None], period_days: float) -> Evaluation:
        value, reason = step(measures, period_days)
        return Evaluation(value, reason)

    return run


def _compile(expression: ValueExpression) -> _Step:
    match expression:
        case Constant(value=constant):
            pair: _Pair = (constant, None)
            return lambda measures, days: pair
        case MeasureValue(measure_id=measure_id):

            def measure(measures: Mapping[str, float | None], days: float) -> _Pair:
                found = measures.get(measure_id)
                return _NO_DATA if found is None else (float(found), None)

            return measure
        case PeriodDays():
            return lambda measures, days: (days, None)
        case Negate(operand=operand) | Absolute(operand=operand):
            inner = _compile(operand)
            flip = isinstance(expression, Negate)

            def unary(measures: Mapping[str, float | None], days: float) -> _Pair:
                value, reason = inner(measures, days)
                if value is None:
                    return value, reason
                return (-value if flip else abs(value)), None

            return unary
        case Binary(operator=operator, left=left, right=right):
            return _compile_binary(operator, _compile(left), _compile(right))
        case Combine(mode=mode, operands=operands):
            parts = [_compile(item) for item in operands]

            def combine(measures: Mapping[str, float | None], days: float) -> _Pair:
                result = _combine(
                    mode, [Evaluation(*part(measures, days)) for part in parts]
                )
                return result.value, result.reason

            return combine
    raise TypeError(f"not a value expression: {expression!r}")


def _compile_binary(operator: ArithmeticOperator, left: _Step, right: _Step) -> _Step:
    def binary(measures: Mapping[str, float | None], days: float) -> _Pair:
        a, reason = left(measures, days)
        if a is None:
            return a, reason
        b, reason = right(measures, days)
        if b is None:
            return b, reason
        if operator is ArithmeticOperator.ADD:
            return a + b, None
        if operator is ArithmeticOperator.SUBTRACT:
            return a - b, None
        if operator is ArithmeticOperator.MULTIPLY:
            return a * b, None
        return _BY_ZERO if b == 0 else (a / b, None)

    return binary
