"""Compiles validated formulas into aggregate measures (per object model) and a value expression
over them.

Each aggregate of a formula becomes one `Measure` of the shared query model, with an id derived
from its content, so identical aggregates — within a formula, across `kpi()` references and
across a whole dashboard — are one measure computed in one scan of their object model.

`abs()` inside an aggregate has no counterpart in the query model's row expressions, so it is
compiled by splitting on the sign of its operand: sum(|x|) = sum(x where x >= 0) + sum(-x where
x < 0); min/max likewise with least/greatest; avg is that total over count(x). Each abs() doubles
the measures, hence the limit in `validation`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from services.aggregates import query
from services.calculation.formula import ast
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.formula.printer import to_text
from services.calculation.formula.validation import CheckedFormula, check_formula
from services.calculation.formula.values import (
    Absolute,
    Binary,
    Combine,
    CombineMode,
    Constant,
    MeasureValue,
    Negate,
    PeriodDays,
    ValueExpression,
)
from services.catalog.domain import Catalog, KpiDefinition, ObjectModel
from services.errors import NotFound


@dataclass(frozen=True)
class FormulaCatalog:
    """What compilation looks things up in: object models and KPI definitions by code."""

    object_models: Mapping[str, ObjectModel]
    kpis: Mapping[str, KpiDefinition]

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> FormulaCatalog:
        return cls({model.code: model for model in catalog.object_models},
                   {kpi.code: kpi for kpi in catalog.kpis})


@dataclass(frozen=True)
class CompiledKpi:
    """`measures` maps each object model code to the measures the value needs from it."""

    kpi_code: str | None
    formula: str
    value: ValueExpression
    measures: Mapping[str, tuple[query.Measure, ...]]
    # Every KPI inlined through kpi(), directly or not.
    referenced_kpi_codes: frozenset[str]

    @property
    def object_model_codes(self) -> tuple[str, ...]:
        return tuple(sorted(self.measures))


@dataclass(frozen=True)
class CompiledKpiSet:
    """Many KPIs compiled together; `measures` merges theirs per object model, so one
    AggregateQuery per object model answers them all."""

    kpis: Mapping[str, CompiledKpi]
    measures: Mapping[str, tuple[query.Measure, ...]]


def compile_formula(text: str, catalog: FormulaCatalog,
                    kpi_code: str | None = None) -> CompiledKpi:
    """Compiles a formula (a catalog KPI's or a custom one); raises FormulaError."""
    return _Compiler(catalog).formula(text, kpi_code)


def compile_kpi(code: str, catalog: FormulaCatalog) -> CompiledKpi:
    definition = catalog.kpis.get(code)
    if definition is None:
        raise NotFound(f"KPI {code} does not exist")
    return compile_formula(definition.formula, catalog, code)


def compile_kpis(codes: Iterable[str], catalog: FormulaCatalog) -> CompiledKpiSet:
    """Compiles every KPI in `codes`; raises NotFound for unknown codes and one FormulaError with
    the diagnostics of every KPI that does not compile."""
    compiler = _Compiler(catalog)
    compiled: dict[str, CompiledKpi] = {}
    diagnostics: list[Diagnostic] = []
    for code in dict.fromkeys(codes):
        definition = catalog.kpis.get(code)
        if definition is None:
            raise NotFound(f"KPI {code} does not exist")
        try:
            compiled[code] = compiler.formula(definition.formula, code)
        except FormulaError as error:
            diagnostics.extend(error.diagnostics)
    if diagnostics:
        raise FormulaError(diagnostics)
    return CompiledKpiSet(compiled, merge_measures(kpi.measures for kpi in compiled.values()))


def merge_measures(
    groups: Iterable[Mapping[str, Sequence[query.Measure]]],
) -> dict[str, tuple[query.Measure, ...]]:
    """Unites measures per object model; equal ids are equal measures, kept once."""
    merged: dict[str, dict[str, query.Measure]] = {}
    for group in groups:
        for model_code, measures in group.items():
            into = merged.setdefault(model_code, {})
            for measure in measures:
                into.setdefault(measure.measure_id, measure)
    return {code: tuple(merged[code].values()) for code in sorted(merged)}


@dataclass(frozen=True)
class _Compiled:
    value: ValueExpression
    measures: dict[str, dict[str, query.Measure]]
    kpi_codes: frozenset[str]


class _Compiler:
    def __init__(self, catalog: FormulaCatalog) -> None:
        self.catalog = catalog
        self.done: dict[str, _Compiled] = {}

    def formula(self, text: str, kpi_code: str | None) -> CompiledKpi:
        checked = self.check(text, kpi_code)
        result = self.checked(checked, kpi_code, ())
        measures = {code: tuple(found.values()) for code, found in sorted(result.measures.items())}
        return CompiledKpi(kpi_code, to_text(checked.tree), result.value, measures,
                           result.kpi_codes)

    def check(self, text: str, kpi_code: str | None) -> CheckedFormula:
        return check_formula(text, self.catalog.object_models, self.catalog.kpis.keys(),
                             kpi_code)

    def checked(self, checked: CheckedFormula, kpi_code: str | None,
                stack: tuple[str, ...]) -> _Compiled:
        if kpi_code is not None and kpi_code in self.done:
            return self.done[kpi_code]
        builder = _FormulaBuilder(self, checked, kpi_code, (*stack, kpi_code or ""))
        value = builder.value(checked.tree)
        result = _Compiled(value, builder.measures, frozenset(builder.kpi_codes))
        if kpi_code is not None:
            self.done[kpi_code] = result
        return result

    def reference(self, node: ast.KpiReference, text: str, kpi_code: str | None,
                  stack: tuple[str, ...]) -> _Compiled:
        code = node.kpi_code
        if code in stack:
            cycle = " → ".join((*stack[stack.index(code):], code))
            span = node.span
            raise FormulaError([Diagnostic(span.line, span.column, text[span.start:span.end],
                                           f"kpi({code}) refers back to itself: {cycle}",
                                           kpi_code)])
        definition = self.catalog.kpis[code]
        return self.checked(self.check(definition.formula, code), code, stack)


class _FormulaBuilder:
    """Compiles one formula's tree; `measures` collects what it needs per object model."""

    def __init__(self, compiler: _Compiler, checked: CheckedFormula, kpi_code: str | None,
                 stack: tuple[str, ...]) -> None:
        self.compiler = compiler
        self.checked = checked
        self.kpi_code = kpi_code
        self.stack = stack
        self.measures: dict[str, dict[str, query.Measure]] = {}
        self.kpi_codes: set[str] = set()

    def value(self, node: ast.Expression) -> ValueExpression:
        match node:
            case ast.NumberLiteral(value=number):
                return Constant(float(number))
            case ast.Negation(operand=operand):
                return Negate(self.value(operand))
            case ast.Arithmetic(operator=operator, left=left, right=right):
                return Binary(query.ArithmeticOperator(operator.value), self.value(left),
                              self.value(right))
            case ast.FunctionCall(function=ast.FunctionName.PERIOD_DAYS):
                return PeriodDays()
            case ast.FunctionCall(function=ast.FunctionName.ABS, arguments=(operand,)):
                return Absolute(self.value(operand))
            case ast.KpiReference():
                referenced = self.compiler.reference(node, self.checked.text, self.kpi_code,
                                                     self.stack)
                self.kpi_codes |= {node.kpi_code, *referenced.kpi_codes}
                for model_code, measures in referenced.measures.items():
                    self.measures.setdefault(model_code, {}).update(measures)
                return referenced.value
            case ast.Aggregate():
                return self.aggregate(node)
        raise AssertionError(f"validation let through {type(node).__name__} at formula level")

    def aggregate(self, node: ast.Aggregate) -> ValueExpression:
        model = self.aggregated_model(node.argument)
        rows = _RowCompiler(model)
        base_filter = None if node.condition is None else rows.filter(node.condition)
        function = query.AggregateFunction(node.function.value)
        fraction = None if node.fraction is None else float(node.fraction.value)
        argument = node.argument
        if isinstance(argument, ast.Path) and argument.segments == (model.code,):
            return self.measure(model, query.Measure("", function, None, base_filter))
        variants = _split_on_abs(argument)
        if len(variants) == 1:
            return self.measure(model, query.Measure(
                "", function, rows.expression(argument), base_filter, fraction))
        # Only sum, avg, min and max reach here (validation); an avg is split into sums.
        part_function = (query.AggregateFunction.SUM
                         if function is query.AggregateFunction.AVG else function)
        parts = tuple(
            self.measure(model, query.Measure(
                "", part_function, rows.expression(variant),
                _all_of([base_filter, *(rows.filter(sign) for sign in signs)])))
            for variant, signs in variants)
        if function is query.AggregateFunction.MIN:
            return Combine(CombineMode.LEAST, parts)
        if function is query.AggregateFunction.MAX:
            return Combine(CombineMode.GREATEST, parts)
        total = Combine(CombineMode.TOTAL, parts)
        if function is query.AggregateFunction.SUM:
            return total
        # |x| has a value exactly where x has one, so the rows averaged are those counted here.
        unsigned = _split_on_abs(argument, keep_sign=True)[0][0]
        count = self.measure(model, query.Measure("", query.AggregateFunction.COUNT,
                                                  rows.expression(unsigned), base_filter))
        return Binary(query.ArithmeticOperator.DIVIDE, total, count)

    def aggregated_model(self, argument: ast.Expression) -> ObjectModel:
        stack = [argument]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Path):
                return self.compiler.catalog.object_models[current.segments[0]]
            stack.extend(reversed(ast.children(current)))
        raise AssertionError("validation let through an aggregate without an object model")

    def measure(self, model: ObjectModel, measure: query.Measure) -> MeasureValue:
        identified = dataclasses.replace(measure, measure_id=measure_id(model.code, measure))
        self.measures.setdefault(model.code, {})[identified.measure_id] = identified
        return MeasureValue(identified.measure_id)


