"""Compiled KPI formulas and their evaluators, kept per snapshot version.

A client's extended snapshot (catalog plus its custom KPIs) has its own version, so the forms of
two clients' custom KPIs never mix; catalog KPIs are compiled once per catalog version and shared
by every extended snapshot of it. Several versions are held at once (least recently used dropped),
so calculations for different clients never evict each other's forms in the middle of a call; an
evaluator missing anyway is simply compiled again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

from services.calculation.catalog_view import CatalogSnapshot
from services.calculation.formula.compiler import CompiledKpi, FormulaCatalog, compile_kpi
from services.calculation.formula.values import Evaluation, compile_expression

Evaluator = Callable[[Mapping[str, float | None], float], Evaluation]

VERSIONS_HELD = 64


class CompiledKpis:
    def __init__(self, versions_held: int = VERSIONS_HELD) -> None:
        self._versions_held = versions_held
        self._by_version: OrderedDict[str, dict[str, CompiledKpi]] = OrderedDict()
        # By identity of the compiled value expression, which is held too so its id is not
        # reused. Keyed by the expression rather than the form: a form re-keyed for a caller's
        # read scopes is a copy sharing the expression, and must not compile it again.
        self._evaluators: dict[int, tuple[object, Evaluator]] = {}

    def get(self, snapshot: CatalogSnapshot, code: str) -> CompiledKpi:
        version = snapshot.compile_version(code)
        forms = self._by_version.get(version)
        if forms is None:
            forms = self._by_version[version] = {}
            while len(self._by_version) > self._versions_held:
                _, dropped = self._by_version.popitem(last=False)
                for kpi in dropped.values():
                    self._evaluators.pop(id(kpi.value), None)
        self._by_version.move_to_end(version)
        compiled = forms.get(code)
        if compiled is None:
            compiled = forms[code] = compile_kpi(
                code, FormulaCatalog(snapshot.object_models, snapshot.kpis)
            )
            self._evaluators[id(compiled.value)] = (
                compiled.value,
                compile_expression(compiled.value),
            )
        return compiled

    def evaluator(self, kpi: CompiledKpi) -> Evaluator:
        held = self._evaluators.get(id(kpi.value))
        if held is not None and held[0] is kpi.value:
            return held[1]
        return compile_expression(kpi.value)
