"""The value expression of a compiled KPI: arithmetic over measure values, and its evaluation.

A KPI's value per bucket (and per group) is this expression evaluated over the measure values
the aggregate queries returned. Nothing here can fail at run time: a division by zero or a
missing measure gives no value, with the reason.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
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
