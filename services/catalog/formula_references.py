"""Checks what a KPI formula refers to, without evaluating it.

The calculation engine owns the formula language (parser, types, compilation). The catalog only
needs to know, when it loads its files, that each formula names real things: object models,
their fields and relationships, other KPIs, and allowed values of enumerated fields. That keeps
the shipped data honest and lets the catalog list the object models a formula reads.

Scoping rule: an aggregate (`count(ORDER where …)`, `sum(ORDER_LINE.quantity …)`) ranges over the
first object model named inside its parentheses; unqualified names inside it are fields of that
model, or `relationship.field` paths from it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Set

from services.catalog.domain import Cardinality, Field, ObjectModel

AGGREGATES = frozenset({"count", "sum", "avg", "min", "max", "count_distinct", "percentile"})
DURATIONS = frozenset({"duration_days", "duration_hours", "duration_minutes"})
SCALAR_FUNCTIONS = DURATIONS | {"abs", "round", "coalesce", "period_days", "kpi"}
KEYWORDS = frozenset({"where", "and", "or", "not", "in", "between", "is", "null", "true", "false"})

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>|\+|-|\*|/|%)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
    """,
    re.VERBOSE,
)
_COMPARISONS = frozenset({"=", "!=", "<>"})


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


@dataclasses.dataclass(frozen=True)
class FormulaReferences:
    """What a formula refers to. `object_model_codes` includes models reached through
    relationships. `errors` is empty when every reference resolved."""

    object_model_codes: frozenset[str]
    kpi_codes: frozenset[str]
    errors: tuple[str, ...]


def find_references(
    formula: str, object_models: Mapping[str, ObjectModel], kpi_codes: Set[str]
) -> FormulaReferences:
    tokens, errors = _tokenize(formula)
    if errors:
        return FormulaReferences(frozenset(), frozenset(), tuple(errors))
    return _Resolver(tokens, object_models, kpi_codes).run()


def _tokenize(formula: str) -> tuple[list[_Token], list[str]]:
    tokens: list[_Token] = []
    position = 0
    while position < len(formula):
        match = _TOKEN.match(formula, position)
        if match is None:
            return [], [f"column {position + 1}: unexpected character {formula[position]!r}"]
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position + 1))
        position = match.end()
    depth = 0
    for token in tokens:
        depth += {"lparen": 1, "rparen": -1}.get(token.kind, 0)
        if depth < 0:
            return [], [f"column {token.column}: ')' without a matching '('"]
    if depth:
        return [], ["unbalanced parentheses: a '(' is never closed"]
    return tokens, []


