"""Recursive-descent parser: formula text to syntax tree.

Grammar (keywords and function names are case-insensitive):

    formula     := condition END
    condition   := conjunction ('or' conjunction)*
    conjunction := negation ('and' negation)*
    negation    := 'not' negation | predicate
    predicate   := additive [ comparator additive
                            | ['not'] 'in' '(' list_value (',' list_value)* ')'
                            | ['not'] 'between' additive 'and' additive
                            | 'is' ['not'] 'null' ]
    additive    := term (('+' | '-') term)*
    term        := unary (('*' | '/') unary)*
    unary       := '-' unary | primary
    primary     := NUMBER | STRING | 'true' | 'false' | 'date' STRING | 'timestamp' STRING
                 | '(' condition ')' | aggregate | function | 'kpi' '(' NAME ')' | path
    aggregate   := AGGREGATE '(' additive [',' NUMBER] ['where' condition] ')'
                   (the `, NUMBER` fraction is required by percentile and only allowed there)
    function    := FUNCTION '(' [additive (',' additive)*] ')'
    path        := NAME ('.' NAME)*
    list_value  := ['-'] NUMBER | STRING | 'true' | 'false' | 'date' STRING | 'timestamp' STRING

Which contexts allow which constructs (no aggregate inside an aggregate, no field outside one,
…) is checked by validation, so that the parser stays a pure syntax check.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from decimal import Decimal

from services.calculation.formula import ast
from services.calculation.formula.ast import Span
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.formula.lexer import Token, TokenKind, tokenize

KEYWORDS = frozenset(
    {"where", "and", "or", "not", "in", "between", "is", "null", "true", "false"}
)
COMPARATORS = {"=": ast.Comparator.EQ, "!=": ast.Comparator.NE, "<>": ast.Comparator.NE,
               "<": ast.Comparator.LT, "<=": ast.Comparator.LE, ">": ast.Comparator.GT,
               ">=": ast.Comparator.GE}
# Nesting of parentheses, calls, `not` and unary minus the parser follows before giving up, and
# the tree height it accepts: both keep every recursive pass far from Python's recursion limit.
MAX_NESTING = 40
MAX_TREE_DEPTH = 200
_AGGREGATES = frozenset(name.value for name in ast.AggregateName)
_FUNCTIONS = frozenset(name.value for name in ast.FunctionName)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse(text: str) -> ast.Expression:
    """The syntax tree of `text`. Raises FormulaError (one diagnostic) on a syntax error."""
    tree = _Parser(tokenize(text)).formula()
    if ast.depth(tree) > MAX_TREE_DEPTH:
        span = tree.span
        raise FormulaError([Diagnostic(span.line, span.column, text[span.start:span.end][:40],
                                       f"formula is too long a chain of operations (more than "
                                       f"{MAX_TREE_DEPTH} levels)")])
    return tree


def _join(first: Span, last: Span) -> Span:
    return Span(first.start, last.end, first.line, first.column)


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.nesting = 0

    # -- token helpers --------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.current
        if token.kind is not TokenKind.END:
            self.index += 1
        return token

    def at(self, kind: TokenKind) -> bool:
        return self.current.kind is kind

    def at_keyword(self, *words: str, token: Token | None = None) -> bool:
        token = token or self.current
        return token.kind is TokenKind.NAME and token.text.lower() in words

    def at_operator(self, *operators: str) -> bool:
        return self.at(TokenKind.OPERATOR) and self.current.text in operators

    def fail(self, expected: str, token: Token | None = None) -> FormulaError:
        token = token or self.current
        return FormulaError([Diagnostic(token.span.line, token.span.column, token.text,
                                        f"expected {expected}, found {token.describe()}")])

    def error_at(self, token: Token, message: str) -> FormulaError:
        return FormulaError([Diagnostic(token.span.line, token.span.column, token.text, message)])

    def expect(self, kind: TokenKind, expected: str) -> Token:
        if self.current.kind is not kind:
            raise self.fail(expected)
        return self.advance()

    def nested(self, parse: Callable[[], ast.Expression]) -> ast.Expression:
        if self.nesting >= MAX_NESTING:
            raise self.error_at(self.current,
                                f"formula nests too deeply (more than {MAX_NESTING} levels)")
        self.nesting += 1
        try:
            return parse()
        finally:
            self.nesting -= 1

    # -- grammar ----------------------------------------------------------------------------

    def formula(self) -> ast.Expression:
        if self.at(TokenKind.END):
            raise self.fail("a formula")
        tree = self.condition()
        if not self.at(TokenKind.END):
            raise self.fail("an operator or end of formula")
        return tree

    def condition(self) -> ast.Expression:
        return self.nested(self._disjunction)

    def _disjunction(self) -> ast.Expression:
        left = self.conjunction()
        while self.at_keyword("or"):
            self.advance()
            right = self.conjunction()
            left = ast.Logical(ast.LogicalOperator.OR, left, right, _join(left.span, right.span))
        return left

    def conjunction(self) -> ast.Expression:
        left = self.negation()
        while self.at_keyword("and"):
            self.advance()
            right = self.negation()
            left = ast.Logical(ast.LogicalOperator.AND, left, right, _join(left.span, right.span))
        return left

    def negation(self) -> ast.Expression:
        if self.at_keyword("not"):
            keyword = self.advance()
            operand = self.nested(self.negation)
            return ast.Not(operand, _join(keyword.span, operand.span))
        return self.predicate()

    def predicate(self) -> ast.Expression:
        left = self.additive()
        if self.at(TokenKind.OPERATOR) and self.current.text in COMPARATORS:
            comparator = COMPARATORS[self.advance().text]
            right = self.additive()
            return ast.Comparison(left, comparator, right, _join(left.span, right.span))
        negated = False
        if self.at_keyword("not"):
            if not self.at_keyword("in", "between", token=self.peek()):
                raise self.fail("'in' or 'between' after 'not'", self.peek())
            self.advance()
            negated = True
        if self.at_keyword("in"):
            return self.in_list(left, negated)
        if self.at_keyword("between"):
            self.advance()
            low = self.additive()
            if not self.at_keyword("and"):
                raise self.fail("'and' between the bounds of 'between'")
            self.advance()
            high = self.additive()
            return ast.Between(left, low, high, negated, _join(left.span, high.span))
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            if not self.at_keyword("null"):
                raise self.fail("'null' or 'not null' after 'is'")
            end = self.advance()
            return ast.IsNull(left, negated, _join(left.span, end.span))
        return left

    def in_list(self, operand: ast.Expression, negated: bool) -> ast.Expression:
        self.advance()
        self.expect(TokenKind.LPAREN, "'(' and a list of values after 'in'")
        values = [self.list_value()]
        while self.at(TokenKind.COMMA):
            self.advance()
            values.append(self.list_value())
        if not self.at(TokenKind.RPAREN):
            raise self.fail("')' or ',' after a value of the 'in' list")
        end = self.advance()
        return ast.InList(operand, tuple(values), negated, _join(operand.span, end.span))

    def list_value(self) -> ast.Literal:
        if self.at_operator("-") and self.peek().kind is TokenKind.NUMBER:
            minus, number = self.advance(), self.advance()
            return ast.NumberLiteral(-Decimal(number.text), _join(minus.span, number.span))
        literal = self.literal()
        if literal is None:
            raise self.fail("a literal value (number, 'text', true, false, date '…')")
        return literal

    def additive(self) -> ast.Expression:
        left = self.term()
        while self.at_operator("+", "-"):
            operator = ast.ArithmeticOperator(self.advance().text)
            right = self.term()
            left = ast.Arithmetic(operator, left, right, _join(left.span, right.span))
        return left

    def term(self) -> ast.Expression:
        left = self.unary()
        while self.at_operator("*", "/"):
            operator = ast.ArithmeticOperator(self.advance().text)
            right = self.unary()
            left = ast.Arithmetic(operator, left, right, _join(left.span, right.span))
        return left

    def unary(self) -> ast.Expression:
        if self.at_operator("-"):
            minus = self.advance()
            operand = self.nested(self.unary)
            return ast.Negation(operand, _join(minus.span, operand.span))
        return self.primary()

    def primary(self) -> ast.Expression:
        token = self.current
        literal = self.literal()
        if literal is not None:
            return literal
        if token.kind is TokenKind.LPAREN:
            self.advance()
            inner = self.condition()
            self.expect(TokenKind.RPAREN, "')' to close '('")
            return inner
        if token.kind is TokenKind.NAME and token.text.lower() not in KEYWORDS:
            if self.peek().kind is TokenKind.LPAREN:
                return self.call()
            return self.path()
        raise self.fail("a value, a field, an aggregate or '('")

    def literal(self) -> ast.Literal | None:
        token = self.current
        if token.kind is TokenKind.NUMBER:
            self.advance()
            return ast.NumberLiteral(Decimal(token.text), token.span)
        if token.kind is TokenKind.STRING:
            self.advance()
            return ast.StringLiteral(token.text[1:-1].replace("''", "'"), token.span)
        if self.at_keyword("true", "false"):
            self.advance()
            return ast.BooleanLiteral(token.text.lower() == "true", token.span)
        if self.at_keyword("date", "timestamp") and self.peek().kind is TokenKind.STRING:
            self.advance()
            return self.temporal(token, self.advance())
        return None

    def temporal(self, keyword: Token, text: Token) -> ast.Literal:
        value = text.text[1:-1]
        span = _join(keyword.span, text.span)
        if keyword.text.lower() == "date":
            try:
                if not _DATE.fullmatch(value):
                    raise ValueError(value)
                return ast.DateLiteral(datetime.date.fromisoformat(value), span)
            except ValueError:
                raise self.error_at(
                    text, f"expected a date as 'YYYY-MM-DD', found {text.text}") from None
        try:
            moment = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise self.error_at(text, "expected an ISO 8601 timestamp with a UTC offset "
                                      f"('2025-01-31T08:00:00Z'), found {text.text}") from None
        if moment.tzinfo is None:
            raise self.error_at(text, f"timestamp {text.text} needs a UTC offset, e.g. "
                                      "'2025-01-31T08:00:00Z'")
        return ast.TimestampLiteral(moment, span)

    def call(self) -> ast.Expression:
        name = self.advance()
        self.advance()  # '('
        lowered = name.text.lower()
        if lowered == "kpi":
            code = self.expect(TokenKind.NAME, "a KPI code in kpi(…)")
            end = self.expect(TokenKind.RPAREN, "')' after the KPI code")
            return ast.KpiReference(code.text, _join(name.span, end.span))
        if lowered in _AGGREGATES:
            return self.nested(lambda: self.aggregate(name, ast.AggregateName(lowered)))
        if lowered in _FUNCTIONS:
            return self.nested(lambda: self.function(name, ast.FunctionName(lowered)))
        known = sorted([*ast.AggregateName, *ast.FunctionName, "kpi"])
        raise self.error_at(name, f"unknown function '{name.text}'; expected one of "
                                  f"{', '.join(known)}")

    def aggregate(self, name: Token, function: ast.AggregateName) -> ast.Expression:
        argument = self.additive()
        fraction = None
        if function is ast.AggregateName.PERCENTILE:
            if not self.at(TokenKind.COMMA):
                raise self.fail("',' and a fraction between 0 and 1 after the argument of "
                                "percentile(), e.g. percentile(ORDER.order_value, 0.9)")
            self.advance()
            number = self.expect(TokenKind.NUMBER, "a fraction between 0 and 1")
            fraction = ast.NumberLiteral(Decimal(number.text), number.span)
        condition = None
        if self.at_keyword("where"):
            self.advance()
            condition = self.condition()
        if not self.at(TokenKind.RPAREN):
            expected = "')'" if condition is not None else "'where' or ')'"
            raise self.fail(f"{expected} after the argument of {function}()")
        end = self.advance()
        return ast.Aggregate(function, argument, condition, fraction, _join(name.span, end.span))

    def function(self, name: Token, function: ast.FunctionName) -> ast.Expression:
        arguments: list[ast.Expression] = []
        if not self.at(TokenKind.RPAREN):
            arguments.append(self.additive())
            while self.at(TokenKind.COMMA):
                self.advance()
                arguments.append(self.additive())
            if not self.at(TokenKind.RPAREN):
                raise self.fail("')' or ',' after argument")
        end = self.advance()
        if len(arguments) != function.arity:
            raise self.error_at(name, f"{function}() takes {function.arity} argument(s), "
                                      f"got {len(arguments)}")
        return ast.FunctionCall(function, tuple(arguments), _join(name.span, end.span))

    def path(self) -> ast.Expression:
        first = self.advance()
        segments, spans = [first.text], [first.span]
        while self.at(TokenKind.DOT):
            self.advance()
            segment = self.current
            if segment.kind is not TokenKind.NAME or segment.text.lower() in KEYWORDS:
                raise self.fail("a field or relationship name after '.'")
            self.advance()
            segments.append(segment.text)
            spans.append(segment.span)
        return ast.Path(tuple(segments), _join(spans[0], spans[-1]), tuple(spans))
