"""Which object models a KPI reads: the DataChanged events that can move its values."""

from __future__ import annotations

from services.calculation.catalog_view import CatalogView
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi


class KpiModels:
    def __init__(self, catalog: CatalogView) -> None:
        self._catalog = catalog
        self._version = ""
        self._models: dict[str, tuple[str, ...]] = {}

    async def object_models(self, kpi_code: str) -> tuple[str, ...]:
        """Raises NotFound for an unknown KPI and InvalidArgument for one that does not compile."""
        snapshot = await self._catalog.snapshot()
        if snapshot.version != self._version:
            self._version, self._models = snapshot.version, {}
        models = self._models.get(kpi_code)
        if models is None:
            snapshot.kpi(kpi_code)
            compiled = compile_kpi(kpi_code, FormulaCatalog(snapshot.object_models, snapshot.kpis))
            models = self._models[kpi_code] = compiled.object_model_codes
        return models
