"""Live KPIs end to end, through the real catalog, data and calculation services, PostgreSQL and a
Redis of this module's own: a leased subscription gets a KpiUpdated after ingest whose value is
what Calculate returns for that bucket; unchanged values publish nothing; a change nobody watches
is not computed at all; snapshots match Calculate."""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import asyncpg
import grpc
import pytest
import redis.asyncio as redis
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.events.v1 import events_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import duration_pb2, struct_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from analytics_engine.migrations import apply_migrations
from services.bus.channels import ChannelListener
from services.bus.names import CALCULATION_GROUP, DATA_CHANGED_STREAM
from services.calculation.app import CalculationSettings
from services.calculation.app import build as build_calculation
from services.calculation.streaming.recompute import RECOMPUTATIONS_KEY
from services.catalog.app import CatalogSettings
from services.catalog.app import build as build_catalog
from services.data.app import DataSettings
from services.data.app import build as build_data
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.grpc_servers import running_service
from tests.fixtures.postgres import with_database
from tests.fixtures.redis import RedisServer, free_port

UTC = datetime.UTC
KPI = "SALES_ORDER_REVENUE"  # sum(ORDER.order_value where status != 'cancelled')


@dataclass
class LiveStack:
    calculation: calculation_pb2_grpc.CalculationServiceStub
    internal: calculation_pb2_grpc.CalculationInternalServiceStub
    data: data_pb2_grpc.DataServiceStub
    redis: redis.Redis
    database_url: str
    server: RedisServer
    catalog_address: str
    data_address: str

    async def recomputations(self) -> int:
        return int(await self.redis.get(RECOMPUTATIONS_KEY) or 0)


