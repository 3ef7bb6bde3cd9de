"""A client's own KPI, checked by the formula language exactly as catalog KPIs are: parsed,
validated against the object models, and compiled (which also refuses `kpi()` cycles through the
client's other custom KPIs). A custom KPI becomes a KPI definition that calculation resolves for
that client only."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

from services.calculation.formula.compiler import FormulaCatalog, compile_formula
from services.calculation.formula.errors import FormulaError
from services.calculation.formula.validation import check_formula
from services.catalog.domain import Direction, KpiDefinition, ObjectModel
from services.config.clients.model import CustomKpi, CustomKpiSpec
from services.config.clients.rules import raise_if_any, suggestion
from services.errors import FieldViolation, InText

CODE = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
CUSTOM_TAG = "custom"


@dataclasses.dataclass(frozen=True)
class CheckedCustomKpi:
    direction: Direction
    unit: str
    required_object_model_codes: tuple[str, ...]


def check_custom_kpi(
    spec: CustomKpiSpec,
    object_models: Mapping[str, ObjectModel],
    catalog_kpis: Mapping[str, KpiDefinition],
    own_kpis: Mapping[str, KpiDefinition],
    *,
    prefix: str = "custom_kpi",
) -> CheckedCustomKpi:
    """Raises InvalidArgument naming every field at fault (a formula's problems under
    `<prefix>.formula`, with line and column). `own_kpis` are the client's other custom KPIs,
    which the formula may reference with kpi()."""
    violations: list[FieldViolation] = []
    diagnostics: list[InText] = []

    def bad(field: str, description: str) -> None:
        violations.append(FieldViolation(f"{prefix}.{field}", description))

    if not CODE.match(spec.code):
        bad("code", "use 2-64 characters: A-Z, digits and '_', starting with a letter "
                    "(e.g. 'ACME_POF')")
    elif spec.code in catalog_kpis:
        bad("code", f"{spec.code} is a catalog KPI; a custom KPI needs its own code "
                    f"(e.g. 'MY_{spec.code}')")
    if not spec.name.strip():
        bad("name", "is required")
    base = catalog_kpis.get(spec.base_kpi_code) if spec.base_kpi_code else None
    if spec.base_kpi_code and base is None:
        bad("base_kpi_code", f"unknown catalog KPI {spec.base_kpi_code!r}"
                             f"{suggestion(spec.base_kpi_code, catalog_kpis)}")
    required: tuple[str, ...] = ()
    if not spec.formula.strip():
        bad("formula", "is required")
    else:
        kpis = {**catalog_kpis, **own_kpis}
        kpis.pop(spec.code, None)
        if CODE.match(spec.code):
            # Present while compiling, so a kpi() chain that leads back to this KPI is a cycle.
            kpis[spec.code] = definition_of(spec, "", Direction.HIGHER_IS_BETTER, (), 0)
        own_code = spec.code if CODE.match(spec.code) else None
        try:
            # Compiling also refuses kpi() cycles, which validation alone does not see.
            compile_formula(spec.formula, FormulaCatalog(object_models, kpis), own_code)
            checked = check_formula(spec.formula, object_models, kpis.keys(), own_code)
            # Every model whose rows the value depends on: aggregated, reached through a
            # relationship, or read by a referenced KPI (as catalog KPIs declare theirs).
            models = set(checked.object_model_codes)
            for code in checked.kpi_codes:
                models.update(kpis[code].required_object_model_codes)
            required = tuple(sorted(models))
        except FormulaError as error:
            violations.extend(
                FieldViolation(f"{prefix}.formula", str(d)) for d in error.diagnostics)
            diagnostics.extend(InText(d, spec.formula) for d in error.diagnostics)
    raise_if_any(violations, "the custom KPI is invalid", diagnostics)
    direction = spec.direction or (base.direction if base else Direction.HIGHER_IS_BETTER)
    unit = spec.unit or (base.unit if base else "")
    return CheckedCustomKpi(direction, unit, required)


def definition_of(
    spec: CustomKpiSpec,
    unit: str,
    direction: Direction,
    required_object_model_codes: tuple[str, ...],
    version: int,
    base: KpiDefinition | None = None,
) -> KpiDefinition:
    return KpiDefinition(
        code=spec.code,
        name=spec.name,
        description=spec.description,
        value_chain_code=base.value_chain_code if base else "",
        module_code=base.module_code if base else "",
        unit=unit,
        direction=direction,
        target=spec.target,
        thresholds=spec.thresholds,
        required_object_model_codes=required_object_model_codes,
        formula=spec.formula,
        component_kpi_codes=(),
        tags=(CUSTOM_TAG,),
        catalog_version=f"custom-v{version}",
    )


def stored_definition(kpi: CustomKpi, catalog_kpis: Mapping[str, KpiDefinition]) -> KpiDefinition:
    """The KPI definition calculation uses for a stored custom KPI."""
    return definition_of(
        kpi.spec, kpi.spec.unit, kpi.direction, kpi.required_object_model_codes, kpi.version,
        catalog_kpis.get(kpi.spec.base_kpi_code),
    )
