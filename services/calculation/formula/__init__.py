"""The KPI formula language: parse, print, validate against the catalog, compile to the shared
aggregate query model, evaluate the value over measure results.

    100 * count(ORDER where status = 'delivered' and delivered_at <= promised_at)
        / count(ORDER where status = 'delivered')

Pure: no grpc, no SQL, no I/O. A formula never becomes SQL text; it becomes `Measure` values
that the data service turns into parameterised SQL. Grammar: `parser`; scoping and types:
`validation`; compilation: `compiler`; division by zero and missing data: `values`.
"""

from services.calculation.formula.compiler import (
    CompiledKpi,
    CompiledKpiSet,
    FormulaCatalog,
    compile_formula,
    compile_kpi,
    compile_kpis,
    merge_measures,
)
from services.calculation.formula.errors import Diagnostic, FormulaError
from services.calculation.formula.parser import parse
from services.calculation.formula.printer import to_text
from services.calculation.formula.queries import aggregate_queries, dimension, value_without_rows
from services.calculation.formula.validation import CheckedFormula, check_formula, validate
from services.calculation.formula.values import Evaluation, NoValueReason, evaluate

__all__ = [
    "CheckedFormula",
    "CompiledKpi",
    "CompiledKpiSet",
    "Diagnostic",
    "Evaluation",
    "FormulaCatalog",
    "FormulaError",
    "NoValueReason",
    "aggregate_queries",
    "check_formula",
    "compile_formula",
    "compile_kpi",
    "compile_kpis",
    "dimension",
    "evaluate",
    "merge_measures",
    "parse",
    "to_text",
    "validate",
    "value_without_rows",
]
