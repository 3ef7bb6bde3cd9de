"""Composition root of the monitor service.

Systems monitor: health and metrics roll-up of every component.
Its RPCs are registered from the contract and answer UNIMPLEMENTED until the issue that owns them
lands; the process already runs, reports health against its real dependencies and serves
reflection.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.monitor.v1 import monitor_pb2, monitor_pb2_grpc

from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class MonitorSettings(ServiceSettings):
    """No settings beyond the common ones yet."""


async def build(settings: MonitorSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    del settings, resources  # nothing to wire yet

    pending = [
        pending_service(monitor_pb2, monitor_pb2_grpc, "MonitorService"),
    ]
    return ServiceWiring(
        registrations=[service.register for service in pending],
        service_names=[service.full_name for service in pending],
    )
