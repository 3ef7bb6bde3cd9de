"""The hub's leases on live subscriptions: one lease per distinct subscription per hub, however
many streams watch it (reference-counted), renewed every third of its lifetime, released when the
last stream that needs it closes.

Lease and release calls go through one lock, so a release never overtakes a fresh lease of the same
subscription; leases that several streams ask for at once go out as one batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from google.rpc import status_pb2

from gateway.streaming.calculation_client import (
    CalculationSubscriptions,
    Lease,
    SubscriptionId,
)
from services.errors import Unavailable

log = logging.getLogger(__name__)

_RETRY_SECONDS = 1.0


@dataclass
class _Held:
    # The one instance of the subscription every stream holding it refers to (a stream's own
    # copies are dropped: a hub holds thousands of streams of the same subscriptions).
    subscription: SubscriptionId
    lease: Lease
    holders: int


@dataclass(frozen=True)
class Acquired:
    granted: dict[SubscriptionId, Lease]
    refused: dict[SubscriptionId, status_pb2.Status]


class SubscriptionRegistry:
    def __init__(
        self, hub_id: str, calculation: CalculationSubscriptions, ttl_seconds: float = 30.0
    ) -> None:
        self.hub_id = hub_id
        self.ttl_seconds = ttl_seconds
        self._calculation = calculation
        self._held: dict[SubscriptionId, _Held] = {}
        self._lock = asyncio.Lock()
        # Subscriptions some stream waits to have leased, with the future it waits on, until the
        # lease call answers; `_unsent` are the ones no lease call carries yet.
        self._wanted: dict[SubscriptionId, asyncio.Future[Lease | status_pb2.Status]] = {}
        self._unsent: set[SubscriptionId] = set()
        self._to_release: set[str] = set()
        self._release_wanted = asyncio.Event()
        self.lease_calls = 0

    def held(self) -> dict[SubscriptionId, Lease]:
        return {subscription: held.lease for subscription, held in self._held.items()}

    def holders(self, subscription: SubscriptionId) -> int:
        held = self._held.get(subscription)
        return held.holders if held else 0

    async def acquire(self, subscriptions: Sequence[SubscriptionId]) -> Acquired:
        """Hold a lease on each subscription for one stream (leasing the ones this hub lacks)."""
        waiting: dict[SubscriptionId, asyncio.Future[Lease | status_pb2.Status]] = {}
        for subscription in dict.fromkeys(subscriptions):
            if subscription in self._held:
                continue
            future = self._wanted.get(subscription)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._wanted[subscription] = future
                self._unsent.add(subscription)
            waiting[subscription] = future
        if waiting:
            async with self._lock:
                if not all(future.done() for future in waiting.values()):
                    await self._lease_wanted()
        granted: dict[SubscriptionId, Lease] = {}
        refused: dict[SubscriptionId, status_pb2.Status] = {}
        for subscription in dict.fromkeys(subscriptions):
            future = waiting.get(subscription)
            outcome = future.result() if future is not None else None
            if isinstance(outcome, status_pb2.Status):
                refused[subscription] = outcome
                continue
            held = self._held.get(subscription)
            if held is None:
                # Leased for us, then released by every other holder before we resumed.
                assert isinstance(outcome, Lease)
                held = self._held[subscription] = _Held(subscription, outcome, 0)
            held.holders += 1
            granted[held.subscription] = held.lease
        return Acquired(granted, refused)

    async def _lease_wanted(self) -> None:
        """Lease every wanted subscription in one call (the lock is held)."""
        batch = {subscription: self._wanted[subscription] for subscription in self._unsent}
        self._unsent = set()
        try:
            self.lease_calls += 1
            outcome = await self._calculation.lease(self.hub_id, list(batch), self.ttl_seconds)
        except asyncio.CancelledError:
            # The stream that made the call went away; whoever else waits makes it again.
            self._unsent.update(batch)
            raise
        except Exception as error:
            for subscription, future in batch.items():
                self._wanted.pop(subscription, None)
                if not future.done():
                    future.set_exception(error)
                    # Every waiter re-raises it; mark it retrieved for the ones that went away.
                    future.exception()
            raise
        for subscription, future in batch.items():
            self._wanted.pop(subscription, None)
            lease = outcome.granted.get(subscription)
            if lease is not None:
                self._held.setdefault(subscription, _Held(subscription, lease, 0))
                future.set_result(lease)
            else:
                future.set_result(outcome.refused[subscription])

    def release(
        self, subscriptions: Iterable[SubscriptionId]
    ) -> list[tuple[SubscriptionId, Lease]]:
        """One stream lets go; returns the subscriptions no stream on this hub holds any more (their
        leases are released in the background)."""
        dropped = []
        for subscription in subscriptions:
            held = self._held.get(subscription)
            if held is None:
                continue
            held.holders -= 1
            if held.holders <= 0:
                del self._held[subscription]
                dropped.append((subscription, held.lease))
                self._to_release.add(held.lease.subscription_key)
        if dropped:
            self._release_wanted.set()
        return dropped

    async def release_loop(self) -> None:
        """Send releases as they accumulate, skipping keys that were leased again meanwhile."""
        while True:
            await self._release_wanted.wait()
            self._release_wanted.clear()
            async with self._lock:
                live = {held.lease.subscription_key for held in self._held.values()}
                keys = sorted(self._to_release - live)
                self._to_release.clear()
                if not keys:
                    continue
                try:
                    await self._calculation.release(self.hub_id, keys)
                except Unavailable as error:
                    # The lease lapses by itself within its lifetime; nothing is lost.
                    log.warning("releasing %d lease(s) failed: %s", len(keys), error)

    async def renew_loop(
        self,
        on_recovered: Callable[[], Awaitable[None]],
        on_refused: Callable[[SubscriptionId, status_pb2.Status], None],
    ) -> None:
        """Renew every held lease each third of the lease lifetime. When renewing failed (the
        calculation service was down or restarting), keep retrying every second, and once it works
        again call `on_recovered` (values may have changed while nobody computed them)."""
        failing = False
        while True:
            await asyncio.sleep(_RETRY_SECONDS if failing else self.ttl_seconds / 3)
            try:
                refused = await self.renew()
            except Unavailable as error:
                # The calculation service is down or restarting: never let this end the loop.
                if not failing:
                    log.warning("renewing leases failed: %s; retrying", error)
                failing = True
                continue
            for subscription, status in refused.items():
                on_refused(subscription, status)
            if failing:
                failing = False
                log.info("leases renewed again; refreshing every stream")
                await on_recovered()

    async def renew(self) -> dict[SubscriptionId, status_pb2.Status]:
        """Renew every held lease now; returns the ones the calculation service refuses now."""
        async with self._lock:
            subscriptions = list(self._held)
            if not subscriptions:
                return {}
            outcome = await self._calculation.lease(self.hub_id, subscriptions, self.ttl_seconds)
            for subscription, lease in outcome.granted.items():
                held = self._held.get(subscription)
                if held is not None:
                    held.lease = lease
            return outcome.refused

    async def release_everything(self) -> None:
        """At shutdown: let the calculation service stop computing for this hub at once."""
        self._held.clear()
        await self._calculation.release(self.hub_id, [])
