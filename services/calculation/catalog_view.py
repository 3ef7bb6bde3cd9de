"""The calculation service's view of the catalog: every KPI definition and object model, read
from the catalog service over gRPC and refreshed when the catalog version changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.catalog import domain, messages
from services.errors import NotFound, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatalogSnapshot:
    version: str
    kpis: Mapping[str, domain.KpiDefinition]
    object_models: Mapping[str, domain.ObjectModel]

    def kpi(self, code: str) -> domain.KpiDefinition:
        kpi = self.kpis.get(code.strip().upper())
        if kpi is None:
            raise NotFound(f"KPI {code!r} does not exist; GET /v1/kpis lists the catalog")
        return kpi


class CatalogView:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._snapshot: CatalogSnapshot | None = None
        self._lock = asyncio.Lock()

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
