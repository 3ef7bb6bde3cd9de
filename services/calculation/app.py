"""Composition root of the calculation service ("the kitchen").

On demand: Calculate, CalculateBatch, CalculateDashboard and ExportCalculation compile catalog
formulas, ask the data service for the aggregates they need, and cache answers in Redis keyed by
data version. The catalog is read from the catalog service and refreshed when its version moves.
The rest of the contract (batch jobs, formula validation, history, the internal streaming RPCs)
lands with later issues and answers UNIMPLEMENTED until then.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.adapters.redis_client import open_redis, redis_dependency
from services.calculation import messages
from services.calculation.cache import ResultCache
from services.calculation.calculator import Calculator
from services.calculation.catalog_view import CatalogView
from services.calculation.data_client import DataServiceSource
from services.calculation.servicer import CalculationServicer
from services.runtime.pending import pending_service
from services.runtime.server import ServiceHealth, ServiceWiring
from services.runtime.settings import ServiceSettings, env

SERVICE_NAME = calculation_pb2.DESCRIPTOR.services_by_name["CalculationService"].full_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalculationSettings(ServiceSettings):
    redis_url: str = env("REDIS_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")
    # Aggregates over large ranges take longer than the default outbound deadline.
    query_deadline_seconds: float = env("AE_QUERY_DEADLINE_SECONDS", 30.0)
    cache_ttl_seconds: int = env("AE_RESULT_CACHE_TTL_SECONDS", 900)
    catalog_refresh_seconds: float = env("AE_CATALOG_REFRESH_SECONDS", 60.0)


async def build(
    settings: CalculationSettings, resources: contextlib.AsyncExitStack
) -> ServiceWiring:
    redis = await open_redis(resources, settings.redis_url)
    catalog_channel = await open_peer(
        resources, settings.catalog_addr, settings.default_deadline_seconds
    )
    data_channel = await open_peer(resources, settings.data_addr, settings.query_deadline_seconds)
    catalog = CatalogView(catalog_channel)
    calculator = Calculator(
        catalog,
        DataServiceSource(data_channel),
        ResultCache(redis, settings.cache_ttl_seconds),
        encode=messages.encode_result,
    )
    # Batch jobs and history are not built yet: the generated base answers UNIMPLEMENTED for them.
    servicer = CalculationServicer(calculator, catalog)  # type: ignore[abstract]
    internal = pending_service(calculation_pb2, calculation_pb2_grpc, "CalculationInternalService")

    async def keep_catalog_fresh(health: ServiceHealth) -> None:
        await catalog.keep_fresh(settings.catalog_refresh_seconds)

    return ServiceWiring(
        registrations=[
            lambda server: calculation_pb2_grpc.add_CalculationServiceServicer_to_server(
                servicer, server
            ),
            internal.register,
        ],
        service_names=[SERVICE_NAME, internal.full_name],
        dependencies=[
            redis_dependency(redis),
            peer_dependency("catalog", catalog_channel),
            peer_dependency("data", data_channel),
        ],
        on_ready=[catalog.refresh],
        background=[keep_catalog_fresh],
    )
