"""Composition root of the config service.

Client configuration ("the order"): clients, custom KPIs, data sources, field mappings,
questionnaires, proposals and demo data. Demo data generation works (the data service generates
and loads the rows); clients, custom KPIs, data sources and the required-objects analysis are
served over PostgreSQL with the catalog read from the catalog service; calculation reads a
client's custom KPIs through the internal service. Data-source credentials are sealed with the
key from AE_SECRETS_KEY or `<data dir>/auth/secrets.key`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib

from analytics.config.v1 import config_pb2, config_pb2_grpc, proposal_pb2, proposal_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.adapters.postgres import open_pool, pool_dependency
from services.calculation.catalog_view import CatalogView
from services.config.clients.service import ClientConfig
from services.config.clients.servicer import ClientConfigInternalServicer, ClientConfigServicer
from services.config.demo_servicer import DemoDataServicer
from services.config.proposals.catalog import CatalogServiceFacts
from services.config.proposals.servicer import ProposalServicer
from services.runtime.server import ServiceHealth, ServiceWiring
from services.runtime.settings import ServiceSettings, env
from services.security.secrets import secret_box


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfigSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")
    data_dir: str = env("AE_DATA_DIR", ".data")
    # Comma-separated Fernet keys (the first seals); empty for `<data dir>/auth/secrets.key`.
    secrets_key: str = env("AE_SECRETS_KEY", "")
    catalog_refresh_seconds: float = env("AE_CATALOG_REFRESH_SECONDS", 60.0)


async def build(settings: ConfigSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    pool = await open_pool(resources, settings.database_url)
    catalog = await open_peer(resources, settings.catalog_addr, settings.default_deadline_seconds)
    data = await open_peer(resources, settings.data_addr, settings.default_deadline_seconds)
    demo = DemoDataServicer(data)
    catalog_view = CatalogView(catalog)
    client_config = ClientConfig(
        pool, catalog_view, secret_box(settings.secrets_key, pathlib.Path(settings.data_dir))
    )
    clients = ClientConfigServicer(client_config)
    clients_internal = ClientConfigInternalServicer(client_config)

    async def keep_catalog_fresh(health: ServiceHealth) -> None:
        await catalog_view.keep_fresh(settings.catalog_refresh_seconds)

    proposals = ProposalServicer(pool, CatalogServiceFacts(catalog))
    return ServiceWiring(
        registrations=[
            lambda server: config_pb2_grpc.add_DemoDataServiceServicer_to_server(demo, server),
            lambda server: config_pb2_grpc.add_ClientConfigServiceServicer_to_server(
                clients, server
            ),
            lambda server: config_pb2_grpc.add_ClientConfigInternalServiceServicer_to_server(
                clients_internal, server
            ),
            lambda server: proposal_pb2_grpc.add_ProposalServiceServicer_to_server(
                proposals, server
            ),
        ],
        service_names=[
            config_pb2.DESCRIPTOR.services_by_name["DemoDataService"].full_name,
            config_pb2.DESCRIPTOR.services_by_name["ClientConfigService"].full_name,
            config_pb2.DESCRIPTOR.services_by_name["ClientConfigInternalService"].full_name,
            proposal_pb2.DESCRIPTOR.services_by_name["ProposalService"].full_name,
        ],
        dependencies=[
            pool_dependency(pool),
            peer_dependency("catalog", catalog),
            peer_dependency("data", data),
        ],
        on_ready=[catalog_view.refresh],
        background=[keep_catalog_fresh],
    )
