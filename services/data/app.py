"""Composition root of the data service.

Data service: time-series tables, durable idempotent ingest, aggregate queries and change events.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.adapters.postgres import open_pool, pool_dependency
from services.adapters.redis_client import open_redis, redis_dependency
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    redis_url: str = env("REDIS_URL")


async def build(settings: DataSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    pool = await open_pool(resources, settings.database_url)
    redis = await open_redis(resources, settings.redis_url)
    pending = [
        pending_service(data_pb2, data_pb2_grpc, "DataService"),
        pending_service(data_pb2, data_pb2_grpc, "DataInternalService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
        dependencies=[pool_dependency(pool), redis_dependency(redis)],
    )
