"""Composition root of the calculation service ("the kitchen").

On demand: Calculate, CalculateBatch, CalculateDashboard and ExportCalculation compile catalog
formulas, ask the data service for the aggregates they need, and cache answers in Redis keyed by
data version. The catalog is read from the catalog service and refreshed when its version
moves; a client's custom KPIs come from the config service, for that client only.
Live: CalculationInternalService keeps the gateway hubs' subscription leases and serves their
snapshots, and a consumer of the data-changed stream (consumer group `calculation`, shared by the
replicas) recomputes what live subscriptions show and publishes the values that changed.
The rest of the contract (batch jobs, history) lands with later issues and answers UNIMPLEMENTED
until then.
"""

from __future__ import annotations

import contextlib
import dataclasses

from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc

from services.adapters.peers import open_peer, peer_dependency
from services.adapters.redis_client import open_redis, redis_dependency
from services.bus.names import CALCULATION_GROUP, DATA_CHANGED_STREAM
from services.bus.streams import ConsumerSettings, StreamConsumer, consumer_name
from services.calculation import messages
from services.calculation.allocator import keep_large_allocations_on_the_heap
from services.calculation.answers import Answers
from services.calculation.cache import ResultCache
from services.calculation.calculator import Calculator
from services.calculation.catalog_view import CatalogView
from services.calculation.client_kpis import ClientKpis
from services.calculation.data_client import DataServiceSource
from services.calculation.servicer import CalculationServicer, registration
from services.calculation.streaming.kpi_models import KpiModels
from services.calculation.streaming.published import PublishedValues
from services.calculation.streaming.recompute import Recomputer
from services.calculation.streaming.registry import LeaseRegistry
from services.calculation.streaming.servicer import CalculationInternalServicer
from services.runtime.server import ServiceHealth, ServiceWiring
from services.runtime.settings import ServiceSettings, env

SERVICE_NAME = calculation_pb2.DESCRIPTOR.services_by_name["CalculationService"].full_name
INTERNAL_SERVICE_NAME = calculation_pb2.DESCRIPTOR.services_by_name[
    "CalculationInternalService"
].full_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class CalculationSettings(ServiceSettings):
    redis_url: str = env("REDIS_URL")
    catalog_addr: str = env("AE_CATALOG_ADDR")
    data_addr: str = env("AE_DATA_ADDR")
    # Where clients' custom KPIs come from; empty to calculate catalog KPIs only.
    config_addr: str = env("AE_CONFIG_ADDR", "")
    # Aggregates over large ranges take longer than the default outbound deadline.
    query_deadline_seconds: float = env("AE_QUERY_DEADLINE_SECONDS", 30.0)
    cache_ttl_seconds: int = env("AE_RESULT_CACHE_TTL_SECONDS", 900)
    # Results each replica also keeps in its own memory (0 turns the local copies off).
    local_cache_megabytes: int = env("AE_RESULT_CACHE_LOCAL_MB", 64)
    # Whole batch and dashboard answers, kept besides their results (see answers.py). Each is
    # megabytes and new data makes a new one, so Redis keeps them briefly: long enough for the
    # other replicas to be asked the same.
    answer_cache_ttl_seconds: int = env("AE_ANSWER_CACHE_TTL_SECONDS", 120)
    answer_cache_local_megabytes: int = env("AE_ANSWER_CACHE_LOCAL_MB", 64)
    catalog_refresh_seconds: float = env("AE_CATALOG_REFRESH_SECONDS", 60.0)
    # How many buckets back a data change still moves a live value.
    live_window_buckets: int = env("AE_LIVE_WINDOW_BUCKETS", 30)
    # Live recomputations under way at once. More let a change arriving during one start its own
    # at once (an older one finishing later never moves a value back), but each is mostly the
    # data service's query, and queries at once slow each other down: measured, one was as fast.
    live_concurrency: int = env("AE_LIVE_CONCURRENCY", 1)


async def build(
    settings: CalculationSettings, resources: contextlib.AsyncExitStack
) -> ServiceWiring:
    # Cached dashboards are megabytes, copied on every call: off fresh pages (see allocator).
    keep_large_allocations_on_the_heap()
    redis = await open_redis(resources, settings.redis_url)
    catalog_channel = await open_peer(
        resources, settings.catalog_addr, settings.default_deadline_seconds
    )
    data_channel = await open_peer(resources, settings.data_addr, settings.query_deadline_seconds)
    # Not a readiness dependency: catalog KPIs are calculated while the config service is away.
    client_kpis = (
        ClientKpis(
            await open_peer(resources, settings.config_addr, settings.default_deadline_seconds)
        )
        if settings.config_addr
        else None
    )
    catalog = CatalogView(catalog_channel, client_kpis)
    source = DataServiceSource(data_channel)
    calculator = Calculator(
        catalog,
        source,
        ResultCache(
            redis,
            settings.cache_ttl_seconds,
            local_bytes=settings.local_cache_megabytes * 1024 * 1024,
        ),
        encode=messages.encode_result,
    )
    answers = Answers(
        calculator,
        ResultCache(
            redis,
            settings.answer_cache_ttl_seconds,
            local_bytes=settings.answer_cache_local_megabytes * 1024 * 1024,
        ),
    )
    # Batch jobs and history are not built yet: the generated base answers UNIMPLEMENTED for them.
    servicer = CalculationServicer(calculator, answers, catalog)  # type: ignore[abstract]
    registry = LeaseRegistry(redis)
    internal = CalculationInternalServicer(registry, KpiModels(catalog), calculator)
    # Live recomputation follows data versions that just moved: a cache would only miss and fill.
    recomputer = Recomputer(
        registry,
        PublishedValues(redis),
        Calculator(catalog, source, None, encode=messages.encode_result),
        window_buckets=settings.live_window_buckets,
    )
    consumer = StreamConsumer(
        redis,
        DATA_CHANGED_STREAM,
        CALCULATION_GROUP,
        consumer_name("calculation"),
        ConsumerSettings(concurrency=settings.live_concurrency),
    )

    async def keep_catalog_fresh(health: ServiceHealth) -> None:
        await catalog.keep_fresh(settings.catalog_refresh_seconds)

    async def recompute_live_subscriptions(health: ServiceHealth) -> None:
        await consumer.run(recomputer.handle)

    return ServiceWiring(
        registrations=[
            # Dashboards and batches are answered with results joined in wire form.
            registration(servicer),
            lambda server: calculation_pb2_grpc.add_CalculationInternalServiceServicer_to_server(
                internal, server
            ),
        ],
        service_names=[SERVICE_NAME, INTERNAL_SERVICE_NAME],
        dependencies=[
            redis_dependency(redis),
            peer_dependency("catalog", catalog_channel),
            peer_dependency("data", data_channel),
        ],
        on_ready=[catalog.refresh],
        background=[keep_catalog_fresh, recompute_live_subscriptions],
    )
