"""CalculationInternalService: the gateway hubs' registry of live subscriptions, and the snapshots
a stream starts with. Protobuf in, registry and calculator, protobuf out."""

from __future__ import annotations

import contextlib
import datetime
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.type.v1 import types_pb2

from services.aggregates.query import Period
from services.bus.names import kpi_channel
from services.bus.streams import BUS_FAILURES
from services.calculation import messages
from services.calculation.calculator import Calculator
from services.calculation.formula.row_access import is_restricted
from services.calculation.request import CalculationRequest
from services.calculation.streaming.buckets import live_window
from services.calculation.streaming.kpi_models import KpiModels
from services.calculation.streaming.registry import LeaseRegistry, LeaseRequest
from services.calculation.streaming.subscriptions import LIVE_PERIODS, Subscription
from services.calculation.streaming.updates import complete_series
from services.errors import DomainError, InvalidArgument, Unavailable
from services.runtime.status import domain_error_status
from services.security.caller import Caller, Role

Context = Any

DEFAULT_HISTORY_BUCKETS = 30
# A day of minutes: longer histories are one-time queries, not stream snapshots.
MAX_HISTORY_BUCKETS = 1_440


def subscription_of(message: calculation_pb2.KpiSubscription, field: str) -> Subscription:
    """The subscription a message names, its KPI code in catalog spelling."""
    code = message.kpi_code.strip().upper()
    if not code:
        raise InvalidArgument.for_field(f"{field}.kpi_code", "is required")
    if not message.client_id:
        raise InvalidArgument.for_field(f"{field}.client_id", "is required")
    period = messages.PERIODS.get(message.period)
    if period not in LIVE_PERIODS:
        raise InvalidArgument.for_field(
            f"{field}.period", "live subscriptions use PERIOD_MINUTE, PERIOD_HOUR or PERIOD_DAY"
        )
    assert period is not None
    caller = viewer_of(message.security_context, message.client_id, f"{field}.security_context")
    key = caller.security_context() if caller is not None else ""
    return Subscription(message.client_id, code, period, key, caller)


def viewer_of(context: types_pb2.SecurityContext, client_id: str, field: str) -> Caller | None:
    """The viewers' rights as the hub verified them; None when the hub sent none (the service's
    own subscriptions). The key is derived here rather than taken from the message, so it is the
    same digest the result cache uses whatever a hub sends."""
    if not context.roles:
        return None
    try:
        role = Role(context.roles[0])
    except ValueError:
        raise InvalidArgument.for_field(
            f"{field}.roles", f"unknown role {context.roles[0]!r}"
        ) from None
    return Caller(
        subject=context.subject,
        role=role,
        client_id=context.client_id or client_id,
        attributes=dict(context.attributes),
    )


@contextlib.contextmanager
def _registry_reachable() -> Iterator[None]:
    """Redis down is a temporary condition the hub retries, not an internal error."""
    try:
        yield
    except BUS_FAILURES as error:
        raise Unavailable(f"the live-subscription registry is unavailable: {error!r}") from error


def _error(code: str, error: DomainError) -> calculation_pb2.KpiError:
    return calculation_pb2.KpiError(kpi_code=code, status=domain_error_status(error))


