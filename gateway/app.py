"""Composition root of the gateway hub.

It serves reflection for every public service (so `grpcurl` against Envoy's public port can list
and describe the whole API), answers health checks for every public service by watching the
component that serves it, and owns the server-streaming StreamService (the stream fan-out hub
lands with the live-streaming issue; until then its RPCs answer UNIMPLEMENTED).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import defaultdict

from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc

from gateway.health_board import report_component_health
from services.adapters.peers import open_peer
from services.adapters.redis_client import open_redis, redis_dependency
from services.runtime.contracts import component_of, public_service_names
from services.runtime.pending import pending_service
from services.runtime.server import ServiceHealth, ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class GatewaySettings(ServiceSettings):
    redis_url: str = env("REDIS_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    calculation_addr: str = env("AE_CALCULATION_ADDR")
    config_addr: str = env("AE_CONFIG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")
    archival_addr: str = env("AE_ARCHIVAL_ADDR")
    ml_addr: str = env("AE_ML_ADDR")
    entities_addr: str = env("AE_ENTITIES_ADDR")
    monitor_addr: str = env("AE_MONITOR_ADDR")
    health_poll_seconds: float = env("AE_HEALTH_POLL_SECONDS", 2.0)

    def component_addresses(self) -> dict[str, str]:
        return {
            "catalog": self.catalog_addr,
            "calculation": self.calculation_addr,
            "config": self.config_addr,
            "data": self.data_addr,
            "archival": self.archival_addr,
            "ml": self.ml_addr,
            "entities": self.entities_addr,
            "monitor": self.monitor_addr,
        }


async def build(settings: GatewaySettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    redis = await open_redis(resources, settings.redis_url)
    streams = pending_service(stream_pb2, stream_pb2_grpc, "StreamService")
    peers = {
        name: await open_peer(resources, address, settings.default_deadline_seconds)
        for name, address in settings.component_addresses().items()
    }
    services_by_component: dict[str, list[str]] = defaultdict(list)
    for service_name in public_service_names():
        services_by_component[component_of(service_name)].append(service_name)

    async def watch_components(health: ServiceHealth) -> None:
        await report_component_health(
            health, peers, services_by_component, settings.health_poll_seconds
        )

    return ServiceWiring(
        registrations=[streams.register],
        service_names=[streams.full_name],
        dependencies=[redis_dependency(redis)],
        background=[watch_components],
        reflection_names=[name for name in public_service_names() if name != streams.full_name],
    )