@pytest.fixture(scope="module")
async def live_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of this module's own: relays of other tests' data services stay away."""
    name = f"test_live_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(postgres_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = with_database(postgres_url, name)
    await apply_migrations(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(postgres_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
def live_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path_factory.mktemp("live-redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def stack(live_database: str, live_redis: RedisServer) -> AsyncIterator[LiveStack]:
    common = {"listen": "127.0.0.1:0", "dependency_check_seconds": 0.1}
    async with (
        running_service(
            build_catalog,
            CatalogSettings(service_name="catalog", database_url=live_database, **common),
        ) as catalog_service,
        running_service(
            build_data,
            DataSettings(
                service_name="data",
                database_url=live_database,
                redis_url=live_redis.url,
                **common,
            ),
        ) as data_service,
        running_service(
            build_calculation,
            CalculationSettings(
                service_name="calculation",
                redis_url=live_redis.url,
                catalog_addr=catalog_service.address,
                data_addr=data_service.address,
                **common,
            ),
        ) as calculation_service,
        channel_with(calculation_service.address, local_tokens().admin()) as calculation_channel,
        channel_with(data_service.address, local_tokens().admin()) as data_channel,
    ):
        client = redis.Redis.from_url(live_redis.url)
        try:
            await _wait_serving(calculation_channel)
            await _wait_serving(data_channel)
            yield LiveStack(
                calculation_pb2_grpc.CalculationServiceStub(calculation_channel),
                calculation_pb2_grpc.CalculationInternalServiceStub(calculation_channel),
                data_pb2_grpc.DataServiceStub(data_channel),
                client,
                live_database,
                live_redis,
                catalog_service.address,
                data_service.address,
            )
        finally:
            await client.aclose()


async def _wait_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for _ in range(300):
        reply = await health.Check(health_pb2.HealthCheckRequest())
        if reply.status == health_pb2.HealthCheckResponse.SERVING:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("service never became SERVING")


@pytest.fixture
def tenant() -> str:
    return f"live-{uuid.uuid4().hex[:8]}"


def subscription(tenant: str, code: str = KPI) -> calculation_pb2.KpiSubscription:
    return calculation_pb2.KpiSubscription(
        kpi_code=code.lower(), client_id=tenant, period=types_pb2.PERIOD_MINUTE
    )


async def lease(
    stack: LiveStack, *subscriptions: calculation_pb2.KpiSubscription, hub: str = "hub-1"
) -> calculation_pb2.LeaseSubscriptionsResponse:
    return await stack.internal.LeaseSubscriptions(
        calculation_pb2.LeaseSubscriptionsRequest(
            hub_id=hub, subscriptions=list(subscriptions), ttl=duration_pb2.Duration(seconds=30)
        ),
        timeout=10,
    )


def an_order(
    value: str, status: str = "open", at: datetime.datetime | None = None
) -> struct_pb2.Struct:
    created = at or datetime.datetime.now(UTC)
    row = struct_pb2.Struct()
    row.update(
        {
            "order_id": f"SO-{uuid.uuid4().hex[:10]}",
            "customer_id": "CUST-1",
            "channel": "web",
            "region": "EMEA",
            "status": status,
            "order_value": value,
            "created_at": created.isoformat(),
            "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
        }
    )
    return row


async def ingest(
    stack: LiveStack, tenant: str, *rows: struct_pb2.Struct
) -> data_pb2.IngestRowsResponse:
    return await stack.data.IngestRows(
        data_pb2.IngestRowsRequest(client_id=tenant, object_model_code="ORDER", rows=list(rows)),
        timeout=10,
    )


async def calculated(
    stack: LiveStack, tenant: str, bucket: datetime.datetime
) -> types_pb2.KpiValue:
    request = calculation_pb2.CalculateRequest(
        kpi_code=KPI, client_id=tenant, period=types_pb2.PERIOD_MINUTE, bypass_cache=True
    )
    request.time_range.start.FromDatetime(bucket)
    request.time_range.end.FromDatetime(bucket + datetime.timedelta(minutes=1))
    reply = await stack.calculation.Calculate(request, timeout=10)
    (value,) = reply.result.series
    return value


async def until(condition: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def all_changes_consumed(stack: LiveStack) -> None:
    """Waits until every outbox row is on the stream and the calculation group handled it."""

    async def relayed() -> bool:
        connection = await asyncpg.connect(stack.database_url)
        try:
            return not await connection.fetchval(
                "SELECT count(*) FROM analytics.change_outbox WHERE relayed_at IS NULL"
            )
        finally:
            await connection.close()

    async def consumed() -> bool:
        last = await stack.redis.xrevrange(DATA_CHANGED_STREAM, count=1)
        if not last:
            return False
        groups = await stack.redis.xinfo_groups(DATA_CHANGED_STREAM)
        names = (CALCULATION_GROUP, CALCULATION_GROUP.encode())
        group = next((g for g in groups if g["name"] in names), None)
        if group is None:  # not created yet (again, after Redis lost it)
            return False
        delivered = group["last-delivered-id"]
        return bool(delivered == last[0][0] and group["pending"] == 0)

    await until(relayed)
    await until(consumed)


async def next_update(listener: ChannelListener, seconds: float = 5.0) -> events_pb2.KpiUpdated:
    message = await listener.get(seconds)
    assert message is not None, "no KpiUpdated arrived"
    return events_pb2.KpiUpdated.FromString(message.data)


async def test_ingest_moves_a_live_kpi_to_what_calculate_returns(
    stack: LiveStack, tenant: str
) -> None:
    reply = await lease(stack, subscription(tenant))
    (granted,) = reply.leases
    assert granted.subscription == subscription(tenant)  # echoed as sent (code in lower case)
    assert granted.channel == f"ae:kpi:{granted.subscription_key}"
    async with ChannelListener(stack.redis) as listener:
        await listener.subscribe([granted.channel])
        started = time.perf_counter()
        await ingest(stack, tenant, an_order("12.50"), an_order("7.25"))
        update = await next_update(listener)
        latency_ms = (time.perf_counter() - started) * 1000
        assert update.subscription_key == granted.subscription_key
        assert update.client_id == tenant and update.period == types_pb2.PERIOD_MINUTE
        assert update.data_versions["ORDER"] >= 1
        (value,) = update.values
        bucket = value.bucket_start.ToDatetime(tzinfo=UTC)
        expected = await calculated(stack, tenant, bucket)
        assert value.value == expected.value == pytest.approx(19.75)
        print(f"ingest acknowledged -> KpiUpdated received: {latency_ms:.1f} ms")

        await ingest(stack, tenant, an_order("0.25"))
        update = await next_update(listener)
        (value,) = update.values
        assert value.value == (await calculated(stack, tenant, bucket)).value == 20.0


async def test_a_change_that_moves_no_value_publishes_nothing(
    stack: LiveStack, tenant: str
) -> None:
    (granted,) = (await lease(stack, subscription(tenant))).leases
    async with ChannelListener(stack.redis) as listener:
        await listener.subscribe([granted.channel])
        await ingest(stack, tenant, an_order("5.00"))
        await next_update(listener)
        await all_changes_consumed(stack)
        before = await stack.recomputations()
        # A cancelled order is not revenue: the KPI is recomputed, its value stays the same.
        await ingest(stack, tenant, an_order("99.00", status="cancelled"))
        await all_changes_consumed(stack)
        assert await stack.recomputations() == before + 1
        assert await listener.get(0.5) is None


async def test_with_no_subscriber_ingest_computes_nothing(stack: LiveStack, tenant: str) -> None:
    # Someone watches a KPI of another object model, and the same KPI for another client.
    await lease(stack, subscription(tenant, "SALES_DEALS_WON"), subscription(f"{tenant}-other"))
    await all_changes_consumed(stack)
    before = await stack.recomputations()
    for _ in range(5):
        await ingest(stack, tenant, an_order("3.00"))
    await all_changes_consumed(stack)
    assert await stack.recomputations() == before


async def test_a_released_subscription_is_no_longer_computed(stack: LiveStack, tenant: str) -> None:
    (granted,) = (await lease(stack, subscription(tenant), hub="hub-x")).leases
    released = await stack.internal.ReleaseSubscriptions(
        calculation_pb2.ReleaseSubscriptionsRequest(hub_id="hub-x"), timeout=10
    )
    assert released.released_count == 1
    await all_changes_consumed(stack)
    before = await stack.recomputations()
    async with ChannelListener(stack.redis) as listener:
        await listener.subscribe([granted.channel])
        await ingest(stack, tenant, an_order("4.00"))
        await all_changes_consumed(stack)
        assert await listener.get(0.3) is None
    assert await stack.recomputations() == before


async def test_snapshots_hold_the_current_bucket_and_history_as_calculate_does(
    stack: LiveStack, tenant: str
) -> None:
    now = datetime.datetime.now(UTC)
    await ingest(stack, tenant, an_order("8.00", at=now - datetime.timedelta(minutes=3)))
    await ingest(stack, tenant, an_order("2.00", at=now))
    reply = await stack.internal.GetKpiSnapshots(
        calculation_pb2.GetKpiSnapshotsRequest(
            subscriptions=[
                subscription(tenant),
                subscription(tenant, "NO_SUCH_KPI"),
                calculation_pb2.KpiSubscription(
                    kpi_code=KPI, client_id=tenant, period=types_pb2.PERIOD_MONTH
                ),
            ],
            history_buckets=10,
        ),
        timeout=10,
    )
    good, unknown, bad_period = reply.snapshots
    assert good.kpi_code == KPI and not good.HasField("error")
    assert len(good.history) == 10
    values = [*good.history, good.current]
    buckets = [v.bucket_start.ToDatetime(tzinfo=UTC) for v in values]
    assert buckets == sorted(buckets) and buckets[-1] <= now < buckets[-1] + datetime.timedelta(
        minutes=1
    )
    for value in (good.current, good.history[-3]):
        expected = await calculated(stack, tenant, value.bucket_start.ToDatetime(tzinfo=UTC))
        assert value.value == expected.value
    assert good.current.value == 2.0 and good.history[-3].value == 8.0
    assert good.history[0].no_value_reason == types_pb2.NO_VALUE_REASON_NO_DATA
    assert good.history[0].HasField("computed_at") and good.history[0].kpi_code == KPI
    assert unknown.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert bad_period.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_leases_refuse_what_cannot_be_watched(stack: LiveStack, tenant: str) -> None:
    reply = await lease(
        stack,
        subscription(tenant),
        subscription(tenant, "NO_SUCH_KPI"),
        calculation_pb2.KpiSubscription(kpi_code=KPI, period=types_pb2.PERIOD_MINUTE),
    )
    assert [lease.subscription.kpi_code for lease in reply.leases] == [KPI.lower()]
    assert [(e.kpi_code, e.status.code) for e in reply.errors] == [
        ("no_such_kpi", grpc.StatusCode.NOT_FOUND.value[0]),
        (KPI, grpc.StatusCode.INVALID_ARGUMENT.value[0]),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stack.internal.LeaseSubscriptions(
            calculation_pb2.LeaseSubscriptionsRequest(subscriptions=[subscription(tenant)]),
            timeout=10,
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_two_replicas_share_the_work_without_computing_anything_twice(
    stack: LiveStack, tenant: str
) -> None:
    replica = CalculationSettings(
        service_name="calculation-2",
        listen="127.0.0.1:0",
        dependency_check_seconds=0.1,
        redis_url=stack.server.url,
        catalog_addr=stack.catalog_address,
        data_addr=stack.data_address,
    )
    (granted,) = (await lease(stack, subscription(tenant))).leases
    async with (
        running_service(build_calculation, replica) as second,
        grpc.aio.insecure_channel(second.address) as channel,
        ChannelListener(stack.redis) as listener,
    ):
        await _wait_serving(channel)
        await listener.subscribe([granted.channel])
        await all_changes_consumed(stack)
        before = await stack.recomputations()
        for number in range(8):
            await ingest(stack, tenant, an_order(f"{number + 1}.00"))
            await next_update(listener)
        await all_changes_consumed(stack)
        consumers = await stack.redis.xinfo_consumers(DATA_CHANGED_STREAM, CALCULATION_GROUP)
    assert await stack.recomputations() == before + 8
    assert len(consumers) >= 2


async def test_after_a_redis_restart_values_converge_with_nothing_missed(
    stack: LiveStack, tenant: str
) -> None:
    ingested: list[tuple[datetime.datetime, float]] = []

    async def ingest_order(value: float) -> data_pb2.IngestRowsResponse:
        moment = datetime.datetime.now(UTC)
        ingested.append((moment, value))
        return await ingest(stack, tenant, an_order(f"{value:.2f}", at=moment))

    def revenue_in(bucket: datetime.datetime) -> float:
        end = bucket + datetime.timedelta(minutes=1)
        return sum(value for moment, value in ingested if bucket <= moment < end)

    (granted,) = (await lease(stack, subscription(tenant))).leases
    async with ChannelListener(stack.redis) as listener:
        await listener.subscribe([granted.channel])
        await ingest_order(1.0)
        await next_update(listener)
    stack.server.stop()
    try:
        for _ in range(3):  # ingest never depends on Redis
            assert (await ingest_order(2.0)).accepted_row_count == 1
    finally:
        stack.server.start()  # empty: leases, published values and the stream are gone
    # The hub renews its leases (retrying until Redis answers) and takes a new snapshot.
    for _ in range(100):
        try:
            await lease(stack, subscription(tenant))
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            await asyncio.sleep(0.1)
    await all_changes_consumed(stack)
    reply = await stack.internal.GetKpiSnapshots(
        calculation_pb2.GetKpiSnapshotsRequest(subscriptions=[subscription(tenant)]), timeout=10
    )
    snapshot = reply.snapshots[0]
    for value in [*snapshot.history, snapshot.current]:
        bucket = value.bucket_start.ToDatetime(tzinfo=UTC)
        assert (value.value if value.HasField("value") else 0.0) == revenue_in(bucket)
    async with ChannelListener(stack.redis) as listener:
        await listener.subscribe([granted.channel])
        await ingest_order(4.0)
        update = await next_update(listener)
    latest = update.values[-1]
    bucket = latest.bucket_start.ToDatetime(tzinfo=UTC)
    assert latest.value == revenue_in(bucket) == (await calculated(stack, tenant, bucket)).value
    assert sum(value for _, value in ingested) == 11.0
