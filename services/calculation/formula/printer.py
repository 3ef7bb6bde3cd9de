"""Syntax tree to canonical formula text: lowercase keywords, single spaces, `!=`, and only the
parentheses the tree needs, so that parse(to_text(tree)) == tree."""

from __future__ import annotations

from services.calculation.formula import ast

# Binding strength of each construct; an operand weaker than its position requires is
# parenthesised. Mirrors the grammar in `parser`.
_OR, _AND, _NOT, _PREDICATE, _ADDITIVE, _TERM, _UNARY, _PRIMARY = range(1, 9)
_ARITHMETIC = {
    ast.ArithmeticOperator.ADD: _ADDITIVE,
    ast.ArithmeticOperator.SUBTRACT: _ADDITIVE,
    ast.ArithmeticOperator.MULTIPLY: _TERM,
    ast.ArithmeticOperator.DIVIDE: _TERM,
}


def to_text(tree: ast.Expression) -> str:
    return _print(tree, 0)


def literal_text(literal: ast.Literal) -> str:
    match literal:
        case ast.NumberLiteral(value=value):
            return format(value, "f")
        case ast.StringLiteral(value=value):
            return "'" + value.replace("'", "''") + "'"
        case ast.BooleanLiteral(value=value):
            return "true" if value else "false"
        case ast.DateLiteral(value=value):
            return f"date '{value.isoformat()}'"
        case ast.TimestampLiteral(value=value):
            return f"timestamp '{value.isoformat()}'"


def _strength(node: ast.Expression) -> int:
    match node:
        case ast.Logical(operator=operator):
            return _OR if operator is ast.LogicalOperator.OR else _AND
        case ast.Not():
            return _NOT
        case ast.Comparison() | ast.InList() | ast.Between() | ast.IsNull():
            return _PREDICATE
        case ast.Arithmetic(operator=operator):
            return _ARITHMETIC[operator]
        case ast.Negation():
            return _UNARY
        case ast.NumberLiteral(value=value) if value < 0:
            return _UNARY
        case _:
            return _PRIMARY


def _print(node: ast.Expression, required: int) -> str:
    text = _bare(node)
    return f"({text})" if _strength(node) < required else text


def _bare(node: ast.Expression) -> str:
    match node:
        case ast.Logical(operator=operator, left=left, right=right):
            strength = _strength(node)
            return f"{_print(left, strength)} {operator} {_print(right, strength + 1)}"
        case ast.Not(operand=operand):
            return f"not {_print(operand, _NOT)}"
        case ast.Comparison(left=left, comparator=comparator, right=right):
            return f"{_print(left, _ADDITIVE)} {comparator} {_print(right, _ADDITIVE)}"
        case ast.InList(operand=operand, values=values, negated=negated):
            listed = ", ".join(literal_text(value) for value in values)
            return f"{_print(operand, _ADDITIVE)} {'not in' if negated else 'in'} ({listed})"
        case ast.Between(operand=operand, low=low, high=high, negated=negated):
            keyword = "not between" if negated else "between"
            return (f"{_print(operand, _ADDITIVE)} {keyword} {_print(low, _ADDITIVE)} "
                    f"and {_print(high, _ADDITIVE)}")
        case ast.IsNull(operand=operand, negated=negated):
            return f"{_print(operand, _ADDITIVE)} is {'not null' if negated else 'null'}"
        case ast.Arithmetic(operator=operator, left=left, right=right):
            strength = _strength(node)
            return f"{_print(left, strength)} {operator} {_print(right, strength + 1)}"
        case ast.Negation(operand=operand):
            return f"-{_print(operand, _UNARY)}"
        case ast.Aggregate(function=function, argument=argument, condition=condition,
                           fraction=fraction):
            text = _print(argument, _ADDITIVE)
            if fraction is not None:
                text += f", {literal_text(fraction)}"
            if condition is not None:
                text += f" where {_print(condition, 0)}"
            return f"{function}({text})"
        case ast.FunctionCall(function=function, arguments=arguments):
            return f"{function}({', '.join(_print(item, _ADDITIVE) for item in arguments)})"
        case ast.KpiReference(kpi_code=code):
            return f"kpi({code})"
        case ast.Path(segments=segments):
            return ".".join(segments)
        case _:
            return literal_text(node)
