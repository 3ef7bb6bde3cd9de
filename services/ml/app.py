"""Composition root of the ml service.

Machine-learning support service: KPI forecasts and anomaly detection.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.ml.v1 import ml_pb2, ml_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class MlSettings(ServiceSettings):
    calculation_addr: str = env("AE_CALCULATION_ADDR")


async def build(settings: MlSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    calculation = await open_peer(
        resources, settings.calculation_addr, settings.default_deadline_seconds
    )
    pending = [
        pending_service(ml_pb2, ml_pb2_grpc, "MlService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
        dependencies=[peer_dependency("calculation", calculation)],
    )
