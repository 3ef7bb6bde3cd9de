"""Composition root of the gateway hub.

It serves reflection for every public service (so `grpcurl` against Envoy's public port can list
and describe the whole API), answers health checks for every public service by watching the
component that serves it, and runs the stream fan-out hub behind StreamService (live KPI streams
fed by the calculation service's subscriptions over one Redis pub/sub connection per process).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections import defaultdict

from gateway.health_board import report_component_health
from gateway.memory import give_back_free_heap_every
from gateway.streaming.calculation_client import CalculationSubscriptions
from gateway.streaming.hub import HubSettings, StreamHub
from gateway.streaming.servicer import SERVICE_NAME as STREAM_SERVICE_NAME
from gateway.streaming.servicer import StreamServicer, registration
from gateway.streaming.ticker import TickSettings
from services.adapters.peers import open_peer
from services.adapters.redis_client import open_redis, redis_dependency
from services.runtime.contracts import component_of, public_service_names
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
    # Streams send at most one update per tick, carrying every value that changed meanwhile;
    # ticks are this far apart at least, further while fanning out keeps the hub busy.
    stream_tick_seconds: float = env("AE_STREAM_TICK_SECONDS", 0.025)
    # The largest share of the hub's time that fanning out ticks may take (see ticker).
    stream_fan_out_share: float = env("AE_STREAM_FAN_OUT_SHARE", 0.4)
    # Well inside Envoy's stream_idle_timeout (and any proxy's between the client and Envoy).
    stream_heartbeat_seconds: float = env("AE_STREAM_HEARTBEAT_SECONDS", 15.0)
    subscription_lease_seconds: float = env("AE_SUBSCRIPTION_LEASE_SECONDS", 30.0)
    stream_max_pending_values: int = env("AE_STREAM_MAX_PENDING_VALUES", 5000)
    # How often free heap memory goes back to the system (gateway.memory); 0 never.
    heap_trim_seconds: float = env("AE_HEAP_TRIM_SECONDS", 5.0)

    def hub_settings(self) -> HubSettings:
        return HubSettings(
            tick=TickSettings(
                tick_seconds=self.stream_tick_seconds,
                fan_out_share=self.stream_fan_out_share,
                heartbeat_seconds=self.stream_heartbeat_seconds,
            ),
            lease_ttl_seconds=self.subscription_lease_seconds,
            max_pending_values=self.stream_max_pending_values,
        )

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
    peers = {
        name: await open_peer(resources, address, settings.default_deadline_seconds)
        for name, address in settings.component_addresses().items()
    }
    # Leases are held per hub process: a fresh identity per process, so a restarted hub never
    # inherits (or renews) the leases of its previous life, which lapse on their own.
    hub = StreamHub(
        hub_id=f"hub-{uuid.uuid4().hex[:12]}",
        calculation=CalculationSubscriptions(
            peers["calculation"], settings.default_deadline_seconds
        ),
        redis_url=settings.redis_url,
        settings=settings.hub_settings(),
    )
    services_by_component: dict[str, list[str]] = defaultdict(list)
    for service_name in public_service_names():
        services_by_component[component_of(service_name)].append(service_name)

    async def watch_components(health: ServiceHealth) -> None:
        await report_component_health(
            health, peers, services_by_component, settings.health_poll_seconds
        )

    async def run_hub(_: ServiceHealth) -> None:
        await hub.run()

    async def trim_heap(_: ServiceHealth) -> None:
        if settings.heap_trim_seconds > 0:
            await give_back_free_heap_every(settings.heap_trim_seconds)

    return ServiceWiring(
        registrations=[registration(StreamServicer(hub))],
        service_names=[STREAM_SERVICE_NAME],
        dependencies=[redis_dependency(redis)],
        background=[watch_components, run_hub, trim_heap],
        reflection_names=[name for name in public_service_names() if name != STREAM_SERVICE_NAME],
    )
