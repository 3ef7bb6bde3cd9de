"""Composition root of the entities service.

Entity resolution support service: matching and de-duplicating records across sources.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.entities.v1 import entities_pb2, entities_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class EntitiesSettings(ServiceSettings):
    data_addr: str = env("AE_DATA_ADDR")


async def build(settings: EntitiesSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    data = await open_peer(resources, settings.data_addr, settings.default_deadline_seconds)
    pending = [
        pending_service(entities_pb2, entities_pb2_grpc, "EntityResolutionService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
        dependencies=[peer_dependency("data", data)],
    )
