"""The gateway hub against real Redis and a real gRPC server (the gateway through the shared
runtime): snapshot first, coalesced updates, heartbeats, per-KPI errors, one lease and one Redis
subscription per shared subscription, surviving a Redis restart, and StreamEnd on shutdown.

The calculation side here is `SubscriptionBook` below: a minimal CalculationInternalService kept
to the contract, for unit-level tests of the hub's own logic only. The end-to-end test against the
real calculation service replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
import redis.asyncio as redis
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.events.v1 import events_pb2
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc
from analytics.type.v1 import types_pb2
from google.rpc import code_pb2, error_details_pb2
from grpc_status import rpc_status

from gateway.app import GatewaySettings, build
from services.runtime.server import ServiceWiring
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.grpc_servers import running_service
from tests.fixtures.redis import RedisServer

CLIENT = "client-a"


# --- Minimal calculation side (test double of CalculationInternalService; see module doc) ---


def subscription_key(subscription: calculation_pb2.KpiSubscription) -> str:
    return f"{subscription.client_id}:{subscription.kpi_code}:{subscription.period}"


def kpi_value(code: str, value: float, bucket: datetime.datetime) -> types_pb2.KpiValue:
    message = types_pb2.KpiValue(kpi_code=code, value=value, period=types_pb2.PERIOD_MINUTE)
    message.bucket_start.FromDatetime(bucket)
    message.computed_at.GetCurrentTime()
    return message


def current_bucket() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(second=0, microsecond=0)


@dataclass
class SubscriptionBook(calculation_pb2_grpc.CalculationInternalServiceServicer):
    """Leases keyed as the contract says; KPIs named UNKNOWN_* are refused; snapshot values are
    whatever the test put in `values`."""

    values: dict[str, float] = field(default_factory=dict)
    leased: Counter[str] = field(default_factory=Counter)
    released: list[str] = field(default_factory=list)
    # While set, every call fails as a restarting calculation service's would.
    unavailable: bool = False

    async def _answer_or_fail(self, context: Any) -> None:
        if self.unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the calculation service is down")

    async def LeaseSubscriptions(
        self, request: calculation_pb2.LeaseSubscriptionsRequest, context: Any
    ) -> calculation_pb2.LeaseSubscriptionsResponse:
        await self._answer_or_fail(context)
        response = calculation_pb2.LeaseSubscriptionsResponse()
        for subscription in request.subscriptions:
            if subscription.kpi_code.startswith("UNKNOWN"):
                error = response.errors.add(kpi_code=subscription.kpi_code)
                error.status.code = code_pb2.NOT_FOUND
                error.status.message = f"unknown KPI {subscription.kpi_code}"
                continue
            key = subscription_key(subscription)
            self.leased[key] += 1
            response.leases.add(
                subscription_key=key, subscription=subscription, channel=f"ae:kpi:{key}"
            )
        return response

    async def ReleaseSubscriptions(
        self, request: calculation_pb2.ReleaseSubscriptionsRequest, context: Any
    ) -> calculation_pb2.ReleaseSubscriptionsResponse:
        await self._answer_or_fail(context)
        self.released.extend(request.subscription_keys)
        return calculation_pb2.ReleaseSubscriptionsResponse(
            released_count=len(request.subscription_keys)
        )

    async def GetKpiSnapshots(
        self, request: calculation_pb2.GetKpiSnapshotsRequest, context: Any
    ) -> calculation_pb2.GetKpiSnapshotsResponse:
        await self._answer_or_fail(context)
        response = calculation_pb2.GetKpiSnapshotsResponse()
        for subscription in request.subscriptions:
            key = subscription_key(subscription)
            response.snapshots.add(
                subscription_key=key,
                kpi_code=subscription.kpi_code,
                current=kpi_value(
                    subscription.kpi_code, self.values.get(key, 0.0), current_bucket()
                ),
            )
        return response


# --- Harness ---


@dataclass
class Hub:
    address: str
    book: SubscriptionBook
    redis_url: str
    stop: asyncio.Event
    channel: grpc.aio.Channel

    @property
    def stub(self) -> stream_pb2_grpc.StreamServiceStub:
        return stream_pb2_grpc.StreamServiceStub(self.channel)

    async def publish(self, code: str, value: float) -> None:
        """What the calculation side does when a value changes: keep it, then publish it."""
        key = f"{CLIENT}:{code}:{types_pb2.PERIOD_MINUTE}"
        self.book.values[key] = value
        update = events_pb2.KpiUpdated(
            client_id=CLIENT,
            period=types_pb2.PERIOD_MINUTE,
            subscription_key=key,
            values=[kpi_value(code, value, current_bucket())],
        )
        client = redis.Redis.from_url(self.redis_url)
        try:
            await client.publish(f"ae:kpi:{key}", update.SerializeToString())
        finally:
            await client.aclose()


@contextlib.asynccontextmanager
async def calculation_double(book: SubscriptionBook) -> AsyncIterator[str]:
    async def build_book(settings: Any, resources: contextlib.AsyncExitStack) -> ServiceWiring:
        def register(server: grpc.aio.Server) -> None:
            calculation_pb2_grpc.add_CalculationInternalServiceServicer_to_server(book, server)

        return ServiceWiring(registrations=[register], service_names=[])

    async with running_service(build_book) as service:
        yield service.address


@contextlib.asynccontextmanager
async def running_hub(redis_url: str, **overrides: Any) -> AsyncIterator[Hub]:
    book = SubscriptionBook()
    async with calculation_double(book) as calculation_address:
        addresses: dict[str, Any] = {
            name: calculation_address
            for name in (
                "catalog_addr",
                "calculation_addr",
                "config_addr",
                "data_addr",
                "archival_addr",
                "ml_addr",
                "entities_addr",
                "monitor_addr",
            )
        }
        settings = GatewaySettings(
            service_name="gateway",
            listen="127.0.0.1:0",
            dependency_check_seconds=0.1,
            redis_url=redis_url,
            stream_tick_seconds=overrides.pop("tick", 0.05),
            stream_heartbeat_seconds=overrides.pop("heartbeat", 15.0),
            **addresses,
            **overrides,
        )
        async with running_service(build, settings) as service:
            channel = channel_with(service.address, local_tokens().admin())
            try:
                await wait_serving(channel)
                yield Hub(service.address, book, redis_url, service.stop, channel)
            finally:
                await channel.close()


async def wait_serving(channel: grpc.aio.Channel) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)
    for _ in range(100):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        if response.status == health_pb2.HealthCheckResponse.SERVING:
            # Background tasks (the hub) start once serving; give them a moment to connect.
            await asyncio.sleep(0.1)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway never became SERVING")


def dashboard(*codes: str, **changes: Any) -> stream_pb2.StreamDashboardRequest:
    fields: dict[str, Any] = {
        "kpi_codes": list(codes),
        "client_id": CLIENT,
        "period": types_pb2.PERIOD_MINUTE,
    }
    fields.update(changes)
    return stream_pb2.StreamDashboardRequest(**fields)


async def next_message(call: Any, limit: float = 5.0) -> Any:
    async with asyncio.timeout(limit):
        return await call.read()


async def next_of(call: Any, kind: str, limit: float = 5.0) -> Any:
    """Skip heartbeats and other kinds until a message of `kind` arrives."""
    async with asyncio.timeout(limit):
        while True:
            message = await call.read()
            assert message is not grpc.aio.EOF, "the stream closed"
            if message.WhichOneof("event") == kind:
                return message


def values_of(message: Any) -> dict[str, float]:
    return {v.kpi_code: v.value for v in message.update.values}


async def numsub(redis_url: str, channel: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        counts = await client.pubsub_numsub(channel)
        return int(counts[0][1])
    finally:
        await client.aclose()


async def eventually(condition: Any, limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        # Polling Redis and the test double: there is no event to wait on.
        while True:
            if await condition():
                return
            await asyncio.sleep(0.05)


# --- Tests ---


async def test_snapshot_first_then_the_published_change(redis_url: str) -> None:
    async with running_hub(redis_url) as hub:
        hub.book.values[f"{CLIENT}:KPI_A:1"] = 7.0
        call = hub.stub.StreamDashboard(dashboard("KPI_A", "KPI_B"))
        first = await next_message(call)
        assert first.sequence == 1
        assert first.WhichOneof("event") == "snapshot"
        assert [k.kpi_code for k in first.snapshot.kpis] == ["KPI_A", "KPI_B"]
        assert first.snapshot.kpis[0].current.value == 7.0
        assert first.snapshot.period == types_pb2.PERIOD_MINUTE
        assert first.snapshot.heartbeat_interval.seconds == 15
        await hub.publish("KPI_B", 42.0)
        update = await next_of(call, "update")
        assert update.sequence == 2
        assert values_of(update) == {"KPI_B": 42.0}
        call.cancel()


async def test_stream_kpi_serves_one_kpi(redis_url: str) -> None:
    async with running_hub(redis_url) as hub:
        call = hub.stub.StreamKpi(
            stream_pb2.StreamKpiRequest(
                kpi_code="KPI_A", client_id=CLIENT, period=types_pb2.PERIOD_MINUTE
            )
        )
        assert (await next_message(call)).WhichOneof("event") == "snapshot"
        await hub.publish("KPI_A", 3.5)
        assert values_of(await next_of(call, "update")) == {"KPI_A": 3.5}
        call.cancel()


@pytest.mark.parametrize(
    ("request_message", "field_name"),
    [
        (dashboard(), "kpi_codes"),
        (dashboard("KPI_A", period=types_pb2.PERIOD_UNSPECIFIED), "period"),
        (dashboard("KPI_A", period=types_pb2.PERIOD_MONTH), "period"),
        (dashboard("KPI_A", client_id=""), "client_id"),
        (dashboard("KPI_A", ""), "kpi_codes[1]"),
    ],
)
async def test_bad_requests_are_invalid_with_the_field_named(
    redis_url: str, request_message: stream_pb2.StreamDashboardRequest, field_name: str
) -> None:
    async with running_hub(redis_url) as hub:
        call = hub.stub.StreamDashboard(request_message)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await next_message(call)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error.value)  # type: ignore[arg-type]
        assert status is not None
        detail = error_details_pb2.BadRequest()
        assert status.details[0].Unpack(detail)
        assert field_name in [v.field for v in detail.field_violations]


async def test_unknown_kpi_is_an_error_in_the_snapshot_not_a_failed_stream(
    redis_url: str,
) -> None:
    async with running_hub(redis_url) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A", "UNKNOWN_KPI"))
        snapshot = (await next_message(call)).snapshot
        assert [k.kpi_code for k in snapshot.kpis] == ["KPI_A"]
        assert [(e.kpi_code, e.status.code) for e in snapshot.errors] == [
            ("UNKNOWN_KPI", code_pb2.NOT_FOUND)
        ]
        await hub.publish("KPI_A", 1.0)
        assert values_of(await next_of(call, "update")) == {"KPI_A": 1.0}
        call.cancel()


async def test_a_burst_of_changes_arrives_coalesced_with_the_latest_value(
    redis_url: str,
) -> None:
    async with running_hub(redis_url, tick=0.3) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A"))
        await next_message(call)
        for step in range(1, 31):
            await hub.publish("KPI_A", float(step))
        updates: list[Any] = []
        while not updates or values_of(updates[-1]).get("KPI_A") != 30.0:
            updates.append(await next_of(call, "update"))
        # 30 changes within about one tick: one or two messages, never one per change.
        assert len(updates) <= 3
        assert all(len(u.update.values) == 1 for u in updates)
        call.cancel()


async def test_heartbeats_while_nothing_changes(redis_url: str) -> None:
    async with running_hub(redis_url, heartbeat=0.3) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A"))
        await next_message(call)
        beat = await next_message(call, limit=3.0)
        # A minute may open meanwhile: its tick is an update, and the heartbeat follows it.
        while beat.WhichOneof("event") == "update" and beat.update.bucket_opened:
            assert not beat.update.values
            beat = await next_message(call, limit=3.0)
        assert beat.WhichOneof("event") == "heartbeat"
        assert beat.sequence >= 2
        assert beat.heartbeat.next_bucket_start.seconds % 60 == 0
        call.cancel()


async def test_streams_sharing_a_subscription_share_one_lease_and_one_redis_subscription(
    redis_url: str,
) -> None:
    async with running_hub(redis_url) as hub:
        calls = [hub.stub.StreamDashboard(dashboard("KPI_A", "KPI_B")) for _ in range(25)]
        await asyncio.gather(*(next_message(call) for call in calls))
        key_a = f"{CLIENT}:KPI_A:1"
        assert hub.book.leased[key_a] == 1
        assert await numsub(redis_url, f"ae:kpi:{key_a}") == 1
        await hub.publish("KPI_A", 5.0)
        updates = await asyncio.gather(*(next_of(call, "update") for call in calls))
        assert all(values_of(u) == {"KPI_A": 5.0} for u in updates)
        for call in calls[:-1]:
            call.cancel()
        await asyncio.sleep(0.3)
        assert hub.book.released == []
        assert await numsub(redis_url, f"ae:kpi:{key_a}") == 1
        calls[-1].cancel()

        async def released() -> bool:
            return sorted(hub.book.released) == sorted([key_a, f"{CLIENT}:KPI_B:1"])

        await eventually(released)

        async def unsubscribed() -> bool:
            return await numsub(redis_url, f"ae:kpi:{key_a}") == 0

        await eventually(unsubscribed)


async def test_stream_survives_a_redis_restart_and_converges(own_redis: RedisServer) -> None:
    async with running_hub(own_redis.url) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A", "KPI_B"))
        await next_message(call)
        await hub.publish("KPI_A", 1.0)
        assert values_of(await next_of(call, "update")) == {"KPI_A": 1.0}

        own_redis.stop()
        # Changed while Redis was down: the publish was lost, the snapshot after reconnecting
        # carries it.
        hub.book.values[f"{CLIENT}:KPI_B:1"] = 9.0
        await asyncio.sleep(0.5)
        own_redis.start()
        converged = await next_of(call, "update", limit=10.0)
        assert values_of(converged) == {"KPI_B": 9.0}

        async def resubscribed() -> bool:
            return await numsub(own_redis.url, f"ae:kpi:{CLIENT}:KPI_A:1") == 1

        await eventually(resubscribed)
        await hub.publish("KPI_A", 2.0)
        assert values_of(await next_of(call, "update")) == {"KPI_A": 2.0}
        call.cancel()


async def test_the_hub_keeps_serving_through_a_calculation_outage(redis_url: str) -> None:
    # Leases renewed every 0.2 s: several renewals fail during the outage.
    async with running_hub(redis_url, subscription_lease_seconds=0.6) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A"))
        await next_message(call)
        hub.book.unavailable = True
        await asyncio.sleep(1.0)
        # Changed while nobody could ask: the refresh after the outage carries it.
        hub.book.values[f"{CLIENT}:KPI_A:1"] = 4.0
        hub.book.unavailable = False
        assert values_of(await next_of(call, "update")) == {"KPI_A": 4.0}
        # The hub still opens streams, and they move.
        other = hub.stub.StreamDashboard(dashboard("KPI_B"))
        assert (await next_message(other)).WhichOneof("event") == "snapshot"
        await hub.publish("KPI_B", 2.0)
        assert values_of(await next_of(other, "update")) == {"KPI_B": 2.0}
        call.cancel()
        other.cancel()


async def test_shutdown_sends_stream_end_before_closing(redis_url: str) -> None:
    async with running_hub(redis_url) as hub:
        call = hub.stub.StreamDashboard(dashboard("KPI_A"))
        await next_message(call)
        hub.stop.set()
        end = await next_of(call, "end")
        assert end.end.reason == stream_pb2.STREAM_END_REASON_SERVER_SHUTDOWN
        assert end.end.status.code == code_pb2.OK
        assert await next_message(call) is grpc.aio.EOF
        assert await call.code() == grpc.StatusCode.OK  # type: ignore[misc]
