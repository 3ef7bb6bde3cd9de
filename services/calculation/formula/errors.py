"""Formula diagnostics: where a formula is wrong, what was found there and what was expected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.errors import FieldViolation, InvalidArgument


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a formula. `line` and `column` are 1-based and point at the first character
    of `text`, the offending source text ('' at the end of the formula). `kpi_code` names the KPI
    whose formula is at fault when it is not the one being compiled (a `kpi()` reference)."""

    line: int
    column: int
    text: str
    message: str
    kpi_code: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}"
        if self.kpi_code is not None:
            where = f"formula of {self.kpi_code}, {where}"
        return f"{where}: {self.message}"


class FormulaError(InvalidArgument):
    """A formula that cannot be parsed, validated or compiled. Maps to INVALID_ARGUMENT with one
    field violation per diagnostic, and the diagnostics themselves as details."""

    def __init__(self, diagnostics: Iterable[Diagnostic], field: str = "formula") -> None:
        self.diagnostics = tuple(diagnostics)
        if not self.diagnostics:
            raise ValueError("a FormulaError needs at least one diagnostic")
        first = str(self.diagnostics[0])
        more = len(self.diagnostics) - 1
        summary = first if not more else f"{first} (and {more} more problem(s))"
        super().__init__(
            f"{field}: {summary}",
            [FieldViolation(field, str(diagnostic)) for diagnostic in self.diagnostics],
            self.diagnostics,
        )
