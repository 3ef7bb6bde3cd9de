"""A second, deliberately plain way to compute a KPI: walk the formula's syntax tree over Python
row dicts. It shares nothing with the compiler, the query model or SQL — only the parser — so
the engine and this oracle agreeing means something.

Semantics (the engine must match them):
- A row belongs to a bucket when its object model's time field falls in [start, end) and in the
  bucket. Buckets are calendar units in `time_zone` (weeks start on Monday), labelled by their
  local start; a date field is the local midnight of that date (also inside durations and
  comparisons with timestamps).
- `period_days()` is the length, in days, of the bucket's part inside [start, end) (the whole
  range when unbucketed).
- Related rows are looked up by key among ALL rows of the related model (no time restriction);
  a missing related row reads as nulls.
- SQL null logic: arithmetic and comparisons with null are null; a row division by zero is null;
  `where` keeps rows whose condition is true; and/or/not are three-valued.
- count(M) counts rows, count(x) non-null values, count_distinct distinct non-null values;
  sum/avg/min/max/percentile of no values have no value; percentile interpolates linearly
  (PostgreSQL's percentile_cont).
- Formula level: an aggregate without a value gives NO_DATA, a zero denominator
  DIVISION_BY_ZERO; operands are evaluated left to right and the first one without a value wins.
- With `group_by` (a path per object model), the groups of a bucket are the dimension values of
  the rows (in time range) of the models the formula aggregates.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.calculation.formula import ast
from services.calculation.formula.parser import parse
from services.catalog.domain import FieldType, ObjectModel

Row = Mapping[str, object]
NO_DATA = "no_data"
DIVISION_BY_ZERO = "division_by_zero"
_SECONDS = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}


@dataclass(frozen=True)
class OracleValue:
    value: float | None
    reason: str | None = None


@dataclass(frozen=True)
class _Bucket:
    label: datetime.datetime | None
    start: datetime.datetime
    end: datetime.datetime

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400.0


def evaluate_formula(
    formula: str,
    object_models: Mapping[str, ObjectModel],
    kpi_formulas: Mapping[str, str],
    rows: Mapping[str, Sequence[Row]],
    start: datetime.datetime,
    end: datetime.datetime,
    bucket: str | None = None,
    time_zone: str = "UTC",
    group_by: Mapping[str, str] | None = None,
) -> dict[tuple[datetime.datetime | None, tuple[object, ...]], OracleValue]:
    """The formula's value per (bucket start or None, group) — group is () without `group_by`,
    else (dimension value,). `bucket` is minute, hour, day, week, month or None."""
    return _Oracle(object_models, kpi_formulas, rows, ZoneInfo(time_zone), group_by).run(
        formula, start, end, bucket)


class _Oracle:
    def __init__(self, models: Mapping[str, ObjectModel], kpi_formulas: Mapping[str, str],
                 rows: Mapping[str, Sequence[Row]], zone: ZoneInfo,
                 group_by: Mapping[str, str] | None) -> None:
        self.models = models
        self.kpi_formulas = kpi_formulas
        self.rows = rows
        self.zone = zone
        self.group_by = group_by
        self.indexes: dict[tuple[str, str], dict[object, Row]] = {}

    # -- time -----------------------------------------------------------------------------------

    def moment(self, value: object) -> datetime.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = (datetime.datetime.fromisoformat(value) if "T" in value or ":" in value
                     else datetime.date.fromisoformat(value))
        if isinstance(value, datetime.datetime):
            return value
        assert isinstance(value, datetime.date)
        return datetime.datetime(value.year, value.month, value.day, tzinfo=self.zone)

    def truncate(self, moment: datetime.datetime, unit: str) -> datetime.datetime:
        local = moment.astimezone(self.zone).replace(tzinfo=None)
        if unit == "minute":
            local = local.replace(second=0, microsecond=0)
        elif unit == "hour":
            local = local.replace(minute=0, second=0, microsecond=0)
        else:
            local = local.replace(hour=0, minute=0, second=0, microsecond=0)
            if unit == "week":
                local -= datetime.timedelta(days=local.weekday())
            elif unit == "month":
                local = local.replace(day=1)
        return local.replace(tzinfo=self.zone)

    def following(self, label: datetime.datetime, unit: str) -> datetime.datetime:
        local = label.replace(tzinfo=None)
        if unit == "month":
            local = (local.replace(year=local.year + 1, month=1) if local.month == 12
                     else local.replace(month=local.month + 1))
        else:
            step = {"minute": datetime.timedelta(minutes=1), "hour": datetime.timedelta(hours=1),
                    "day": datetime.timedelta(days=1), "week": datetime.timedelta(days=7)}[unit]
            local += step
        return local.replace(tzinfo=self.zone)

    def buckets(self, start: datetime.datetime, end: datetime.datetime,
                unit: str | None) -> list[_Bucket]:
        if unit is None:
            return [_Bucket(None, start, end)]
        found = []
        label = self.truncate(start, unit)
        while label < end:
            following = self.following(label, unit)
            found.append(_Bucket(label, max(label, start), min(following, end)))
            label = following
        return found

    # -- the walk -------------------------------------------------------------------------------

    def run(self, formula: str, start: datetime.datetime, end: datetime.datetime,
            unit: str | None) -> dict[tuple[datetime.datetime | None, tuple[object, ...]],
                                      OracleValue]:
        tree = parse(formula)
        aggregated = self.aggregated_models(tree, set())
        in_range: dict[str, list[tuple[datetime.datetime | None, tuple[object, ...], Row]]] = {}
        for code in aggregated:
            model = self.models[code]
            placed: list[tuple[datetime.datetime | None, tuple[object, ...], Row]] = []
            for row in self.rows.get(code, ()):
                moment = self.moment(row.get(model.time_field))
                if moment is None or not start <= moment < end:
                    continue
                label = None if unit is None else self.truncate(moment, unit)
                group: tuple[object, ...] = (
                    () if self.group_by is None else (self.dimension(code, row),))
                placed.append((label, group, row))
            in_range[code] = placed
        results: dict[tuple[datetime.datetime | None, tuple[object, ...]], OracleValue] = {}
        for bucket in self.buckets(start, end, unit):
            groups = {group for placed in in_range.values()
                      for label, group, _ in placed if label == bucket.label}
            if self.group_by is None:
                groups = {()}
            for group in groups:
                selected = {code: [row for label, row_group, row in placed
                                   if label == bucket.label and row_group == group]
                            for code, placed in in_range.items()}
                results[(bucket.label, group)] = self.value(tree, selected, bucket, ())
        return results

    def aggregated_models(self, node: ast.Expression, seen: set[str]) -> set[str]:
        if isinstance(node, ast.Aggregate):
            return {self.first_path(node.argument).segments[0]}
        if isinstance(node, ast.KpiReference):
            if node.kpi_code in seen:
                raise ValueError(f"kpi() cycle through {node.kpi_code}")
            referenced = parse(self.kpi_formulas[node.kpi_code])
            return self.aggregated_models(referenced, seen | {node.kpi_code})
        found: set[str] = set()
        for child in ast.children(node):
            found |= self.aggregated_models(child, seen)
        return found

    def first_path(self, node: ast.Expression) -> ast.Path:
        if isinstance(node, ast.Path):
            return node
        for child in ast.children(node):
            try:
                return self.first_path(child)
            except LookupError:
                continue
        raise LookupError("no path")

    def dimension(self, code: str, row: Row) -> object:
        assert self.group_by is not None
        return self.read(code, row, tuple(self.group_by[code].split(".")))

    def value(self, node: ast.Expression, rows: Mapping[str, list[Row]], bucket: _Bucket,
              stack: tuple[str, ...]) -> OracleValue:
        match node:
            case ast.NumberLiteral(value=number):
                return OracleValue(float(number))
            case ast.FunctionCall(function=ast.FunctionName.PERIOD_DAYS):
                return OracleValue(bucket.days)
            case ast.FunctionCall(function=ast.FunctionName.ABS, arguments=(operand,)):
                inner = self.value(operand, rows, bucket, stack)
                return inner if inner.value is None else OracleValue(abs(inner.value))
            case ast.Negation(operand=operand):
                inner = self.value(operand, rows, bucket, stack)
                return inner if inner.value is None else OracleValue(-inner.value)
            case ast.Arithmetic(operator=operator, left=left, right=right):
                first = self.value(left, rows, bucket, stack)
                if first.value is None:
                    return first
                second = self.value(right, rows, bucket, stack)
                if second.value is None:
                    return second
                if operator is ast.ArithmeticOperator.DIVIDE and second.value == 0:
                    return OracleValue(None, DIVISION_BY_ZERO)
                return OracleValue(_apply(operator, first.value, second.value))
            case ast.KpiReference(kpi_code=code):
                if code in stack:
                    raise ValueError(f"kpi() cycle through {code}")
                return self.value(parse(self.kpi_formulas[code]), rows, bucket, (*stack, code))
            case ast.Aggregate():
                found = self.aggregate(node, rows)
                return OracleValue(None, NO_DATA) if found is None else OracleValue(found)
        raise ValueError(f"{type(node).__name__} is not allowed at formula level")

    # -- aggregates -----------------------------------------------------------------------------

    def aggregate(self, node: ast.Aggregate, rows: Mapping[str, list[Row]]) -> float | None:
        code = self.first_path(node.argument).segments[0]
        kept = [row for row in rows.get(code, [])
                if node.condition is None or self.truth(node.condition, code, row) is True]
        if node.argument == ast.Path((code,)):
            return float(len(kept))
        values = [value for row in kept
                  if (value := self.row_value(node.argument, code, row)) is not None]
        function = node.function
        if function is ast.AggregateName.COUNT:
            return float(len(values))
        if function is ast.AggregateName.COUNT_DISTINCT:
            return float(len(set(values)))
        if not values:
            return None
        numbers = sorted(float(value) for value in values)  # type: ignore[arg-type]
        if function is ast.AggregateName.SUM:
            return math.fsum(numbers)
        if function is ast.AggregateName.AVG:
            return math.fsum(numbers) / len(numbers)
        if function is ast.AggregateName.MIN:
            return numbers[0]
        if function is ast.AggregateName.MAX:
            return numbers[-1]
        assert node.fraction is not None
        position = float(node.fraction.value) * (len(numbers) - 1)
        below = math.floor(position)
        above = min(below + 1, len(numbers) - 1)
        return numbers[below] + (numbers[above] - numbers[below]) * (position - below)

    # -- rows ---------------------------------------------------------------------------------

    def read(self, code: str, row: Row | None, segments: tuple[str, ...]) -> object:
        if segments and segments[0] == code:
            segments = segments[1:]
        model = self.models[code]
        for name in segments[:-1]:
            if row is None:
                return None
            relationship = model.relationship(name)
            assert relationship is not None, f"{code} has no relationship {name}"
            target = relationship.target_object_model_code
            index = self.index(target, relationship.target_field)
            row = index.get(row.get(relationship.source_field))
            model = self.models[target]
        if row is None:
            return None
        value = row.get(segments[-1])
        field = model.field(segments[-1])
        assert field is not None, f"{model.code} has no field {segments[-1]}"
        if field.type.is_temporal:
            return self.moment(value)
        if field.type in (FieldType.INTEGER, FieldType.DECIMAL) and value is not None:
            return float(value)  # type: ignore[arg-type]
        return value

    def index(self, code: str, key: str) -> dict[object, Row]:
        if (code, key) not in self.indexes:
            self.indexes[(code, key)] = {row.get(key): row for row in self.rows.get(code, ())}
        return self.indexes[(code, key)]

    def row_value(self, node: ast.Expression, code: str, row: Row) -> object:
        match node:
            case ast.Path(segments=segments):
                return self.read(code, row, segments)
            case ast.NumberLiteral(value=number):
                return float(number)
            case ast.StringLiteral(value=value) | ast.BooleanLiteral(value=value):
                return value
            case ast.DateLiteral(value=day):
                return self.moment(day)
            case ast.TimestampLiteral(value=moment):
                return moment
            case ast.Negation(operand=operand):
                inner = self.row_value(operand, code, row)
                return None if inner is None else -float(inner)  # type: ignore[arg-type]
            case ast.Arithmetic(operator=operator, left=left, right=right):
                first = self.row_value(left, code, row)
                second = self.row_value(right, code, row)
                if first is None or second is None:
                    return None
                if operator is ast.ArithmeticOperator.DIVIDE and second == 0:
                    return None
                return _apply(operator, float(first), float(second))  # type: ignore[arg-type]
            case ast.FunctionCall(function=ast.FunctionName.ABS, arguments=(operand,)):
                inner = self.row_value(operand, code, row)
                return None if inner is None else abs(float(inner))  # type: ignore[arg-type]
            case ast.FunctionCall(function=function, arguments=(start, end)):
                first, second = (self.row_value(start, code, row),
                                 self.row_value(end, code, row))
                if not isinstance(first, datetime.datetime) \
                        or not isinstance(second, datetime.datetime):
                    return None
                unit = function.value.removeprefix("duration_")
                return (second - first).total_seconds() / _SECONDS[unit]
        raise ValueError(f"{type(node).__name__} is not a row value")

    def truth(self, node: ast.Expression, code: str, row: Row) -> bool | None:
        """Three-valued: None is SQL's unknown."""
        match node:
            case ast.Logical(operator=operator, left=left, right=right):
                parts = (self.truth(left, code, row), self.truth(right, code, row))
                if operator is ast.LogicalOperator.AND:
                    return False if False in parts else (None if None in parts else True)
                return True if True in parts else (None if None in parts else False)
            case ast.Not(operand=operand):
                inner = self.truth(operand, code, row)
                return None if inner is None else not inner
            case ast.Comparison(left=left, comparator=comparator, right=right):
                first, second = self.row_value(left, code, row), self.row_value(right, code, row)
                if first is None or second is None:
                    return None
                return _compare(comparator, first, second)
            case ast.InList(operand=operand, values=values, negated=negated):
                value = self.row_value(operand, code, row)
                if value is None:
                    return None
                listed = [self.row_value(item, code, row) for item in values]
                return (value in listed) != negated
            case ast.Between(operand=operand, low=low, high=high, negated=negated):
                value = self.row_value(operand, code, row)
                bounds = self.row_value(low, code, row), self.row_value(high, code, row)
                if value is None or None in bounds:
                    return None
                inside = (_compare(ast.Comparator.GE, value, bounds[0])
                          and _compare(ast.Comparator.LE, value, bounds[1]))
                return inside != negated
            case ast.IsNull(operand=operand, negated=negated):
                return (self.row_value(operand, code, row) is None) != negated
            case _:
                value = self.row_value(node, code, row)
                return None if value is None else bool(value)


def _apply(operator: ast.ArithmeticOperator, left: float, right: float) -> float:
    if operator is ast.ArithmeticOperator.ADD:
        return left + right
    if operator is ast.ArithmeticOperator.SUBTRACT:
        return left - right
    if operator is ast.ArithmeticOperator.MULTIPLY:
        return left * right
    return left / right


def _compare(comparator: ast.Comparator, left: object, right: object) -> bool:
    if isinstance(left, Decimal | int):
        left = float(left)
    if isinstance(right, Decimal | int) and not isinstance(right, bool):
        right = float(right)
    if comparator is ast.Comparator.EQ:
        return left == right
    if comparator is ast.Comparator.NE:
        return left != right
    ordered: tuple[float, float] = (left, right)  # type: ignore[assignment]
    if comparator is ast.Comparator.LT:
        return ordered[0] < ordered[1]
    if comparator is ast.Comparator.LE:
        return ordered[0] <= ordered[1]
    if comparator is ast.Comparator.GT:
        return ordered[0] > ordered[1]
    return ordered[0] >= ordered[1]
