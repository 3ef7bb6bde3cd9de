"""The formula parser and printer: every catalog formula, positioned syntax errors, and
properties over arbitrary text and generated trees."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.calculation.formula import ast
from services.calculation.formula.errors import FormulaError
from services.calculation.formula.parser import KEYWORDS, parse
from services.calculation.formula.printer import to_text
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import KpiDefinition
from services.errors import InvalidArgument

CATALOG = load_catalog_files()


@pytest.mark.parametrize("kpi", CATALOG.kpis, ids=lambda kpi: kpi.code)
def test_every_catalog_formula_parses_and_round_trips(kpi: KpiDefinition) -> None:
    tree = parse(kpi.formula)
    assert parse(to_text(tree)) == tree
    assert to_text(parse(to_text(tree))) == to_text(tree)


def test_the_tree_of_a_ratio() -> None:
    tree = parse("100 * count(ORDER where status = 'delivered') / count(ORDER)")
    delivered = ast.Aggregate(
        ast.AggregateName.COUNT, ast.Path(("ORDER",)),
        ast.Comparison(ast.Path(("status",)), ast.Comparator.EQ, ast.StringLiteral("delivered")))
    assert tree == ast.Arithmetic(
        ast.ArithmeticOperator.DIVIDE,
        ast.Arithmetic(ast.ArithmeticOperator.MULTIPLY, ast.NumberLiteral(Decimal(100)),
                       delivered),
        ast.Aggregate(ast.AggregateName.COUNT, ast.Path(("ORDER",))))


def test_spans_point_into_the_source() -> None:
    text = "sum(PAYMENT.amount\n  where received_at <= invoice.due_date)"
    tree = parse(text)
    assert isinstance(tree, ast.Aggregate) and tree.condition is not None
    condition = tree.condition
    assert isinstance(condition, ast.Comparison)
    right = condition.right
    assert isinstance(right, ast.Path)
    assert (right.span.line, right.span.column) == (2, 24)
    assert text[right.span.start:right.span.end] == "invoice.due_date"
    assert (right.segment_spans[1].line, right.segment_spans[1].column) == (2, 32)


def test_literals_and_operators() -> None:
    tree = parse("count(ORDER where created_at between date '2025-01-01' and "
                 "timestamp '2025-02-01T00:00:00Z' and not (order_value not in (-1, 2.5)) "
                 "and region is not null and channel <> 'web' OR TRUE)")
    assert isinstance(tree, ast.Aggregate)
    text = to_text(tree)
    assert "date '2025-01-01'" in text
    assert "timestamp '2025-02-01T00:00:00+00:00'" in text
    assert "not in (-1, 2.5)" in text and "channel != 'web'" in text and " or true" in text
    assert parse(text) == tree


def test_quotes_in_strings_are_doubled() -> None:
    tree = parse("count(CUSTOMER where name = 'O''Brien')")
    assert "'O''Brien'" in to_text(tree)
    assert parse(to_text(tree)) == tree


@pytest.mark.parametrize(
    ("formula", "line", "column", "text", "message"),
    [
        ("avg(duration_hours(SUPPORT_TICKET.opened_at where status = 'closed'))", 1, 45,
         "where", "expected ')' or ',' after argument, found 'where'"),
        ("count(ORDER where status = 'open'", 1, 34, "",
         "expected ')' after the argument of count(), found end of formula"),
        ("sum(ORDER.order_value,)", 1, 22, ",",
         "expected 'where' or ')' after the argument of sum(), found ','"),
        ("count(ORDER) ; drop", 1, 14, ";", "unexpected character ';'"),
        ("count(ORDER where status = 'open)", 1, 28, "'",
         "unterminated string literal"),
        ("100 *", 1, 6, "", "expected a value, a field, an aggregate or '(', found end of formula"),
        ("", 1, 1, "", "expected a formula, found end of formula"),
        ("median(ORDER.order_value)", 1, 1, "median", "unknown function 'median'"),
        ("count(ORDER where status not like 'x')", 1, 30, "like",
         "expected 'in' or 'between' after 'not', found 'like'"),
        ("count(ORDER where region is missing)", 1, 29, "missing",
         "expected 'null' or 'not null' after 'is', found 'missing'"),
        ("percentile(ORDER.order_value where status = 'open')", 1, 30, "where",
         "expected ',' and a fraction between 0 and 1 after the argument of percentile()"),
        ("count(ORDER where\n  created_at > date '2025-13-01')", 2, 21, "'2025-13-01'",
         "expected a date as 'YYYY-MM-DD'"),
        ("count(ORDER where created_at > timestamp '2025-01-01T00:00:00')", 1, 42,
         "'2025-01-01T00:00:00'", "needs a UTC offset"),
        ("kpi(FIN_DSO) kpi(FIN_DPO)", 1, 14, "kpi",
         "expected an operator or end of formula, found 'kpi'"),
        ("duration_days(ORDER.created_at)", 1, 1, "duration_days",
         "duration_days() takes 2 argument(s), got 1"),
        ("count(ORDER where customer. = 'x')", 1, 29, "=",
         "expected a field or relationship name after '.', found '='"),
        ("count(ORDER where status in 'open')", 1, 29, "'open'",
         "expected '(' and a list of values after 'in'"),
    ],
)
def test_syntax_errors_point_at_the_offending_text(
    formula: str, line: int, column: int, text: str, message: str
) -> None:
    with pytest.raises(FormulaError) as raised:
        parse(formula)
    (diagnostic,) = raised.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.text) == (line, column, text)
    assert message in diagnostic.message
    assert isinstance(raised.value, InvalidArgument)
    assert raised.value.violations[0].field == "formula"


def test_deep_nesting_is_refused_not_a_crash() -> None:
    for formula in ("(" * 5000 + "1" + ")" * 5000, "-" * 5000 + "1", "not " * 5000 + "true",
                    " + ".join(["1"] * 5000)):
        with pytest.raises(FormulaError):
            parse(formula)


_ALPHABET = st.sampled_from(list("()'.,=<>!+-*/ _\n\t0123456789aAzZ") + [
    "count", "sum", "avg", "percentile", "ORDER", "where", "and", "or", "not", "in", "between",
    "is", "null", "date", "timestamp", "kpi", "duration_days", "period_days", "abs", "status",
    "'delivered'", "true", "é", ";"])


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(_ALPHABET, max_size=40).map(" ".join),
                 st.lists(_ALPHABET, max_size=40).map("".join)))
def test_the_parser_raises_nothing_but_formula_errors(text: str) -> None:
    try:
        tree = parse(text)
    except FormulaError as error:
        for diagnostic in error.diagnostics:
            assert diagnostic.line >= 1 and diagnostic.column >= 1
        return
    assert parse(to_text(tree)) == tree


# -- generated trees ------------------------------------------------------------------------

_NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda name: name not in KEYWORDS and name not in {"date", "timestamp"})
_PATHS = st.lists(_NAMES, min_size=1, max_size=3).map(lambda names: ast.Path(tuple(names)))
_NUMBERS = st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False,
                       allow_infinity=False).map(ast.NumberLiteral)
_LITERALS: st.SearchStrategy[ast.Literal] = st.one_of(
    _NUMBERS,
    st.decimals(min_value=-1000, max_value=-1, places=0).map(ast.NumberLiteral),
    st.text(max_size=8).map(ast.StringLiteral),
    st.booleans().map(ast.BooleanLiteral),
    st.dates().map(ast.DateLiteral),
    st.datetimes(timezones=st.just(datetime.UTC)).map(ast.TimestampLiteral),
)
_LEAVES: st.SearchStrategy[ast.Expression] = st.one_of(
    _NUMBERS, _PATHS, st.text(max_size=6).map(ast.StringLiteral),
    st.booleans().map(ast.BooleanLiteral), st.dates().map(ast.DateLiteral),
    st.from_regex(r"[A-Z][A-Z_]{0,8}", fullmatch=True).map(ast.KpiReference),
    st.just(ast.FunctionCall(ast.FunctionName.PERIOD_DAYS, ())),
)


def _extend(children: st.SearchStrategy[ast.Expression]) -> st.SearchStrategy[ast.Expression]:
    return st.one_of(
        st.builds(ast.Arithmetic, st.sampled_from(ast.ArithmeticOperator), children, children),
        st.builds(ast.Negation, children),
        st.builds(ast.Comparison, children, st.sampled_from(ast.Comparator), children),
        st.builds(ast.Logical, st.sampled_from(ast.LogicalOperator), children, children),
        st.builds(ast.Not, children),
        st.builds(ast.InList, children, st.lists(_LITERALS, min_size=1, max_size=3).map(tuple),
                  st.booleans()),
        st.builds(ast.Between, children, children, children, st.booleans()),
        st.builds(ast.IsNull, children, st.booleans()),
        st.builds(ast.Aggregate, st.sampled_from([name for name in ast.AggregateName
                                                  if name is not ast.AggregateName.PERCENTILE]),
                  children, st.none() | children),
        st.builds(ast.Aggregate, st.just(ast.AggregateName.PERCENTILE), children,
                  st.none() | children,
                  st.decimals(min_value=0, max_value=1, places=2).map(ast.NumberLiteral)),
        st.builds(ast.FunctionCall, st.just(ast.FunctionName.DURATION_DAYS),
                  st.tuples(children, children)),
        st.builds(ast.FunctionCall, st.just(ast.FunctionName.ABS), st.tuples(children)),
    )


TREES = st.recursive(_LEAVES, _extend, max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(TREES)
def test_printing_then_parsing_gives_the_same_tree(tree: ast.Expression) -> None:
    text = to_text(tree)
    assert parse(text) == tree, text
