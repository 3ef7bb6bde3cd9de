"""Streaming recomputation: from DataChanged events to KpiUpdated for the subscriptions someone
watches.

For each batch of DataChanged events read together (one consumer-group read), changes of the same
client and object model are merged into one range; the live subscriptions of that client whose
KPI reads the object model are looked up; for each, only the buckets of its period that the
change touches within the live window are recomputed (one calculation per client, period and
security context, every KPI of it sharing the scans; series only, as updates carry no totals),
and the results go to `published`, which publishes the buckets whose value changed. Nothing is
calculated for a change nobody watches.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from analytics.events.v1 import events_pb2

from services.aggregates.query import Period, TimeRange
from services.bus.streams import Delivery
from services.calculation import messages
from services.calculation.calculator import Calculator
from services.calculation.request import CalculationRequest
from services.calculation.streaming.buckets import affected_buckets, live_window, union
from services.calculation.streaming.published import NOT_LIVE, STALE, PublishedValues
from services.calculation.streaming.registry import LeaseRegistry, LiveSubscription
from services.calculation.streaming.updates import SubscriptionUpdate, subscription_update
from services.errors import DomainError, Unavailable

log = logging.getLogger(__name__)

# Redis counter of subscription recomputations (one KPI of one subscription recomputed), shared
# by every replica.
RECOMPUTATIONS_KEY = "ae:stats:stream-recomputations"

# How many buckets back a change still moves a live value (the snapshot history is as long).
DEFAULT_WINDOW_BUCKETS = 30


@dataclass
class StreamingStats:
    """Counters of this process's streaming work."""

    events: int = 0
    # One KPI of one live subscription recomputed.
    recomputations: int = 0
    # Calculator calls (each answers several KPIs).
    calculations: int = 0
    # KpiUpdated events published, and the bucket values they carried.
    updates_published: int = 0
    values_published: int = 0
    # Results dropped: their subscription stopped being live, or a newer result was published.
    not_live: int = 0
    stale: int = 0


ChangeKey = tuple[str, str]
GroupKey = tuple[str, Period, str]


@dataclass(frozen=True)
class GroupResult:
    """One group's calculation: the updates to publish and how many subscriptions it recomputed."""

    updates: list[SubscriptionUpdate]
    recomputations: int


def coalesce(events: Iterable[events_pb2.DataChanged]) -> dict[ChangeKey, TimeRange]:
    """The changed range per (client, object model), merged over the events."""
    changes: dict[ChangeKey, TimeRange] = {}
    for event in events:
        span = event.affected_time_range
        if not span.HasField("start") or not span.HasField("end"):
            continue
        changed = TimeRange(messages.moment(span.start), messages.moment(span.end))
        key = (event.client_id, event.object_model_code)
        changes[key] = union(changes.get(key), changed)
    return changes


class Recomputer:
    def __init__(
        self,
        registry: LeaseRegistry,
        published: PublishedValues,
        calculator: Calculator,
        *,
        window_buckets: int = DEFAULT_WINDOW_BUCKETS,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._registry = registry
        self._published = published
        self._calculator = calculator
        self._window = window_buckets
        self._clock = clock
        self.stats = StreamingStats()

    async def handle(self, deliveries: Sequence[Delivery]) -> None:
        """Consumer-group handler: the DataChanged events among `deliveries`, handled together."""
        events = [
            d.envelope.data_changed
            for d in deliveries
            if d.envelope.WhichOneof("payload") == "data_changed"
        ]
        self.stats.events += len(events)
        if events:
            await self.recompute(coalesce(events))

    async def recompute(self, changes: Mapping[ChangeKey, TimeRange]) -> None:
        now = self._clock()
        targets = await self._targets(changes, now)
        if not targets:
            return
        groups: dict[GroupKey, list[tuple[LiveSubscription, TimeRange]]] = defaultdict(list)
        for live, span in targets.values():
            subscription = live.subscription
            groups[
                (subscription.client_id, subscription.period, subscription.security_context_key)
            ].append((live, span))
        # Groups (clients, security contexts) are independent calculations: run them together.
        calculated = await asyncio.gather(
            *(self._calculate(group, members, now) for group, members in groups.items()),
            return_exceptions=True,
        )
        updates: list[SubscriptionUpdate] = []
        recomputed = 0
        for calculation in calculated:
            if isinstance(calculation, BaseException):
                raise calculation  # the events stay pending and come back
            recomputed += calculation.recomputations
            updates.extend(calculation.updates)
        # Counted in the same round trip, after the values are out: the shared counter is for
        # stats and tests, and counting first would delay every value of the cycle.
        outcomes = await self._published.publish_changes(
            updates, counts={RECOMPUTATIONS_KEY: recomputed} if recomputed else None
        )
        for outcome in outcomes:
            if outcome > 0:
                self.stats.updates_published += 1
                self.stats.values_published += outcome
            elif outcome == NOT_LIVE:
                self.stats.not_live += 1
            elif outcome == STALE:
                self.stats.stale += 1

    async def _targets(
        self, changes: Mapping[ChangeKey, TimeRange], now: datetime.datetime
    ) -> dict[str, tuple[LiveSubscription, TimeRange]]:
        """Per live subscription concerned, the buckets to recompute."""
        targets: dict[str, tuple[LiveSubscription, TimeRange]] = {}
        # Every changed object model in one registry read.
        lookups = await self._registry.live_for(changes)
        for (client_id, model), change in changes.items():
            for live in lookups.get((client_id, model), ()):
                changed = change
                if model in live.whole_window_model_codes:
                    # The viewers' subtree changed: every live bucket may hold other rows now.
                    changed = live_window(live.subscription.period, now, self._window)
                span = affected_buckets(live.subscription.period, changed, now, self._window)
                if span is None:
                    continue
                earlier = targets.get(live.key)
                targets[live.key] = (live, union(earlier[1] if earlier else None, span))
        return targets

    async def _calculate(
        self,
        group: GroupKey,
        members: Sequence[tuple[LiveSubscription, TimeRange]],
        now: datetime.datetime,
    ) -> GroupResult:
        client_id, period, _ = group
        span: TimeRange | None = None
        for _, member_span in members:
            span = union(span, member_span)
        assert span is not None
        by_code = {live.subscription.kpi_code: live for live, _ in members}
        request = CalculationRequest(
            kpi_codes=tuple(sorted(by_code)),
            client_id=client_id,
            time_range=span,
            period=period,
            bypass_cache=True,
            # Updates carry buckets, never the total over the recomputed span.
            series_only=True,
            # The group shares one security context key: the stored rights of its viewers.
            caller=members[0][0].subscription.caller,
        )
        try:
            batch = await self._calculator.calculate(request)
        except Unavailable:
            raise  # the data or catalog service is away: the events stay pending and come back
        except DomainError as error:
            log.warning(
                "live recomputation of %s for %s failed: %s", sorted(by_code), client_id, error
            )
            return GroupResult([], 0)
        self.stats.calculations += 1
        self.stats.recomputations += len(by_code)
        for code, problem in batch.errors:
            log.warning("live KPI %s of %s cannot be calculated: %s", code, client_id, problem)
        oldest = live_window(period, now, self._window).start
        updates = [
            subscription_update(
                by_code[item.kpi_code].subscription,
                messages.result_of(item, batch.encoded),
                span,
                oldest,
            )
            for item in batch.outcomes
        ]
        return GroupResult(updates, len(by_code))
