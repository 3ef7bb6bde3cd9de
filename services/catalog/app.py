"""Composition root of the catalog service ("the menu").

The catalog ships as versioned data files (services/catalog/data). They are read and validated
when the process starts — a broken file stops it with a message naming the file and item — and
loaded into PostgreSQL once the database answers (a no-op when the stored content hash matches).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib

from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from services.adapters.postgres import open_pool, pool_dependency
from services.catalog import repository
from services.catalog.catalog_files import DEFAULT_DATA_DIR, load_catalog_files
from services.catalog.servicer import CatalogServicer
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings, env

log = logging.getLogger(__name__)

SERVICE_NAME = catalog_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class CatalogSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    data_dir: str = env("AE_CATALOG_DATA_DIR", str(DEFAULT_DATA_DIR))


async def build(settings: CatalogSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    catalog = load_catalog_files(pathlib.Path(settings.data_dir))
    pool = await open_pool(resources, settings.database_url)
    servicer = CatalogServicer(pool)

    async def load() -> None:
        replaced = await repository.load_catalog(pool, catalog)
        log.info(
            "catalog %s",
            "loaded" if replaced else "already current",
            extra={"catalog_version": catalog.version, "kpis": len(catalog.kpis)},
        )

    return ServiceWiring(
        registrations=[
            lambda server: catalog_pb2_grpc.add_CatalogServiceServicer_to_server(servicer, server)
        ],
        service_names=[SERVICE_NAME],
        dependencies=[pool_dependency(pool)],
        on_ready=[load],
    )
