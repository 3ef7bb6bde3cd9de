"""The calculation service's live-subscription registry, as the hub uses it (one adapter, one
concern): leases, releases and snapshots over `CalculationInternalService`.

Every call that fails raises `Unavailable`, whatever the gRPC status: the hub's loops retry on
that one type, and a caller of a stream sees a retryable status rather than a peer's failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import grpc
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import duration_pb2
from google.rpc import code_pb2, status_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.periods import to_wire
from services.errors import Unavailable
from services.security.caller import Caller


@dataclass(frozen=True, slots=True)
class Viewer:
    """The rights of a stream's caller, hashable: streams of callers with equal rights share one
    subscription, and callers with different rights never do."""

    key: str
    # Not part of the identity: callers with equal rights share one subscription whoever they are.
    subject: str = field(compare=False)
    role: str
    attributes: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, caller: Caller) -> Viewer:
        return cls(
            caller.security_context(),
            caller.subject,
            caller.role.value,
            tuple(sorted(caller.attributes.items())),
        )

    def to_wire(self, client_id: str) -> types_pb2.SecurityContext:
        return types_pb2.SecurityContext(
            client_id=client_id,
            subject=self.subject,
            roles=[self.role],
            attributes=dict(self.attributes),
            key=self.key,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionId:
    """What a stream watches: one KPI of one client at one bucket size, seen with one set of
    rights (None: no caller, every row)."""

    client_id: str
    kpi_code: str
    period: LivePeriod
    viewer: Viewer | None = None

    @property
    def security_context_key(self) -> str:
        return self.viewer.key if self.viewer is not None else ""

    def to_wire(self) -> calculation_pb2.KpiSubscription:
        message = calculation_pb2.KpiSubscription(
            kpi_code=self.kpi_code, client_id=self.client_id, period=to_wire(self.period)
        )
        if self.viewer is not None:
            message.security_context.CopyFrom(self.viewer.to_wire(self.client_id))
        return message


@dataclass(frozen=True, slots=True)
class Lease:
    subscription_key: str
    channel: str


@dataclass(frozen=True)
class LeaseOutcome:
    granted: dict[SubscriptionId, Lease]
    refused: dict[SubscriptionId, status_pb2.Status]


def _unavailable(error: grpc.aio.AioRpcError) -> Unavailable:
    """The hub's callers get a retryable status, never an INTERNAL with a peer's failure."""
    return Unavailable(
        f"the calculation service did not answer ({error.code().name}); reconnect shortly"
    )


class CalculationSubscriptions:
    def __init__(self, channel: grpc.aio.Channel, timeout_seconds: float) -> None:
        self._stub = calculation_pb2_grpc.CalculationInternalServiceStub(channel)
        self._timeout = timeout_seconds

    async def lease(
        self, hub_id: str, subscriptions: Sequence[SubscriptionId], ttl_seconds: float
    ) -> LeaseOutcome:
        ttl = duration_pb2.Duration()
        ttl.FromMilliseconds(int(ttl_seconds * 1000))
        try:
            response = await self._stub.LeaseSubscriptions(
                calculation_pb2.LeaseSubscriptionsRequest(
                    hub_id=hub_id, subscriptions=[s.to_wire() for s in subscriptions], ttl=ttl
                ),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as failure:
            raise _unavailable(failure) from failure
        by_wire = {
            (s.kpi_code, s.client_id, to_wire(s.period), s.security_context_key): s
            for s in subscriptions
        }
        granted: dict[SubscriptionId, Lease] = {}
        for lease in response.leases:
            wire = lease.subscription
            subscription = by_wire.get(
                (wire.kpi_code, wire.client_id, wire.period, wire.security_context.key)
            )
            if subscription is not None:
                granted[subscription] = Lease(lease.subscription_key, lease.channel)
        refused: dict[SubscriptionId, status_pb2.Status] = {}
        for error in response.errors:
            for subscription in subscriptions:
                if subscription.kpi_code == error.kpi_code and subscription not in granted:
                    refused[subscription] = error.status
        # A subscription neither granted nor refused is a contract breach; never leave it silent.
        for subscription in subscriptions:
            if subscription not in granted and subscription not in refused:
                refused[subscription] = status_pb2.Status(
                    code=code_pb2.UNAVAILABLE, message="the calculation service granted no lease"
                )
        return LeaseOutcome(granted, refused)

    async def release(self, hub_id: str, subscription_keys: Sequence[str]) -> None:
        """Release leases; an empty list releases every lease of the hub."""
        try:
            await self._stub.ReleaseSubscriptions(
                calculation_pb2.ReleaseSubscriptionsRequest(
                    hub_id=hub_id, subscription_keys=list(subscription_keys)
                ),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as failure:
            raise _unavailable(failure) from failure

    async def snapshots(
        self, subscriptions: Sequence[SubscriptionId], history_buckets: int
    ) -> list[calculation_pb2.KpiSnapshot]:
        """One snapshot per subscription, in order."""
        try:
            response = await self._stub.GetKpiSnapshots(
                calculation_pb2.GetKpiSnapshotsRequest(
                    subscriptions=[s.to_wire() for s in subscriptions],
                    history_buckets=history_buckets,
                ),
                timeout=self._timeout,
            )
        except grpc.aio.AioRpcError as failure:
            raise _unavailable(failure) from failure
        return list(response.snapshots)