def measure_id(model_code: str, measure: query.Measure) -> str:
    """Readable and derived from content only, so equal aggregates share an id everywhere."""
    content = repr((measure.function, measure.argument, measure.filter, measure.percentile))
    digest = hashlib.sha256(content.encode()).hexdigest()[:12]
    return f"{model_code}.{measure.function}.{digest}"


class _RowCompiler:
    """Row expressions and filters of one aggregate, over `model`."""

    def __init__(self, model: ObjectModel) -> None:
        self.model = model

    def field(self, path: ast.Path) -> query.FieldRef:
        segments = path.segments
        if segments[0] == self.model.code:
            segments = segments[1:]
        return query.FieldRef(segments[-1], tuple(segments[:-1]))

    def expression(self, node: ast.Expression) -> query.RowExpression:
        match node:
            case ast.Path():
                return self.field(node)
            case ast.Arithmetic(operator=operator, left=left, right=right):
                return query.Arithmetic(query.ArithmeticOperator(operator.value),
                                        self.expression(left), self.expression(right))
            case ast.Negation(operand=operand):
                return query.Arithmetic(query.ArithmeticOperator.SUBTRACT, query.Literal(0),
                                        self.expression(operand))
            case ast.FunctionCall(function=function, arguments=(start, end)) \
                    if function.is_duration:
                assert isinstance(start, ast.Path) and isinstance(end, ast.Path)
                unit = query.DurationUnit(function.value.removeprefix("duration_"))
                return query.Duration(self.field(start), self.field(end), unit)
            case ast.NumberLiteral() | ast.StringLiteral() | ast.BooleanLiteral() \
                    | ast.DateLiteral() | ast.TimestampLiteral():
                return query.Literal(scalar(node))
        raise AssertionError(f"validation let through {type(node).__name__} in a row")

    def filter(self, node: ast.Expression) -> query.Filter:
        match node:
            case ast.Logical(operator=operator, left=left, right=right):
                parts = (self.filter(left), self.filter(right))
                if operator is ast.LogicalOperator.AND:
                    return _all_of(parts) or query.AllOf(())
                return query.AnyOf(_flatten(query.AnyOf, parts))
            case ast.Not(operand=operand):
                return query.Not(self.filter(operand))
            case ast.Comparison(left=left, comparator=comparator, right=right):
                return query.Compare(self.expression(left), query.Comparator(comparator.value),
                                     self.expression(right))
            case ast.InList(operand=operand, values=values, negated=negated):
                listed = query.InList(self.expression(operand),
                                      tuple(scalar(value) for value in values))
                return query.Not(listed) if negated else listed
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                return self.between(operand, low, high, negated)
            case ast.IsNull(operand=operand, negated=negated):
                test = query.IsNull(self.expression(operand))
                return query.Not(test) if negated else test
            case ast.Path() | ast.BooleanLiteral():
                # A boolean field (or literal) used as a condition: it holds when it is true.
                return query.Compare(self.expression(node), query.Comparator.EQ,
                                     query.Literal(True))
        raise AssertionError(f"validation let through {type(node).__name__} as a condition")

    def between(self, operand: ast.Expression, low: ast.Expression, high: ast.Expression,
                negated: bool) -> query.Filter:
        value = self.expression(operand)
        low_value, high_value = self.expression(low), self.expression(high)
        test: query.Filter
        if isinstance(low_value, query.Literal) and isinstance(high_value, query.Literal):
            test = query.Between(value, low_value.value, high_value.value)
        else:
            test = query.AllOf((query.Compare(value, query.Comparator.GE, low_value),
                                query.Compare(value, query.Comparator.LE, high_value)))
        return query.Not(test) if negated else test


