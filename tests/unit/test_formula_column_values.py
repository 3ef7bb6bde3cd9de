"""The column evaluator gives, at every bucket, exactly what the per-point evaluator gives: the
same value (bit for bit) or the same reason there is none — on random expressions over random
columns full of missing values and zeros, and on every catalog KPI."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from services.aggregates.query import ArithmeticOperator
from services.calculation.formula.column_values import (
    Column,
    compile_columns,
    measure_column,
)
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi
from services.calculation.formula.values import (
    Absolute,
    Binary,
    Combine,
    CombineMode,
    Constant,
    Evaluation,
    MeasureValue,
    Negate,
    NoValueReason,
    PeriodDays,
    ValueExpression,
    compile_expression,
    measure_ids,
)
from services.catalog.catalog_files import load_catalog_files

IDS = ("a", "b", "c")


class Columns:
    """SeriesInputs over plain lists (a measure absent from `values` is all NO_DATA)."""

    def __init__(self, values: dict[str, list[float | None]], days: list[float]) -> None:
        self.values = values
        self.days = days

    def __len__(self) -> int:
        return len(self.days)

    def measure(self, measure_id: str) -> Column:
        return measure_column(self.values.get(measure_id, [None] * len(self.days)))

    def period_days(self) -> Sequence[float]:
        return self.days


def same(column_entry: float | NoValueReason, point: Evaluation) -> bool:
    if isinstance(column_entry, NoValueReason):
        return point.value is None and point.reason is column_entry
    assert point.value is not None, (column_entry, point)
    if math.isnan(column_entry):
        return math.isnan(point.value)
    # Bit for bit: 0.0 and -0.0 differ.
    return (
        point.reason is None
        and math.copysign(1, column_entry) == math.copysign(1, point.value)
        and column_entry == point.value
    )


def check(expression: ValueExpression, columns: Columns) -> None:
    per_point = compile_expression(expression)
    entries, complete = compile_columns(expression)(columns)
    assert len(entries) == len(columns)
    # A column said to be complete has a value everywhere.
    assert not complete or all(isinstance(entry, float) for entry in entries)
    for index, entry in enumerate(entries):
        measures = {name: values[index] for name, values in columns.values.items()}
        expected = per_point(measures, columns.days[index])
        assert same(entry, expected), (expression, index, entry, expected)


numbers = st.sampled_from([0.0, -0.0, 1.0, -2.5, 3.0, 1e-300, 1e300])
expressions = st.recursive(
    st.one_of(
        numbers.map(Constant),
        st.sampled_from(IDS + ("unknown",)).map(MeasureValue),
        st.just(PeriodDays()),
    ),
    lambda inner: st.one_of(
        inner.map(Negate),
        inner.map(Absolute),
        st.builds(Binary, st.sampled_from(list(ArithmeticOperator)), inner, inner),
        st.builds(
            Combine,
            st.sampled_from(list(CombineMode)),
            st.lists(inner, min_size=0, max_size=3).map(tuple),
        ),
    ),
    max_leaves=12,
)
cells = st.one_of(st.none(), numbers, st.floats(-1e6, 1e6, allow_nan=False))


@st.composite
def column_sets(draw: st.DrawFn) -> Columns:
    length = draw(st.integers(1, 8))
    values = {
        name: draw(st.lists(cells, min_size=length, max_size=length))
        for name in IDS
        if draw(st.booleans()) or name == "a"
    }
    days = draw(
        st.lists(st.sampled_from([1 / 1440, 1.0, 0.0, 30.5]), min_size=length, max_size=length)
    )
    return Columns(values, days)


@settings(max_examples=600, deadline=None)
@given(expressions, column_sets())
def test_random_expressions_agree_point_by_point(
    expression: ValueExpression, columns: Columns
) -> None:
    check(expression, columns)


def random_expression(chance: random.Random, depth: int) -> ValueExpression:
    if depth == 0 or chance.random() < 0.2:
        leaf = chance.randrange(5)
        if leaf == 0:
            return Constant(chance.choice([0.0, 2.0, -1.5]))
        if leaf == 1:
            return PeriodDays()
        return MeasureValue(chance.choice(IDS))
    kind = chance.randrange(6)
    if kind == 0:
        return chance.choice([Negate, Absolute])(random_expression(chance, depth - 1))
    if kind <= 3:
        return Binary(
            chance.choice(list(ArithmeticOperator)),
            random_expression(chance, depth - 1),
            random_expression(chance, depth - 1),
        )
    return Combine(
        chance.choice(list(CombineMode)),
        tuple(random_expression(chance, depth - 1) for _ in range(chance.randrange(1, 4))),
    )


def test_seeded_random_expressions_agree_point_by_point() -> None:
    chance = random.Random(3)
    for _ in range(1500):
        length = 12
        values = {
            name: [
                chance.choice([None, 0.0, -0.0, 1.0, 4.0, chance.uniform(-9, 9)])
                for _ in range(length)
            ]
            for name in IDS
        }
        days = [chance.choice([1 / 1440, 1.0, 0.0]) for _ in range(length)]
        check(random_expression(chance, 4), Columns(values, days))


def test_complete_columns_take_the_fast_path_and_still_agree() -> None:
    # No missing value anywhere, a zero denominator in one bucket only.
    columns = Columns({"a": [1.0, 2.0, 3.0], "b": [2.0, 0.0, -4.0]}, [1.0, 1.0, 0.5])
    ratio = Binary(ArithmeticOperator.DIVIDE, MeasureValue("a"), MeasureValue("b"))
    assert compile_columns(ratio)(columns) == ([0.5, NoValueReason.DIVISION_BY_ZERO, -0.75], False)
    assert compile_columns(MeasureValue("b"))(columns) == ([2.0, 0.0, -4.0], True)
    check(Combine(CombineMode.TOTAL, (ratio, MeasureValue("a"))), columns)
    check(Binary(ArithmeticOperator.MULTIPLY, ratio, PeriodDays()), columns)


def test_every_catalog_kpi_agrees_on_random_series() -> None:
    catalog = load_catalog_files()
    formulas = FormulaCatalog.from_catalog(catalog)
    chance = random.Random(20261126)
    for kpi in catalog.kpis:
        compiled = compile_kpi(kpi.code, formulas)
        ids = sorted(measure_ids(compiled.value))
        length = 50
        values = {
            i: [
                chance.choice([None, 0.0, 0.0, 1.0, chance.uniform(-50, 500)])
                for _ in range(length)
            ]
            for i in ids
        }
        days = [chance.choice([1 / 1440, 1.0, 30.0]) for _ in range(length)]
        check(compiled.value, Columns(values, days))
