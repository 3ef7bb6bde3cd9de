"""Splits formula text into tokens, each with its source span."""

from __future__ import annotations

import bisect
import enum
import re
from dataclasses import dataclass

from services.calculation.formula.ast import Span
from services.calculation.formula.errors import Diagnostic, FormulaError


class TokenKind(enum.Enum):
    NAME = "name"
    NUMBER = "number"
    STRING = "string"
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    DOT = "."
    END = "end of formula"


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    span: Span

    def describe(self) -> str:
        """How a diagnostic names this token: `'where'`, or `end of formula`."""
        return TokenKind.END.value if self.kind is TokenKind.END else f"'{self.text}'"


_PATTERN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator><=|>=|!=|<>|=|<|>|\+|-|\*|/)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<dot>\.)
    """,
    re.VERBOSE,
)
_KINDS = {
    "string": TokenKind.STRING,
    "number": TokenKind.NUMBER,
    "name": TokenKind.NAME,
    "operator": TokenKind.OPERATOR,
    "lparen": TokenKind.LPAREN,
    "rparen": TokenKind.RPAREN,
    "comma": TokenKind.COMMA,
    "dot": TokenKind.DOT,
}


class SourceMap:
    """Turns offsets into 1-based line and column numbers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [index + 1 for index, char in enumerate(text) if char == "\n"]

    def span(self, start: int, end: int) -> Span:
        line = bisect.bisect_right(self._line_starts, start)
        return Span(start, end, line, start - self._line_starts[line - 1] + 1)


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an END token. Raises FormulaError on a character that
    cannot start a token or on an unterminated string."""
    source = SourceMap(text)
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _PATTERN.match(text, position)
        if match is None:
            span = source.span(position, position + 1)
            if text[position] == "'":
                message = "unterminated string literal: expected a closing '"
                span = source.span(position, len(text))
            else:
                message = f"unexpected character {text[position]!r}"
            raise FormulaError([Diagnostic(span.line, span.column, text[position], message)])
        kind = match.lastgroup or "space"
        if kind != "space":
            tokens.append(Token(_KINDS[kind], match.group(), source.span(*match.span())))
        position = match.end()
    tokens.append(Token(TokenKind.END, "", source.span(len(text), len(text))))
    return tokens
