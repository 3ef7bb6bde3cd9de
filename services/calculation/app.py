"""Composition root of the calculation service.

Calculation engine ("the kitchen"): compiles KPI formulas and computes values on demand, in batches
and continuously.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.adapters.redis_client import open_redis, redis_dependency
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalculationSettings(ServiceSettings):
    redis_url: str = env("REDIS_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")


async def build(
    settings: CalculationSettings, resources: contextlib.AsyncExitStack
) -> ServiceWiring:
    redis = await open_redis(resources, settings.redis_url)
    catalog = await open_peer(resources, settings.catalog_addr, settings.default_deadline_seconds)
    data = await open_peer(resources, settings.data_addr, settings.default_deadline_seconds)
    pending = [
        pending_service(calculation_pb2, calculation_pb2_grpc, "CalculationService"),
        pending_service(calculation_pb2, calculation_pb2_grpc, "CalculationInternalService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
        dependencies=[
            redis_dependency(redis),
            peer_dependency("catalog", catalog),
            peer_dependency("data", data),
        ],
    )