def scalar(literal: ast.Expression) -> query.Scalar:
    """A literal's value; numbers canonical (integral ones as int) so equal aggregates compile
    to equal measures."""
    match literal:
        case ast.NumberLiteral(value=value):
            if value == value.to_integral_value():
                return int(value)
            return value.normalize()
        case ast.StringLiteral(value=text):
            return text
        case ast.BooleanLiteral(value=flag):
            return flag
        case ast.DateLiteral(value=day):
            return day
        case ast.TimestampLiteral(value=moment):
            return moment
    raise AssertionError(f"{type(literal).__name__} is not a literal")


def _flatten(kind: type[query.AllOf] | type[query.AnyOf],
             parts: Iterable[query.Filter]) -> tuple[query.Filter, ...]:
    flat: list[query.Filter] = []
    for part in parts:
        flat.extend(part.filters if isinstance(part, kind) else (part,))
    return tuple(flat)


def _all_of(parts: Sequence[query.Filter | None]) -> query.Filter | None:
    flat = _flatten(query.AllOf, (part for part in parts if part is not None))
    if not flat:
        return None
    return flat[0] if len(flat) == 1 else query.AllOf(flat)


def _split_on_abs(
    argument: ast.Expression, keep_sign: bool = False,
) -> list[tuple[ast.Expression, tuple[ast.Expression, ...]]]:
    """The abs()-free variants of `argument`, each with the sign conditions under which it
    equals the original; with `keep_sign`, the one variant with every abs(x) replaced by x."""
    innermost = _innermost_abs(argument)
    if innermost is None:
        return [(argument, ())]
    operand = innermost.arguments[0]
    positive = _replace(argument, innermost, operand)
    if keep_sign:
        return _split_on_abs(positive, keep_sign=True)
    negative = _replace(argument, innermost, ast.Negation(operand))
    at_least_zero = ast.Comparison(operand, ast.Comparator.GE, ast.NumberLiteral(Decimal(0)))
    below_zero = ast.Comparison(operand, ast.Comparator.LT, ast.NumberLiteral(Decimal(0)))
    return [(variant, (sign, *signs))
            for branch, sign in ((positive, at_least_zero), (negative, below_zero))
            for variant, signs in _split_on_abs(branch)]


def _innermost_abs(node: ast.Expression) -> ast.FunctionCall | None:
    for child in ast.children(node):
        found = _innermost_abs(child)
        if found is not None:
            return found
    if isinstance(node, ast.FunctionCall) and node.function is ast.FunctionName.ABS:
        return node
    return None


def _replace(node: ast.Expression, target: ast.Expression,
             replacement: ast.Expression) -> ast.Expression:
    """`node` with the subtree `target` (by identity) replaced."""
    if node is target:
        return replacement
    changes: dict[str, object] = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, tuple) and field.name in ("arguments", "values"):
            changes[field.name] = tuple(_replace(item, target, replacement) for item in value)
        elif field.name not in ("span", "segment_spans") and _is_node(value):
            changes[field.name] = _replace(value, target, replacement)
    return dataclasses.replace(node, **changes)  # type: ignore[arg-type]


def _is_node(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type) \
        and not isinstance(value, ast.Span)
