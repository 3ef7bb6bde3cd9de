"""Composition root of the data service.

Data service: time-series tables, durable idempotent ingest (DataService), aggregate queries and
data versions (DataInternalService), change events (the outbox relay publishes each committed
change to the bus as DataChanged). The catalog's object models are read from the
catalog data files at start (the same files the catalog service loads), so a broken catalog stops
the process with a message naming the file and item. Internal RPCs no issue has implemented yet
answer UNIMPLEMENTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import pathlib

from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.adapters.postgres import open_pool, pool_dependency
from services.adapters.redis_client import open_redis
from services.catalog.catalog_files import DEFAULT_DATA_DIR, load_catalog_files
from services.data.aggregates import (
    COMBINED_KEPT,
    LONGEST_COMBINED_KEPT,
    READ_SETTINGS,
    AggregateReader,
)
from services.data.ingest_servicer import IngestServicer
from services.data.internal_servicer import DataInternalServicer
from services.data.relay import OutboxRelay
from services.demo.rpc import generate_demo_rows
from services.demo.settling import DistinctCountSettler
from services.runtime.server import ServiceHealth, ServiceWiring
from services.runtime.settings import ServiceSettings, env

DATA_SERVICE = data_pb2.DESCRIPTOR.services_by_name["DataService"].full_name
DATA_INTERNAL_SERVICE = data_pb2.DESCRIPTOR.services_by_name["DataInternalService"].full_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataSettings(ServiceSettings):
    database_url: str = env("DATABASE_URL")
    redis_url: str = env("REDIS_URL")
    catalog_data_dir: str = env("AE_CATALOG_DATA_DIR", str(DEFAULT_DATA_DIR))


async def build(settings: DataSettings, resources: contextlib.AsyncExitStack) -> ServiceWiring:
    catalog = await asyncio.to_thread(load_catalog_files, pathlib.Path(settings.catalog_data_dir))
    object_models = {model.code: model for model in catalog.object_models}
    pool = await open_pool(resources, settings.database_url)
    # Aggregate reads and the relay have connections of their own: a burst of ingest
    # transactions never makes a live recomputation or a change announcement queue for one.
    # Reads are single statements in read-only sessions: nothing to reset between uses.
    read_pool = await open_pool(
        resources, settings.database_url, server_settings=READ_SETTINGS, stateless_sessions=True
    )
    # Short reads (a live round's) keep the statements that recur prepared (see COMBINED_KEPT).
    short_read_pool = await open_pool(
        resources,
        settings.database_url,
        max_size=4,
        server_settings=READ_SETTINGS,
        stateless_sessions=True,
        statements_kept=COMBINED_KEPT,
        longest_statement_kept=LONGEST_COMBINED_KEPT,
    )
    relay_pool = await open_pool(resources, settings.database_url, max_size=2)
    # Writes the distinct counts of settled buckets that reads counted (one at a time).
    settled_pool = await open_pool(resources, settings.database_url, max_size=1)
    redis = await open_redis(resources, settings.redis_url)
    ingest = IngestServicer(pool, object_models)
    # Counts the distinct counts of a demo load's range once it is loaded, so they are kept
    # before anyone asks (services.demo.settling).
    settler = DistinctCountSettler(
        AggregateReader(read_pool, object_models, settled_writes=settled_pool), pool, catalog
    )
    resources.push_async_callback(settler.close)
    # The generated stub declares every RPC abstract; the ones this servicer leaves to the base
    # class answer UNIMPLEMENTED (the runtime maps the base's NotImplementedError).
    internal = DataInternalServicer(  # type: ignore[abstract]
        read_pool,
        object_models,
        demo_generator=functools.partial(
            generate_demo_rows, pool, object_models, settler=settler
        ),
        settled_writes=settled_pool,
        short_reads=short_read_pool,
    )
    relay = OutboxRelay(relay_pool, redis)

    async def relay_changes(health: ServiceHealth) -> None:
        await relay.run()

    return ServiceWiring(
        registrations=[
            lambda server: data_pb2_grpc.add_DataServiceServicer_to_server(ingest, server),
            lambda server: data_pb2_grpc.add_DataInternalServiceServicer_to_server(
                internal, server
            ),
        ],
        service_names=[DATA_SERVICE, DATA_INTERNAL_SERVICE],
        # Not Redis: ingest must keep working while the bus is down (the relay catches up).
        dependencies=[pool_dependency(pool)],
        background=[relay_changes],
    )
