"""Gives a parsed formula meaning against the catalog: every object model, relationship and
field exists, every operand has a fitting type, and every construct is used where it may be.

Scoping. An aggregate ranges over the object model named first in its argument
(`count(ORDER …)`, `sum(PAYMENT.amount * …)`); every path in the argument starts with that model
(`PAYMENT.invoice.issue_date` follows the many-to-one relationship `invoice`). Inside `where`,
paths are relative to that model (`invoice.due_date`). Paths through one-to-many relationships
are refused everywhere (see `paths.resolve_path`). Outside aggregates a formula combines numbers,
aggregates, `kpi(CODE)` and `period_days()` with + - * / and abs().
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal

from services.calculation.formula import ast
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.formula.parser import parse
from services.calculation.formula.paths import PathProblem, ResolvedPath, resolve_path
from services.catalog.domain import Field, FieldType, ObjectModel

# Each abs() inside an aggregate doubles the measures it compiles to (see `compiler`).
MAX_ABS_PER_AGGREGATE = 3


class ValueType(enum.StrEnum):
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"

    @property
    def is_temporal(self) -> bool:
        return self in (ValueType.TIMESTAMP, ValueType.DATE)

    def compares_with(self, other: ValueType) -> bool:
        return self is other or (self.is_temporal and other.is_temporal)


FIELD_TYPES = {
    FieldType.STRING: ValueType.TEXT,
    FieldType.INTEGER: ValueType.NUMBER,
    FieldType.DECIMAL: ValueType.NUMBER,
    FieldType.BOOLEAN: ValueType.BOOLEAN,
    FieldType.TIMESTAMP: ValueType.TIMESTAMP,
    FieldType.DATE: ValueType.DATE,
}
_NUMERIC_AGGREGATES = frozenset({ast.AggregateName.SUM, ast.AggregateName.AVG,
                                 ast.AggregateName.MIN, ast.AggregateName.MAX,
                                 ast.AggregateName.PERCENTILE})
_ABS_AGGREGATES = frozenset({ast.AggregateName.SUM, ast.AggregateName.AVG,
                             ast.AggregateName.MIN, ast.AggregateName.MAX})


@dataclass(frozen=True)
class CheckedFormula:
    """A formula that parsed and validated. `object_model_codes` are the models it reads,
    aggregated or reached through relationships (not through `kpi()` references)."""

    tree: ast.Expression
    text: str
    object_model_codes: frozenset[str]
    kpi_codes: frozenset[str]


def check_formula(
    text: str, object_models: Mapping[str, ObjectModel], kpi_codes: Collection[str],
    kpi_code: str | None = None,
) -> CheckedFormula:
    """Parses and validates `text`; raises FormulaError with every problem found."""
    try:
        tree = parse(text)
    except FormulaError as error:
        if kpi_code is None:
            raise
        raise FormulaError([dataclasses.replace(d, kpi_code=kpi_code)
                            for d in error.diagnostics]) from None
    return validate(tree, text, object_models, kpi_codes, kpi_code)


def validate(
    tree: ast.Expression, text: str, object_models: Mapping[str, ObjectModel],
    kpi_codes: Collection[str], kpi_code: str | None = None,
) -> CheckedFormula:
    validator = _Validator(text, object_models, kpi_codes, kpi_code)
    result = validator.check(tree, _FORMULA)
    if result is not None and result is not ValueType.NUMBER:
        validator.report(tree, f"a formula must compute a number; this is {result.value}")
    if validator.diagnostics:
        raise FormulaError(validator.diagnostics)
    return CheckedFormula(tree, text, frozenset(validator.models_read),
                          frozenset(validator.kpis_read))


@dataclass(frozen=True)
class _Scope:
    """Where an expression stands: at formula level (`model` None) or in an aggregate."""

    model: ObjectModel | None = None
    in_where: bool = False
    conditions_allowed: bool = False
    abs_allowed: bool = True


_FORMULA = _Scope()


class _Validator:
    def __init__(self, text: str, models: Mapping[str, ObjectModel], kpi_codes: Collection[str],
                 kpi_code: str | None) -> None:
        self.text = text
        self.models = models
        self.kpi_codes = kpi_codes
        self.kpi_code = kpi_code
        self.diagnostics: list[Diagnostic] = []
        self.models_read: set[str] = set()
        self.kpis_read: set[str] = set()
        # Fields that paths resolved to, by node identity, for the allowed-values checks.
        self.fields: dict[int, Field] = {}

    def report(self, node: ast.Expression, message: str, span: ast.Span | None = None) -> None:
        span = span or node.span
        self.diagnostics.append(Diagnostic(span.line, span.column, self.source(span), message,
                                           self.kpi_code))

    def source(self, span: ast.Span) -> str:
        return self.text[span.start:span.end]

    def describe(self, node: ast.Expression) -> str:
        return self.source(node.span) or type(node).__name__

    # -- dispatch ---------------------------------------------------------------------------

    def check(self, node: ast.Expression, scope: _Scope) -> ValueType | None:
        """The type of `node`, or None when it is wrong (already reported)."""
        match node:
            case ast.NumberLiteral():
                return ValueType.NUMBER
            case ast.StringLiteral():
                return ValueType.TEXT
            case ast.BooleanLiteral():
                return ValueType.BOOLEAN
            case ast.DateLiteral():
                return ValueType.DATE
            case ast.TimestampLiteral():
                return ValueType.TIMESTAMP
            case ast.Path():
                return self.path(node, scope)
            case ast.Aggregate():
                return self.aggregate(node, scope)
            case ast.KpiReference(kpi_code=code):
                if scope.model is not None:
                    self.report(node, "kpi() cannot be used inside an aggregate")
                elif code not in self.kpi_codes:
                    self.report(node, f"unknown KPI {code}{_suggest(code, self.kpi_codes)}")
                else:
                    self.kpis_read.add(code)
                return ValueType.NUMBER
            case ast.FunctionCall():
                return self.function(node, scope)
            case ast.Negation(operand=operand):
                self.numeric(operand, scope, "'-'")
                return ValueType.NUMBER
            case ast.Arithmetic(operator=operator, left=left, right=right):
                left_ok = self.numeric(left, scope, f"'{operator}'")
                right_ok = self.numeric(right, scope, f"'{operator}'")
                return ValueType.NUMBER if left_ok and right_ok else None
            case _:
                return self.condition(node, scope)

    def numeric(self, node: ast.Expression, scope: _Scope, operator: str) -> bool:
        found = self.check(node, dataclasses.replace(scope, conditions_allowed=False))
        if found is None:
            return False
        if found is not ValueType.NUMBER:
            hint = ("; use duration_days(start, end) for the time between two moments"
                    if found.is_temporal else "")
            self.report(node, f"{operator} needs numbers; {self.describe(node)} is "
                              f"{self.type_name(node, found)}{hint}")
            return False
        return True

    def type_name(self, node: ast.Expression, found: ValueType) -> str:
        field = self.fields.get(id(node))
        return str(field.type) if field is not None else found.value

    # -- paths ------------------------------------------------------------------------------

    def path(self, node: ast.Path, scope: _Scope) -> ValueType | None:
        model = scope.model
        if model is None:
            what = "object model" if node.segments[0] in self.models else "field"
            self.report(node, f"{what} {self.describe(node)} is used outside an aggregate")
            return None
        first = node.segments[0]
        if first in self.models:
            if first != model.code:
                self.report(node, f"{self.describe(node)} mixes {first} into an aggregate over "
                                  f"{model.code}")
                return None
            start = 1
        elif scope.in_where:
            start = 0
        else:
            self.report(node, f"in an aggregate's argument a field is written with its object "
                              f"model, e.g. {model.code}.{'.'.join(node.segments)}")
            return None
        resolved = resolve_path(node.segments, model, self.models, start)
        if isinstance(resolved, PathProblem):
            spans = node.segment_spans
            span = spans[resolved.segment] if resolved.segment < len(spans) else node.span
            self.report(node, resolved.message, span)
            return None
        if resolved.field is None:
            self.report(node, f"object model {model.code} is not a value; name one of its "
                              f"fields, e.g. {model.code}.{model.fields[0].name}")
            return None
        self.models_read.update(resolved.reached_model_codes)
        self.fields[id(node)] = resolved.field
        return FIELD_TYPES[resolved.field.type]

    # -- aggregates and functions -----------------------------------------------------------

    def aggregate(self, node: ast.Aggregate, scope: _Scope) -> ValueType | None:
        function = node.function
        if scope.model is not None:
            self.report(node, f"aggregates cannot be nested: {function}() inside an aggregate "
                              f"over {scope.model.code}")
            return None
        model = self.aggregated_model(node)
        if model is None:
            return ValueType.NUMBER
        self.models_read.add(model.code)
        argument = node.argument
        counts_rows = isinstance(argument, ast.Path) and argument.segments == (model.code,)
        if counts_rows and function is not ast.AggregateName.COUNT:
            self.report(argument, f"{function}() needs a value, not the object model; e.g. "
                                  f"{function}({model.code}.<field>)")
        elif not counts_rows:
            argument_scope = _Scope(model, abs_allowed=function in _ABS_AGGREGATES)
            found = self.check(argument, argument_scope)
            if found is not None and function in _NUMERIC_AGGREGATES \
                    and found is not ValueType.NUMBER:
                self.report(argument, f"{function}() needs a number (a numeric field, a "
                                      f"duration or arithmetic on them); "
                                      f"{self.describe(argument)} is "
                                      f"{self.type_name(argument, found)}")
            abs_calls = sum(1 for item in _walk(argument) if isinstance(item, ast.FunctionCall)
                            and item.function is ast.FunctionName.ABS)
            if abs_calls > MAX_ABS_PER_AGGREGATE:
                self.report(argument, f"at most {MAX_ABS_PER_AGGREGATE} abs() per aggregate")
        if node.fraction is not None and not Decimal(0) <= node.fraction.value <= Decimal(1):
            self.report(node.fraction, "a percentile is a fraction between 0 and 1 (0.9 for the "
                                       f"90th percentile), found {self.describe(node.fraction)}")
        if node.condition is not None:
            condition_scope = _Scope(model, in_where=True, conditions_allowed=True,
                                     abs_allowed=False)
            found = self.check(node.condition, condition_scope)
            if found is not None and found is not ValueType.BOOLEAN:
                self.report(node.condition, f"a where filter must be a condition; "
                                            f"{self.describe(node.condition)} is {found.value}")
        return ValueType.NUMBER

    def aggregated_model(self, node: ast.Aggregate) -> ObjectModel | None:
        first = next((item for item in _walk(node.argument) if isinstance(item, ast.Path)), None)
        if first is None:
            self.report(node, f"{node.function}() names no object model, e.g. count(ORDER) or "
                              "sum(ORDER.order_value)")
            return None
        code = first.segments[0]
        model = self.models.get(code)
        if model is None:
            span = first.segment_spans[0] if first.segment_spans else first.span
            if code.isupper():
                message = f"unknown object model '{code}'{_suggest(code, self.models)}"
            else:
                message = (f"'{code}' is not an object model; an aggregate's argument starts "
                           f"with one, e.g. {node.function}(ORDER.{code})")
            self.report(first, message, span)
        return model

    def function(self, node: ast.FunctionCall, scope: _Scope) -> ValueType | None:
        function = node.function
        if function is ast.FunctionName.PERIOD_DAYS:
            if scope.model is not None:
                self.report(node, "period_days() is the length of the bucket, not a property "
                                  "of a row; use it outside aggregates")
            return ValueType.NUMBER
        if function is ast.FunctionName.ABS:
            if not scope.abs_allowed:
                self.report(node, "abs() inside an aggregate is supported only in the argument "
                                  "of sum, avg, min or max")
            ok = self.numeric(node.arguments[0], scope, "abs()")
            return ValueType.NUMBER if ok else None
        if scope.model is None:
            self.report(node, f"{function}() reads fields, so it belongs inside an aggregate, "
                              f"e.g. avg({function}(ORDER.created_at, ORDER.delivered_at))")
            return None
        ok = True
        for argument in node.arguments:
            if not isinstance(argument, ast.Path):
                self.report(argument, f"{function}() takes two timestamp or date fields")
                ok = False
                continue
            found = self.check(argument, dataclasses.replace(scope, conditions_allowed=False))
            if found is not None and not found.is_temporal:
                self.report(argument, f"{self.describe(argument)} is "
                                      f"{self.type_name(argument, found)}, not a timestamp or date")
            ok = ok and found is not None and found.is_temporal
        return ValueType.NUMBER if ok else None

    # -- conditions -------------------------------------------------------------------------

    def condition(self, node: ast.Expression, scope: _Scope) -> ValueType | None:
        if not scope.conditions_allowed:
            where = ("after 'where' inside an aggregate" if scope.model is None or
                     not scope.in_where else "as a whole condition, not as a value")
            self.report(node, f"a condition is only allowed {where}")
            return None
        value_scope = dataclasses.replace(scope, conditions_allowed=False)
        match node:
            case ast.Logical(operator=operator, left=left, right=right):
                self.boolean(left, scope, f"'{operator}'")
                self.boolean(right, scope, f"'{operator}'")
            case ast.Not(operand=operand):
                self.boolean(operand, scope, "'not'")
            case ast.Comparison(left=left, comparator=comparator, right=right):
                left_type = self.check(left, value_scope)
                right_type = self.check(right, value_scope)
                if left_type is None or right_type is None:
                    return ValueType.BOOLEAN
                if not left_type.compares_with(right_type):
                    self.report(node, f"cannot compare {self.describe(left)} "
                                      f"({self.type_name(left, left_type)}) with "
                                      f"{self.describe(right)} "
                                      f"({self.type_name(right, right_type)})")
                elif left_type is ValueType.BOOLEAN and comparator not in (
                        ast.Comparator.EQ, ast.Comparator.NE):
                    self.report(node, "booleans compare only with = or !=")
                self.allowed_value(left, right)
                self.allowed_value(right, left)
            case ast.InList(operand=operand, values=values):
                operand_type = self.check(operand, value_scope)
                for value in values:
                    value_type = self.check(value, value_scope)
                    if operand_type is None or value_type is None:
                        continue
                    if not operand_type.compares_with(value_type):
                        self.report(value, f"{self.describe(value)} ({value_type.value}) cannot "
                                           f"be compared with {self.describe(operand)} "
                                           f"({self.type_name(operand, operand_type)})")
                    else:
                        self.allowed_value(operand, value)
            case ast.Between(operand=operand, low=low, high=high):
                types = [self.check(item, value_scope) for item in (operand, low, high)]
                if None not in types:
                    first = types[0]
                    assert first is not None
                    if first is ValueType.BOOLEAN or not all(
                            first.compares_with(other) for other in types if other is not None):
                        self.report(node, "between needs a number, text or moment and two bounds "
                                          "of the same kind")
                self.allowed_value(operand, low)
                self.allowed_value(operand, high)
            case ast.IsNull(operand=operand):
                self.check(operand, value_scope)
        return ValueType.BOOLEAN

    def boolean(self, node: ast.Expression, scope: _Scope, operator: str) -> None:
        found = self.check(node, scope)
        if found is not None and found is not ValueType.BOOLEAN:
            self.report(node, f"{operator} needs conditions; {self.describe(node)} is "
                              f"{self.type_name(node, found)}")

    def allowed_value(self, field_node: ast.Expression, value: ast.Expression) -> None:
        field = self.fields.get(id(field_node))
        if field is None or not field.allowed_values or not isinstance(value, ast.StringLiteral):
            return
        if value.value not in field.allowed_values:
            self.report(value, f"{self.describe(value)} is not an allowed value of "
                               f"{self.describe(field_node)} ({', '.join(field.allowed_values)})")


def _walk(node: ast.Expression) -> list[ast.Expression]:
    """`node` and its descendants in source order."""
    found: list[ast.Expression] = []
    stack = [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(ast.children(current)))
    return found


def _suggest(name: str, candidates: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


__all__ = ["CheckedFormula", "ResolvedPath", "ValueType", "check_formula", "validate"]
