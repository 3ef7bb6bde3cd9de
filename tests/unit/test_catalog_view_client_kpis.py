"""A client's custom KPIs in the calculation service's catalog view: resolved for that client
only, looked up only for codes the catalog lacks, and when the config service is away only
those codes fail."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc
import pytest

from services.calculation.catalog_view import CatalogSnapshot, CatalogView
from services.calculation.client_kpis import ClientKpiSet
from services.calculation.compiled_kpis import CompiledKpis
from services.catalog.catalog_files import load_catalog_files
from services.errors import NotFound, Unavailable

CATALOG = load_catalog_files()
BASE = CatalogSnapshot(
    version="catalog-1",
    kpis={kpi.code: kpi for kpi in CATALOG.kpis},
    object_models={model.code: model for model in CATALOG.object_models},
)
POF = BASE.kpis["SCOR_POF"]
MINE = dataclasses.replace(POF, code="ACME_POF", formula="count(ORDER where channel = 'web')")


class FakeClientKpis:
    def __init__(self, sets: dict[str, ClientKpiSet], down: bool = False) -> None:
        self.sets = sets
        self.down = down
        self.asked: list[str] = []

    async def current(self, client_id: str) -> ClientKpiSet:
        self.asked.append(client_id)
        if self.down:
            raise Unavailable("the config service did not answer (UNAVAILABLE)")
        return self.sets.get(client_id, ClientKpiSet(client_id, 0, {}))


class FixedCatalog(CatalogView):
    def __init__(self, client_kpis: Any) -> None:
        # Never called: the catalog is fixed.
        super().__init__(grpc.aio.insecure_channel("127.0.0.1:9"), client_kpis)

    async def snapshot(self) -> CatalogSnapshot:
        return BASE


async def test_custom_kpis_resolve_for_their_client_only() -> None:
    fake = FakeClientKpis({"acme": ClientKpiSet("acme", 3, {"ACME_POF": MINE})})
    view = FixedCatalog(fake)
    acme = await view.snapshot_for("acme", ["ACME_POF", "SCOR_POF"])
    assert acme.kpi("acme_pof") is MINE and acme.kpi("SCOR_POF") is POF
    assert acme.version == "catalog-1+acme@3"
    beta = await view.snapshot_for("beta", ["ACME_POF"])
    with pytest.raises(NotFound):
        beta.kpi("ACME_POF")
    assert fake.asked == ["acme", "beta"]


async def test_catalog_codes_never_ask_the_config_service() -> None:
    fake = FakeClientKpis({}, down=True)
    view = FixedCatalog(fake)
    assert await view.snapshot_for("acme", ["SCOR_POF", "FIN_DSO"]) is BASE
    assert fake.asked == []


async def test_without_the_config_service_only_custom_codes_fail() -> None:
    view = FixedCatalog(FakeClientKpis({}, down=True))
    snapshot = await view.snapshot_for("acme", ["SCOR_POF", "ACME_POF"])
    assert snapshot.kpi("SCOR_POF") is POF
    with pytest.raises(Unavailable, match="config service"):
        snapshot.kpi("ACME_POF")


async def test_compiled_forms_are_shared_for_catalog_kpis_and_kept_apart_for_custom_ones(
) -> None:
    other = dataclasses.replace(MINE, formula="count(ORDER where channel = 'edi')")
    view = FixedCatalog(FakeClientKpis({
        "acme": ClientKpiSet("acme", 1, {"ACME_POF": MINE}),
        "beta": ClientKpiSet("beta", 1, {"ACME_POF": other}),
    }))
    acme = await view.snapshot_for("acme", ["ACME_POF"])
    beta = await view.snapshot_for("beta", ["ACME_POF"])
    compiled = CompiledKpis()
    assert compiled.get(acme, "SCOR_POF") is compiled.get(BASE, "SCOR_POF")
    mine, theirs = compiled.get(acme, "ACME_POF"), compiled.get(beta, "ACME_POF")
    assert mine is not theirs and "'web'" in mine.formula and "'edi'" in theirs.formula
    assert compiled.evaluator(mine) is compiled.evaluator(mine)
