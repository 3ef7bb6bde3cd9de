"""Dynamic RBAC in live streams: a subscription leased with a manager's security context is
recomputed, long after the lease, with that manager's rights — the KpiUpdated it publishes counts
only their subtree of the sales organisation — while the same KPI watched without restriction
moves on its own channel with the whole client's value. A change of the hierarchy alone moves the
manager's stream."""

from __future__ import annotations

import datetime
import uuid

import pytest
from analytics.calculation.v1 import calculation_pb2
from analytics.data.v1 import data_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2

from services.bus.channels import ChannelListener
from tests.integration.test_streaming_live import (  # noqa: F401 (module fixtures)
    LiveStack,
    lease,
    live_database,
    live_redis,
    next_update,
    stack,
)

UTC = datetime.UTC
KPI = "SALES_REVENUE"  # sum(OPPORTUNITY.amount where stage = 'closed_won'), Dynamic RBAC

# The organisation: TOP manages MID and SIDE; MID manages LEAF.
ORGANISATION = {"REP-TOP": None, "REP-MID": "REP-TOP", "REP-LEAF": "REP-MID", "REP-SIDE": "REP-TOP"}
WON = {"REP-MID": 100.0, "REP-LEAF": 10.0, "REP-SIDE": 1000.0}


def _struct(values: dict[str, object]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


async def _ingest(live: LiveStack, tenant: str, model: str, rows: list[dict[str, object]]) -> None:
    await live.data.IngestRows(
        data_pb2.IngestRowsRequest(
            client_id=tenant, object_model_code=model, rows=[_struct(row) for row in rows]
        ),
        timeout=10,
    )


def _rep(rep: str, manager: str | None) -> dict[str, object]:
    return {
        "sales_rep_id": rep,
        "name": rep.title(),
        "team": "t",
        "region": "emea",
        "manager_id": manager,
        "active": True,
        "hired_at": "2024-01-01",
    }


def _subscription(
    tenant: str, context: types_pb2.SecurityContext | None = None
) -> calculation_pb2.KpiSubscription:
    message = calculation_pb2.KpiSubscription(
        kpi_code=KPI, client_id=tenant, period=types_pb2.PERIOD_DAY
    )
    if context is not None:
        message.security_context.CopyFrom(context)
    return message


async def _reaches(
    listener: ChannelListener, today: datetime.datetime, expected: float
) -> list[float]:
    """Today's values as updates carry them, until one is `expected`. Earlier ones may come
    first: the hierarchy's own change can be recomputed after the lease, before the rows land."""
    seen: list[float] = []
    while len(seen) < 10:
        update = await next_update(listener, seconds=10.0)
        for value in update.values:
            if value.bucket_start.ToDatetime(tzinfo=UTC) == today:
                seen.append(value.value)
                if value.value == pytest.approx(expected):
                    return seen
    raise AssertionError(f"today's value never became {expected}: {seen}")


async def test_a_managers_stream_moves_with_their_subtree_only(
    stack: LiveStack,  # noqa: F811 (the fixture imported above)
) -> None:
    tenant = f"rbac-live-{uuid.uuid4().hex[:8]}"
    await _ingest(
        stack, tenant, "SALES_REP", [_rep(rep, manager) for rep, manager in ORGANISATION.items()]
    )
    manager = types_pb2.SecurityContext(
        client_id=tenant, subject="m-1", roles=["manager"], attributes={"org_node": "REP-MID"}
    )
    reply = await lease(stack, _subscription(tenant, manager), _subscription(tenant))
    restricted, everyone = reply.leases
    assert not reply.errors
    assert restricted.subscription_key != everyone.subscription_key
    assert restricted.channel != everyone.channel

    now = datetime.datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with (
        ChannelListener(stack.redis) as mine,
        ChannelListener(stack.redis) as all_rows,
    ):
        await mine.subscribe([restricted.channel])
        await all_rows.subscribe([everyone.channel])
        await _ingest(
            stack,
            tenant,
            "OPPORTUNITY",
            [
                {
                    "opportunity_id": f"OPP-{owner}",
                    "customer_id": "CUST-1",
                    "owner_id": owner,
                    "stage": "closed_won",
                    "amount": amount,
                    "source": "inbound",
                    "product_line": "safety",
                    "created_at": now.isoformat(),
                    "close_date": today.date().isoformat(),
                }
                for owner, amount in WON.items()
            ],
        )
        # MID and LEAF only; never a value that counts SIDE's opportunity.
        assert 1110.0 not in await _reaches(mine, today, 110.0)
        await _reaches(all_rows, today, 1110.0)

        # A reorganisation: SIDE now reports to MID. No opportunity changed, yet the manager's
        # stream moves, because what they may see did.
        await _ingest(stack, tenant, "SALES_REP", [_rep("REP-SIDE", "REP-MID")])
        await _reaches(mine, today, 1110.0)