class _Resolver:
    def __init__(
        self, tokens: list[_Token], object_models: Mapping[str, ObjectModel], kpi_codes: Set[str]
    ) -> None:
        self.tokens = tokens
        self.models = object_models
        self.kpi_codes = kpi_codes
        self.used_models: set[str] = set()
        self.used_kpis: set[str] = set()
        self.errors: list[str] = []

    def run(self) -> FormulaReferences:
        scope: str | None = None
        scope_end = -1
        index = 0
        while index < len(self.tokens):
            if index > scope_end:
                scope = None
            token = self.tokens[index]
            if token.kind != "name":
                index += 1
                continue
            calls = self._peek(index + 1, "lparen")
            if token.text in AGGREGATES and calls:
                if scope is not None:
                    self._error(token, f"aggregate {token.text}() inside another aggregate")
                scope_end = self._closing(index + 1)
                # "" marks an aggregate whose model is unknown (already reported): its field
                # names cannot be checked, and are not reported again.
                scope = self._aggregate_model(token, index + 2, scope_end) or ""
            elif token.text == "kpi" and calls:
                index = self._kpi_reference(index)
                continue
            elif token.text in SCALAR_FUNCTIONS and calls:
                pass
            elif token.text.lower() in KEYWORDS:
                pass
            else:
                field = self._reference(token, scope)
                if field is not None:
                    self._check_usage(index, token, field)
            index += 1
        return FormulaReferences(
            frozenset(self.used_models), frozenset(self.used_kpis), tuple(self.errors)
        )

    def _aggregate_model(self, token: _Token, start: int, end: int) -> str | None:
        for candidate in self.tokens[start:end]:
            head = candidate.text.split(".")[0]
            if candidate.kind == "name" and head in self.models:
                return head
        self._error(token, f"{token.text}() names no object model")
        return None

    def _kpi_reference(self, index: int) -> int:
        argument = self.tokens[index + 2] if index + 2 < len(self.tokens) else None
        if argument is None or argument.kind != "name" or not self._peek(index + 3, "rparen"):
            self._error(self.tokens[index], "kpi() takes one KPI code, e.g. kpi(SCOR_OTD)")
            return index + 2
        if argument.text not in self.kpi_codes:
            self._error(argument, f"unknown KPI {argument.text}")
        self.used_kpis.add(argument.text)
        return index + 4

    def _reference(self, token: _Token, scope: str | None) -> Field | None:
        if scope == "":
            return None
        segments = token.text.split(".")
        if segments[0] in self.models:
            if scope is None:
                self._error(token, f"{token.text} is used outside an aggregate")
                return None
            if segments[0] != scope:
                self._error(token,
                            f"{token.text} mixes {segments[0]} into an aggregate over {scope}")
                return None
            self.used_models.add(scope)
            return self._resolve_path(token, self.models[scope], segments[1:])
        if segments[0].isupper():
            self._error(token, f"unknown object model {segments[0]}")
            return None
        if scope is None:
            self._error(token, f"field {token.text} is used outside an aggregate")
            return None
        return self._resolve_path(token, self.models[scope], segments)

    def _resolve_path(self, token: _Token, model: ObjectModel, path: list[str]) -> Field | None:
        """Follows relationships to the last segment, a field; an empty path is the model."""
        for name in path[:-1]:
            relationship = model.relationship(name)
            if relationship is None:
                self._error(token, f"{model.code} has no relationship {name!r}")
                return None
            if relationship.cardinality is Cardinality.ONE_TO_MANY:
                self._error(token, f"{model.code}.{name} leads to many rows; use an aggregate over "
                                   f"{relationship.target_object_model_code} instead")
                return None
            target = self.models.get(relationship.target_object_model_code)
            if target is None:
                return None
            model = target
            self.used_models.add(model.code)
        if not path:
            return None
        field = model.field(path[-1])
        if field is None:
            self._error(token, f"{model.code} has no field {path[-1]!r}")
        return field

    def _check_usage(self, index: int, token: _Token, field: Field) -> None:
        """Type-checks the two places where a field's use is easy to get wrong in data files:
        duration arguments, and comparisons of enumerated fields with literals."""
        if self._enclosing_call(index) in DURATIONS and not field.type.is_temporal:
            self._error(token, f"{token.text} is {field.type}, not a timestamp or date")
        if not field.allowed_values:
            return
        for literal in self._compared_literals(index):
            if literal.text[1:-1] not in field.allowed_values:
                self._error(literal, f"{literal.text} is not an allowed value of {token.text} "
                                     f"({', '.join(field.allowed_values)})")

    def _enclosing_call(self, index: int) -> str:
        """Name of the function whose parentheses directly enclose token `index`, or ''."""
        depth = 0
        for position in range(index - 1, -1, -1):
            depth += {"rparen": 1, "lparen": -1}.get(self.tokens[position].kind, 0)
            if depth < 0:
                return self._text(position - 1)
        return ""

    def _compared_literals(self, index: int) -> list[_Token]:
        """String literals the field at `index` is compared with (`= 'x'`, `in ('x', 'y')`)."""
        position = index + 1
        if self._text(position) in _COMPARISONS:
            return [t for t in self.tokens[position + 1:position + 2] if t.kind == "string"]
        if self._text(position).lower() == "not":
            position += 1
        if self._text(position).lower() == "in" and self._peek(position + 1, "lparen"):
            end = self._closing(position + 1)
            return [t for t in self.tokens[position + 2:end] if t.kind == "string"]
        return []

    def _text(self, index: int) -> str:
        return self.tokens[index].text if 0 <= index < len(self.tokens) else ""

    def _closing(self, open_index: int) -> int:
        depth = 0
        for index in range(open_index, len(self.tokens)):
            depth += {"lparen": 1, "rparen": -1}.get(self.tokens[index].kind, 0)
            if depth == 0:
                return index
        return len(self.tokens) - 1

    def _peek(self, index: int, kind: str) -> bool:
        return index < len(self.tokens) and self.tokens[index].kind == kind

    def _error(self, token: _Token, message: str) -> None:
        self.errors.append(f"column {token.column}: {message}")
