"""Composition root of the config service.

Client configuration ("the order"): clients, custom KPIs, data sources, field mappings,
questionnaires, proposals and demo data. Demo data generation works (the data service generates
and loads the rows); clients and proposals are registered from the contract and answer
UNIMPLEMENTED until the issue that owns them lands.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.config.v1 import config_pb2, config_pb2_grpc, proposal_pb2, proposal_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.adapters.postgres import open_pool, pool_dependency
from services.config.demo_servicer import DemoDataServicer
from services.runtime.pending import pending_service
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfigSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")


async def build(settings: ConfigSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    pool = await open_pool(resources, settings.database_url)
    catalog = await open_peer(resources, settings.catalog_addr, settings.default_deadline_seconds)
    data = await open_peer(resources, settings.data_addr, settings.default_deadline_seconds)
    demo = DemoDataServicer(data)
    pending = [
        pending_service(config_pb2, config_pb2_grpc, "ClientConfigService"),
        pending_service(proposal_pb2, proposal_pb2_grpc, "ProposalService"),
    ]
    return ServiceWiring(
        registrations=[
            lambda server: config_pb2_grpc.add_DemoDataServiceServicer_to_server(demo, server),
            *(service.register for service in pending),
        ],
        service_names=[
            config_pb2.DESCRIPTOR.services_by_name["DemoDataService"].full_name,
            *(service.full_name for service in pending),
        ],
        dependencies=[
            pool_dependency(pool),
            peer_dependency("catalog", catalog),
            peer_dependency("data", data),
        ],
    )
