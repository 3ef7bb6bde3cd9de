"""The live-subscription registry against a real Redis: leases, renewal, expiry, release, the
lookup by (client, object model), and compare-and-publish of changed values."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import pytest
import redis.asyncio as redis
from analytics.calculation.v1 import calculation_pb2
from analytics.events.v1 import events_pb2
from analytics.type.v1 import types_pb2

from services.aggregates.query import Period, TimeRange
from services.bus.channels import ChannelListener
from services.calculation.streaming.buckets import affected_buckets, live_window
from services.calculation.streaming.published import NOT_LIVE, STALE, PublishedValues
from services.calculation.streaming.registry import LeaseRegistry, LeaseRequest, published_key
from services.calculation.streaming.subscriptions import Subscription, subscription_key
from services.calculation.streaming.updates import (
    SubscriptionUpdate,
    data_versions,
    subscription_update,
)

UTC = datetime.UTC
SECOND = datetime.timedelta(seconds=1)


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client


@pytest.fixture
def tenant() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


def watch(tenant: str, code: str = "SALES_ORDER_REVENUE", *models: str) -> LeaseRequest:
    return LeaseRequest(Subscription(tenant, code, Period.MINUTE), models or ("ORDER",))


async def live_codes(registry: LeaseRegistry, tenant: str, model: str = "ORDER") -> set[str]:
    return {live.subscription.kpi_code for live in await registry.live(tenant, model)}


def test_keys_are_deterministic_and_differ_in_every_part() -> None:
    base = Subscription("acme", "SCOR_POF", Period.MINUTE, "")
    assert subscription_key(base) == subscription_key(
        Subscription("acme", "SCOR_POF", Period.MINUTE, "")
    )
    assert len(base.key) == 32 and int(base.key, 16) >= 0
    others = {
        Subscription("acme2", "SCOR_POF", Period.MINUTE, "").key,
        Subscription("acme", "SCOR_OTD", Period.MINUTE, "").key,
        Subscription("acme", "SCOR_POF", Period.HOUR, "").key,
        Subscription("acme", "SCOR_POF", Period.MINUTE, "ctx").key,
    }
    assert base.key not in others and len(others) == 4


def test_a_change_recomputes_only_live_buckets_it_touches() -> None:
    now = datetime.datetime(2026, 11, 26, 12, 30, 20, tzinfo=UTC)
    window = live_window(Period.MINUTE, now, 30)
    assert window == TimeRange(
        datetime.datetime(2026, 11, 26, 12, 1, tzinfo=UTC),
        datetime.datetime(2026, 11, 26, 12, 31, tzinfo=UTC),
    )
    minute = TimeRange(
        datetime.datetime(2026, 11, 26, 12, 29, tzinfo=UTC),
        datetime.datetime(2026, 11, 26, 12, 30, tzinfo=UTC),
    )
    assert affected_buckets(Period.MINUTE, minute, now, 30) == minute
    # An hour subscription sees the same change as its whole current hour.
    assert affected_buckets(Period.HOUR, minute, now, 30) == TimeRange(
        datetime.datetime(2026, 11, 26, 12, tzinfo=UTC),
        datetime.datetime(2026, 11, 26, 13, tzinfo=UTC),
    )
    long_ago = TimeRange(
        minute.start - datetime.timedelta(hours=2), minute.end - datetime.timedelta(hours=2)
    )
    assert affected_buckets(Period.MINUTE, long_ago, now, 30) is None
    spanning = TimeRange(
        minute.start - datetime.timedelta(days=3), minute.end + datetime.timedelta(days=3)
    )
    assert affected_buckets(Period.MINUTE, spanning, now, 30) == window


async def test_a_lease_makes_a_subscription_live_until_it_expires(
    client: redis.Redis, tenant: str
) -> None:
    registry = LeaseRegistry(client)
    expiry = await registry.lease("hub-a", [watch(tenant)], ttl=SECOND)
    assert datetime.datetime.now(UTC) < expiry <= datetime.datetime.now(UTC) + 2 * SECOND
    assert await live_codes(registry, tenant) == {"SALES_ORDER_REVENUE"}
    assert await live_codes(registry, tenant, "SHIPMENT") == set()
    assert await registry.live(f"{tenant}-other", "ORDER") == []
    await asyncio.sleep(1.2)
    assert await live_codes(registry, tenant) == set()


async def test_renewing_keeps_it_live(client: redis.Redis, tenant: str) -> None:
    registry = LeaseRegistry(client)
    for _ in range(3):
        await registry.lease("hub-a", [watch(tenant)], ttl=SECOND)
        await asyncio.sleep(0.6)
    assert await live_codes(registry, tenant) == {"SALES_ORDER_REVENUE"}


async def test_it_stays_live_while_any_hub_holds_a_lease(client: redis.Redis, tenant: str) -> None:
    registry = LeaseRegistry(client)
    request = watch(tenant)
    await registry.lease("hub-a", [request])
    await registry.lease("hub-b", [request], ttl=SECOND)
    assert set(await registry.holders(request.subscription.key)) == {"hub-a", "hub-b"}
    assert await registry.release("hub-a", [request.subscription.key]) == 1
    assert await live_codes(registry, tenant) == {"SALES_ORDER_REVENUE"}
    assert set(await registry.holders(request.subscription.key)) == {"hub-b"}
    await asyncio.sleep(1.2)  # hub-b died without releasing
    assert await live_codes(registry, tenant) == set()
    assert await registry.holders(request.subscription.key) == {}


async def test_releasing_everything_a_hub_holds(client: redis.Redis, tenant: str) -> None:
    registry = LeaseRegistry(client)
    await registry.lease(
        "hub-a",
        [watch(tenant), watch(tenant, "SCOR_POF", "ORDER"), watch(tenant, "X", "SHIPMENT")],
    )
    await registry.lease("hub-b", [watch(tenant, "SCOR_POF", "ORDER")])
    assert await live_codes(registry, tenant) == {"SALES_ORDER_REVENUE", "SCOR_POF"}
    assert await registry.release("hub-a") == 3
    assert await live_codes(registry, tenant) == {"SCOR_POF"}
    assert await live_codes(registry, tenant, "SHIPMENT") == set()
    assert await registry.release("hub-a") == 0
    assert await registry.release("hub-b", ["not-a-key"]) == 0


SPAN = TimeRange(
    datetime.datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    datetime.datetime(2026, 11, 26, 12, 3, tzinfo=UTC),
)


def result(values: list[float | None], versions: str = "ORDER:1") -> calculation_pb2.KpiResult:
    start = SPAN.start
    series = []
    for index, value in enumerate(values):
        item = types_pb2.KpiValue(kpi_code="SALES_ORDER_REVENUE", period=types_pb2.PERIOD_MINUTE)
        item.bucket_start.FromDatetime(start + datetime.timedelta(minutes=index))
        if value is None:
            item.no_value_reason = types_pb2.NO_VALUE_REASON_NO_DATA
        else:
            item.value = value
        series.append(item)
    return calculation_pb2.KpiResult(series=series, data_version=versions)


async def test_only_changed_buckets_of_live_subscriptions_are_published(
    client: redis.Redis, tenant: str
) -> None:
    registry, published = LeaseRegistry(client), PublishedValues(client)
    request = watch(tenant)
    subscription = request.subscription
    oldest = datetime.datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    first = subscription_update(subscription, result([1.0, None, 3.0]), SPAN, oldest)
    assert await published.publish_changes([first]) == [NOT_LIVE]  # nobody leases it yet

    await registry.lease("hub-a", [request])
    async with ChannelListener(client) as listener:
        await listener.subscribe([first.channel])
        assert await published.publish_changes([first]) == [3]
        message = await listener.get(2.0)
        assert message is not None
        update = events_pb2.KpiUpdated.FromString(message.data)
        assert update.subscription_key == subscription.key
        assert update.client_id == tenant and update.period == types_pb2.PERIOD_MINUTE
        assert dict(update.data_versions) == {"ORDER": 1}
        assert [v.value if v.HasField("value") else None for v in update.values] == [1.0, None, 3.0]

        assert await published.publish_changes([first]) == [0]  # nothing changed
        assert await listener.get(0.2) is None

        second = subscription_update(subscription, result([1.0, 2.0, 3.0], "ORDER:2"), SPAN, oldest)
        assert await published.publish_changes([second]) == [1]
        message = await listener.get(2.0)
        assert message is not None
        changed = events_pb2.KpiUpdated.FromString(message.data)
        assert [(v.bucket_start.ToDatetime().minute, v.value) for v in changed.values] == [(1, 2.0)]
        # A result computed from older data arriving late is not published over a newer one.
        late = subscription_update(subscription, result([9.0, 9.0, 9.0], "ORDER:1"), SPAN, oldest)
        assert await published.publish_changes([late]) == [STALE]
        assert await listener.get(0.2) is None

    # When the subscription stops being live, what it published is forgotten.
    await registry.release("hub-a")
    assert not await client.exists(published_key(subscription.key))


async def test_the_changes_of_a_cycle_are_looked_up_together(
    client: redis.Redis, tenant: str
) -> None:
    registry = LeaseRegistry(client)
    await registry.lease(
        "hub-a",
        [
            watch(tenant, "SALES_ORDER_REVENUE", "ORDER"),
            watch(tenant, "SCOR_POF", "ORDER", "SHIPMENT"),
        ],
    )
    other = f"{tenant}-other"
    await registry.lease("hub-b", [watch(other, "SCOR_POF", "SHIPMENT")])
    found = await registry.live_for(
        [(tenant, "ORDER"), (tenant, "SHIPMENT"), (tenant, "RETURN"), (other, "SHIPMENT")]
    )
    codes = {
        pair: sorted(live.subscription.kpi_code for live in lives) for pair, lives in found.items()
    }
    assert codes == {
        (tenant, "ORDER"): ["SALES_ORDER_REVENUE", "SCOR_POF"],
        (tenant, "SHIPMENT"): ["SCOR_POF"],
        (tenant, "RETURN"): [],
        (other, "SHIPMENT"): ["SCOR_POF"],
    }
    # A subscription read for two models is the same definition both times.
    assert found[(tenant, "SHIPMENT")][0] == next(
        live for live in found[(tenant, "ORDER")] if live.subscription.kpi_code == "SCOR_POF"
    )
    # Released: no longer found, whatever was read before.
    await registry.release("hub-a")
    assert await registry.live_for([(tenant, "ORDER")]) == {(tenant, "ORDER"): []}
    assert await registry.live_for([]) == {}


async def leased_with_update(client: redis.Redis, tenant: str) -> tuple[
    LeaseRegistry, PublishedValues, LeaseRequest, SubscriptionUpdate, str
]:
    """A subscription leased by hub-a, an update of three values for it, and a counter key."""
    registry, published = LeaseRegistry(client), PublishedValues(client)
    request = watch(tenant)
    oldest = datetime.datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    update = subscription_update(request.subscription, result([1.0, 2.0, 3.0]), SPAN, oldest)
    await registry.lease("hub-a", [request])
    return registry, published, request, update, f"test:{tenant}:recomputations"


async def test_counts_are_added_with_the_publishing(client: redis.Redis, tenant: str) -> None:
    registry, published, request, update, counter = await leased_with_update(client, tenant)
    assert await published.publish_changes([update], counts={counter: 4}) == [3]
    assert await published.publish_changes([], counts={counter: 2}) == []
    assert int(await client.get(counter) or 0) == 6
    await client.delete(counter)


async def test_scripts_redis_forgot_are_loaded_again_and_run_once(
    client: redis.Redis, tenant: str
) -> None:
    """Scripts go by their SHA without asking first whether Redis knows them: after a restart
    (here: SCRIPT FLUSH) the refused calls are sent again once the script is loaded."""
    registry, published, request, update, counter = await leased_with_update(client, tenant)
    await client.script_flush()
    found = await registry.live_for([(tenant, "ORDER")])
    assert [live.key for live in found[(tenant, "ORDER")]] == [request.subscription.key]
    await client.script_flush()
    async with ChannelListener(client) as listener:
        await listener.subscribe([update.channel])
        assert await published.publish_changes([update], counts={counter: 1}) == [3]
        message = await listener.get(2.0)
        assert message is not None
        assert len(events_pb2.KpiUpdated.FromString(message.data).values) == 3
        assert await listener.get(0.2) is None  # published once
    assert int(await client.get(counter) or 0) == 1
    await client.delete(counter)


def test_data_versions_are_read_from_a_result() -> None:
    assert data_versions("ORDER:42,SHIPMENT:17") == {"ORDER": 42, "SHIPMENT": 17}
    assert data_versions("") == {}


async def test_an_older_result_still_publishes_the_buckets_only_it_recomputed(
    client: redis.Redis, tenant: str
) -> None:
    """Overlapping recomputations: the newer one recomputed only the last bucket and finished
    first; the older one, finishing later, must not move the last bucket back, but its value of
    an earlier bucket (which the newer one never looked at) is news."""
    registry, published = LeaseRegistry(client), PublishedValues(client)
    request = watch(tenant)
    subscription = request.subscription
    oldest = datetime.datetime(2026, 11, 26, 11, 0, tzinfo=UTC)
    await registry.lease("hub-a", [request])
    first = subscription_update(subscription, result([1.0, 2.0, 3.0], "ORDER:1"), SPAN, oldest)
    assert await published.publish_changes([first]) == [3]

    last_bucket = TimeRange(SPAN.start + datetime.timedelta(minutes=2), SPAN.end)
    newer_result = result([None, None, 5.0], "ORDER:3")
    del newer_result.series[:2]
    newer = subscription_update(subscription, newer_result, last_bucket, oldest)
    older = subscription_update(subscription, result([7.0, 2.0, 4.0], "ORDER:2"), SPAN, oldest)
    async with ChannelListener(client) as listener:
        await listener.subscribe([first.channel])
        assert await published.publish_changes([newer]) == [1]
        assert await listener.get(2.0) is not None
        assert await published.publish_changes([older]) == [1]
        message = await listener.get(2.0)
        assert message is not None
        update = events_pb2.KpiUpdated.FromString(message.data)
        assert [(v.bucket_start.ToDatetime().minute, v.value) for v in update.values] == [(0, 7.0)]
