"""Composition root of the archival service.

Archival service: retention policies, archives in cold storage with an index, retrieval.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.archival.v1 import archival_pb2, archival_pb2_grpc

from services.adapters.postgres import open_pool, pool_dependency
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArchivalSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")


async def build(settings: ArchivalSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    pool = await open_pool(resources, settings.database_url)
    pending = [
        pending_service(archival_pb2, archival_pb2_grpc, "ArchivalService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
        dependencies=[pool_dependency(pool)],
    )