class CalculationInternalServicer(calculation_pb2_grpc.CalculationInternalServiceServicer):
    def __init__(
        self,
        registry: LeaseRegistry,
        kpi_models: KpiModels,
        calculator: Calculator,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._registry = registry
        self._kpi_models = kpi_models
        self._calculator = calculator
        self._clock = clock

    async def LeaseSubscriptions(
        self, request: calculation_pb2.LeaseSubscriptionsRequest, context: Context
    ) -> calculation_pb2.LeaseSubscriptionsResponse:
        if not request.hub_id:
            raise InvalidArgument.for_field("hub_id", "is required")
        granted: list[tuple[calculation_pb2.KpiSubscription, Subscription]] = []
        leases: list[LeaseRequest] = []
        errors: list[calculation_pb2.KpiError] = []
        for index, message in enumerate(request.subscriptions):
            try:
                subscription = subscription_of(message, f"subscriptions[{index}]")
                models = await self._kpi_models.object_models(
                    subscription.kpi_code, subscription.client_id
                )
                hierarchies: tuple[str, ...] = ()
                if is_restricted(subscription.caller):
                    hierarchies = await self._kpi_models.hierarchy_models(
                        subscription.kpi_code, subscription.client_id
                    )
            except Unavailable:
                raise  # the catalog is away: the hub retries the whole lease
            except DomainError as error:
                errors.append(_error(message.kpi_code, error))
                continue
            granted.append((message, subscription))
            leases.append(LeaseRequest(subscription, (*models, *hierarchies), hierarchies))
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") else None
        with _registry_reachable():
            expiry = await self._registry.lease(request.hub_id, leases, ttl)
        reply = calculation_pb2.LeaseSubscriptionsResponse(errors=errors)
        expire_time = messages.timestamp(expiry)
        for message, subscription in granted:
            reply.leases.append(
                calculation_pb2.SubscriptionLease(
                    subscription_key=subscription.key,
                    # As sent, so the hub recognises it; the key uses the catalog spelling.
                    subscription=message,
                    expire_time=expire_time,
                    channel=kpi_channel(subscription.key),
                )
            )
        return reply

    async def ReleaseSubscriptions(
        self, request: calculation_pb2.ReleaseSubscriptionsRequest, context: Context
    ) -> calculation_pb2.ReleaseSubscriptionsResponse:
        if not request.hub_id:
            raise InvalidArgument.for_field("hub_id", "is required")
        with _registry_reachable():
            released = await self._registry.release(request.hub_id, request.subscription_keys)
        return calculation_pb2.ReleaseSubscriptionsResponse(released_count=released)

    async def GetKpiSnapshots(
        self, request: calculation_pb2.GetKpiSnapshotsRequest, context: Context
    ) -> calculation_pb2.GetKpiSnapshotsResponse:
        history = request.history_buckets or DEFAULT_HISTORY_BUCKETS
        if not 0 < history <= MAX_HISTORY_BUCKETS:
            raise InvalidArgument.for_field(
                "history_buckets", f"must be between 0 and {MAX_HISTORY_BUCKETS}"
            )
        snapshots = [calculation_pb2.KpiSnapshot() for _ in request.subscriptions]
        groups: dict[tuple[str, Period, str], list[tuple[int, Subscription]]] = defaultdict(list)
        for index, message in enumerate(request.subscriptions):
            snapshot = snapshots[index]
            snapshot.kpi_code = message.kpi_code.strip().upper()
            try:
                subscription = subscription_of(message, f"subscriptions[{index}]")
            except DomainError as error:
                snapshot.error.CopyFrom(domain_error_status(error))
                continue
            snapshot.subscription_key = subscription.key
            groups[
                (subscription.client_id, subscription.period, subscription.security_context_key)
            ].append((index, subscription))
        now = self._clock()
        for (client_id, period, _), members in groups.items():
            await self._snapshot_group(client_id, period, members, history, now, snapshots)
        return calculation_pb2.GetKpiSnapshotsResponse(snapshots=snapshots)

    async def _snapshot_group(
        self,
        client_id: str,
        period: Period,
        members: Sequence[tuple[int, Subscription]],
        history: int,
        now: datetime.datetime,
        snapshots: list[calculation_pb2.KpiSnapshot],
    ) -> None:
        """One calculation for every KPI of a client, period and security context: the history
        buckets plus the current one, up to the end of the current bucket (UTC)."""
        codes = sorted({subscription.kpi_code for _, subscription in members})
        window = live_window(period, now, history + 1)
        request = CalculationRequest(
            kpi_codes=tuple(codes),
            client_id=client_id,
            time_range=window,
            period=period,
            # Members share a security context key, hence the same rights.
            caller=members[0][1].caller,
            # A snapshot is the window's buckets; its total is never shown.
            series_only=True,
        )
        try:
            batch = await self._calculator.calculate(request)
        except Unavailable:
            raise  # a peer is away: the hub retries, rather than showing an error per KPI
        except DomainError as error:
            for index, _ in members:
                snapshots[index].error.CopyFrom(domain_error_status(error))
            return
        series: dict[str, Sequence[types_pb2.KpiValue]] = {
            item.kpi_code: complete_series(messages.result_of(item, batch.encoded), period, window)
            for item in batch.outcomes
        }
        failed = dict(batch.errors)
        for index, subscription in members:
            snapshot = snapshots[index]
            values = series.get(subscription.kpi_code)
            if values is None:
                problem = failed.get(subscription.kpi_code)
                if problem is not None:
                    snapshot.error.CopyFrom(domain_error_status(problem))
                continue
            if values:
                snapshot.current.CopyFrom(values[-1])
                snapshot.history.extend(values[:-1])
