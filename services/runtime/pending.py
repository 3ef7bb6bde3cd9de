"""Registering a service whose RPCs a later piece of work implements.

The generated base servicer answers every RPC with UNIMPLEMENTED (the runtime maps its
NotImplementedError); registering it keeps the contract visible (reflection, health, Envoy routes)
before the behaviour exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import grpc


@dataclass(frozen=True)
class PendingService:
    full_name: str
    register: Callable[[grpc.aio.Server], None]


def pending_service(pb2: ModuleType, pb2_grpc: ModuleType, name: str) -> PendingService:
    servicer_class = getattr(pb2_grpc, f"{name}Servicer")
    add_to_server = getattr(pb2_grpc, f"add_{name}Servicer_to_server")

    def register(server: grpc.aio.Server) -> None:
        add_to_server(servicer_class(), server)

    return PendingService(pb2.DESCRIPTOR.services_by_name[name].full_name, register)
