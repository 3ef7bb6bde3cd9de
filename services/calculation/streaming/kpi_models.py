"""Which object models a KPI reads: the DataChanged events that can move its values. A client's
custom KPIs are resolved for that client only."""

from __future__ import annotations

from services.calculation.catalog_view import CatalogView
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi
from services.calculation.formula.row_access import effective_rules, hierarchy_model_codes

# Distinct (version, KPI) entries held; cleared beyond it (a catalog has ~100 KPIs).
MAX_ENTRIES = 10_000


class KpiModels:
    def __init__(self, catalog: CatalogView) -> None:
        self._catalog = catalog
        self._models: dict[tuple[str, str], tuple[str, ...]] = {}
        self._hierarchies: dict[tuple[str, str], tuple[str, ...]] = {}

    async def object_models(self, kpi_code: str, client_id: str = "") -> tuple[str, ...]:
        """Raises NotFound for an unknown KPI and InvalidArgument for one that does not compile."""
        snapshot = await self._catalog.snapshot_for(client_id, [kpi_code])
        key = (snapshot.compile_version(kpi_code), kpi_code)
        models = self._models.get(key)
        if models is None:
            snapshot.kpi(kpi_code)
            compiled = compile_kpi(kpi_code, FormulaCatalog(snapshot.object_models, snapshot.kpis))
            if len(self._models) >= MAX_ENTRIES:
                self._models.clear()
            models = self._models[key] = compiled.object_model_codes
        return models

    async def hierarchy_models(self, kpi_code: str, client_id: str = "") -> tuple[str, ...]:
        """The hierarchies the row security of the KPI (or of a KPI it inlines) walks: for a
        viewer limited to a subtree, a change to them moves the KPI too."""
        snapshot = await self._catalog.snapshot_for(client_id, [kpi_code])
        key = (snapshot.compile_version(kpi_code), kpi_code)
        hierarchies = self._hierarchies.get(key)
        if hierarchies is None:
            snapshot.kpi(kpi_code)
            compiled = compile_kpi(kpi_code, FormulaCatalog(snapshot.object_models, snapshot.kpis))
            related = (kpi_code, *compiled.referenced_kpi_codes)
            rules = effective_rules(
                kpi_code,
                compiled.referenced_kpi_codes,
                {c: snapshot.kpis[c].row_access for c in related if c in snapshot.kpis},
            )
            if len(self._hierarchies) >= MAX_ENTRIES:
                self._hierarchies.clear()
            hierarchies = self._hierarchies[key] = hierarchy_model_codes(rules)
        return hierarchies
