"""What the proposal needs from the catalog: each KPI's name, value chain and object models, and the
object models' names. Read from the catalog service, which owns the catalog."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol

import grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.errors import Unavailable
from services.runtime.channels import outbound_timeout


@dataclass(frozen=True)
class CatalogKpi:
    code: str
    name: str
    value_chain_code: str
    object_model_codes: tuple[str, ...]


@dataclass(frozen=True)
class CatalogFacts:
    kpis: Mapping[str, CatalogKpi]
    object_model_names: Mapping[str, str]
    value_chain_names: Mapping[str, str]


@dataclass(frozen=True)
class CustomKpiFacts:
    """What pricing needs of a client's own KPI."""

    code: str
    name: str
    base_kpi_code: str
    object_model_codes: tuple[str, ...]


def with_custom_kpis(facts: CatalogFacts, custom: Iterable[CustomKpiFacts]) -> CatalogFacts:
    """The catalog as one client sees it: its custom KPIs priced like any other KPI (by their
    complexity). A custom KPI is licensed under its base KPI's value chain; a new formula under
    the value chain with the most catalog KPIs reading the same object models."""
    kpis = dict(facts.kpis)
    for kpi in custom:
        base = facts.kpis.get(kpi.base_kpi_code)
        chain = base.value_chain_code if base is not None else _chain_reading(
            facts, set(kpi.object_model_codes))
        kpis[kpi.code] = CatalogKpi(kpi.code, kpi.name, chain, kpi.object_model_codes)
    return replace(facts, kpis=kpis)


def _chain_reading(facts: CatalogFacts, models: set[str]) -> str:
    readers = Counter(k.value_chain_code for k in facts.kpis.values()
                      if models.intersection(k.object_model_codes))
    order = list(facts.value_chain_names)
    ranked = sorted(readers, key=lambda chain: (
        -readers[chain], order.index(chain) if chain in order else len(order)))
    return ranked[0] if ranked else ""


class Catalog(Protocol):
    async def facts(self) -> CatalogFacts: ...


class CatalogServiceFacts:
    """Reads the facts on every call (three small lists), so a reloaded catalog is seen at once;
    the answer is held while the catalog version stays the same."""

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float = 5.0) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._deadline = deadline_seconds
        self._held: tuple[str, CatalogFacts] | None = None

    async def facts(self) -> CatalogFacts:
        try:
            chains = await self._stub.ListValueChains(
                catalog_pb2.ListValueChainsRequest(), timeout=outbound_timeout(self._deadline))
            if self._held is not None and self._held[0] == chains.catalog_version:
                return self._held[1]
            kpis = await self._stub.ListKpis(
                catalog_pb2.ListKpisRequest(), timeout=outbound_timeout(self._deadline))
            models = await self._stub.ListObjectModels(
                catalog_pb2.ListObjectModelsRequest(), timeout=outbound_timeout(self._deadline))
        except grpc.aio.AioRpcError as error:
            raise Unavailable(
                f"the catalog service did not answer ({error.code().name}); retry later"
            ) from error
        facts = CatalogFacts(
            kpis={
                k.code: CatalogKpi(k.code, k.name, k.value_chain_code,
                                   tuple(k.required_object_model_codes))
                for k in kpis.kpis
            },
            object_model_names={m.code: m.name for m in models.object_models},
            value_chain_names={c.code: c.name for c in chains.value_chains},
        )
        self._held = (chains.catalog_version, facts)
        return facts
