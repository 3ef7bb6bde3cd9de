"""The compiled evaluator agrees with the tree-walking one on every catalog KPI, for measure
values that include zeros (divisions by zero) and missing values."""

from __future__ import annotations

import random

from services.calculation.formula.compiler import FormulaCatalog, compile_kpi
from services.calculation.formula.values import compile_expression, evaluate, measure_ids
from services.catalog.catalog_files import load_catalog_files


def test_compiled_evaluation_matches_evaluate_on_every_catalog_kpi() -> None:
    catalog = load_catalog_files()
    formulas = FormulaCatalog.from_catalog(catalog)
    chance = random.Random(20261126)
    checked = 0
    for kpi in catalog.kpis:
        compiled = compile_kpi(kpi.code, formulas)
        run = compile_expression(compiled.value)
        ids = sorted(measure_ids(compiled.value))
        for _ in range(40):
            measures = {
                i: chance.choice([None, 0.0, 0.0, 1.0, chance.uniform(-50, 500)]) for i in ids
            }
            days = chance.choice([1 / 1440, 1.0, 30.0])
            assert run(measures, days) == evaluate(compiled.value, measures, days), kpi.code
            checked += 1
    assert checked >= 60 * 40
