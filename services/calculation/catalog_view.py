"""The calculation service's view of the catalog: every KPI definition and object model, read
from the catalog service over gRPC and refreshed when the catalog version changes.

A client's custom KPIs extend the catalog for that client only (`snapshot_for`): its snapshot
holds the catalog plus the client's own definitions, under a version naming the client and the
revision of its set, so compiled formulas and cached results never cross clients. Custom codes
are distinct from catalog codes, so the config service is asked only when a code is not in the
catalog, and catalog KPIs never wait for it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.calculation.client_kpis import MAX_CLIENTS_HELD, ClientKpis
from services.catalog import domain, messages
from services.errors import NotFound, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSnapshot:
    version: str
    kpis: Mapping[str, domain.KpiDefinition]
    object_models: Mapping[str, domain.ObjectModel]
    # For a client's extended snapshot: the catalog version it extends and the client's own codes
    # (a catalog KPI compiles the same in both, since catalog formulas never name custom KPIs).
    catalog_version: str = ""
    custom_codes: frozenset[str] = frozenset()
    # Why the client's custom KPIs could not be read, when they could not: a code missing from
    # the catalog is then unavailable rather than unknown, and only that code fails.
    custom_kpis_unavailable: Unavailable | None = None

    def compile_version(self, code: str) -> str:
        """The version a compiled form of `code` belongs to."""
        return self.version if code in self.custom_codes or not self.catalog_version \
            else self.catalog_version

    def kpi(self, code: str) -> domain.KpiDefinition:
        kpi = self.kpis.get(code.strip().upper())
        if kpi is None and self.custom_kpis_unavailable is not None:
            raise self.custom_kpis_unavailable
        if kpi is None:
            raise NotFound(f"KPI {code!r} does not exist; GET /v1/kpis lists the catalog")
        return kpi


class CatalogView:
    def __init__(self, channel: grpc.aio.Channel, client_kpis: ClientKpis | None = None) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._snapshot: CatalogSnapshot | None = None
        self._lock = asyncio.Lock()
        self._client_kpis = client_kpis
        # Per client: the catalog extended with its custom KPIs, for one catalog version and
        # one revision of the client's set.
        self._extended: dict[str, CatalogSnapshot] = {}

    async def snapshot_for(self, client_id: str, kpi_codes: Iterable[str]) -> CatalogSnapshot:
        """The snapshot that resolves `kpi_codes` for `client_id`: the catalog itself unless a
        code is not in it, then the catalog with the client's custom KPIs."""
        base = await self.snapshot()
        if self._client_kpis is None or not client_id:
            return base
        if all(code.strip().upper() in base.kpis for code in kpi_codes):
            return base
        try:
            custom = await self._client_kpis.current(client_id)
        except Unavailable as error:
            log.warning("custom KPIs unavailable: %s", error, extra={"client_id": client_id})
            return dataclasses.replace(base, custom_kpis_unavailable=error)
        if not custom.kpis:
            return base
        version = f"{base.version}+{client_id}@{custom.revision}"
        held = self._extended.get(client_id)
        if held is None or held.version != version:
            if len(self._extended) >= MAX_CLIENTS_HELD:
                self._extended.clear()
            held = self._extended[client_id] = CatalogSnapshot(
                version=version,
                kpis={**base.kpis, **custom.kpis},
                object_models=base.object_models,
                catalog_version=base.version,
                custom_codes=frozenset(custom.kpis),
            )
        return held

    async def snapshot(self) -> CatalogSnapshot:
        if self._snapshot is None:
            await self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    async def refresh(self) -> None:
        """Reload when the catalog's version differs from the one held."""
        async with self._lock:
            try:
                chains = await self._stub.ListValueChains(catalog_pb2.ListValueChainsRequest())
                if self._snapshot is not None and chains.catalog_version == self._snapshot.version:
                    return
                kpis = await self._stub.ListKpis(catalog_pb2.ListKpisRequest())
                models = await self._stub.ListObjectModels(catalog_pb2.ListObjectModelsRequest())
            except grpc.aio.AioRpcError as error:
                raise Unavailable(
                    f"the catalog service did not answer: {error.code().name}"
                ) from error
            self._snapshot = CatalogSnapshot(
                version=chains.catalog_version,
                kpis={k.code: messages.kpi_from_proto(k) for k in kpis.kpis},
                object_models={
                    m.code: messages.object_model_from_proto(m) for m in models.object_models
                },
            )
            log.info(
                "catalog view loaded",
                extra={"catalog_version": chains.catalog_version, "kpis": len(kpis.kpis)},
            )

    async def keep_fresh(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.refresh()
            except Unavailable as error:
                log.warning("catalog refresh failed: %s", error)
