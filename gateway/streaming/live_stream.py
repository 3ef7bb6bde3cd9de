"""The state of one open stream between its messages.

The hub writes into it (values, bucket openings, heartbeat due, the end) without ever waiting for
the client; the stream's own handler wakes when the ticker says so and turns whatever accumulated
into at most one message. Kept small (slots, no task of its own): a hub holds thousands.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from analytics.type.v1 import types_pb2
from google.rpc import code_pb2, status_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.coalescing import (
    Batch,
    KeyedValue,
    PendingValues,
    ValueKey,
    computed_order,
    value_key,
)
from gateway.streaming.wake import Wake

_stream_numbers = itertools.count(1)


class EndReason(enum.Enum):
    SERVER_SHUTDOWN = "server_shutdown"
    ERROR = "error"
    CLIENT_TOO_SLOW = "client_too_slow"


@dataclass(frozen=True)
class Ending:
    reason: EndReason
    status: status_pb2.Status


@dataclass(frozen=True)
class KpiFailure:
    """A KPI of the stream that is not (or no longer) served."""

    kpi_code: str
    status: status_pb2.Status


@dataclass(frozen=True)
class Update:
    values: list[types_pb2.KpiValue]
    bucket_opened: bool
    failures: list[KpiFailure]


@dataclass(frozen=True)
class Heartbeat:
    pass


Outgoing = Update | Heartbeat | Ending


class LiveStream:
    """One open stream: what it watches and what it has yet to send."""

    __slots__ = (
        "stream_id",
        "period",
        "wake",
        "last_sent",
        "_pending",
        "_batch",
        "_covered",
        "_bucket_opened",
        "_heartbeat_due",
        "_failures",
        "_ending",
        "_number",
    )

    def __init__(self, stream_id: str, period: LivePeriod, capacity: int, now: float) -> None:
        self.stream_id = stream_id
        self.period = period
        self.wake = Wake()
        # Monotonic time of the last message sent (heartbeats are due after a quiet interval).
        self.last_sent = now
        self._pending = PendingValues(capacity)
        # An audience's batch received as is (shared with its other streams) while nothing else
        # waits; anything more is merged into `_pending`.
        self._batch: Batch | None = None
        # Values of the audience's next batch that this stream's snapshot already holds:
        # (key -> computed order of the snapshot's value), dropped on receipt.
        self._covered: dict[ValueKey, tuple[int, int]] | None = None
        self._bucket_opened = False
        self._heartbeat_due = False
        self._failures: list[KpiFailure] = []
        self._ending: Ending | None = None
        # Orders streams in the ticker's sets deterministically (handy in tests and logs).
        self._number = next(_stream_numbers)

    def __lt__(self, other: LiveStream) -> bool:
        return self._number < other._number

    @property
    def ending(self) -> Ending | None:
        return self._ending

    @property
    def pending_count(self) -> int:
        return len(self._pending) + (len(self._batch.keyed) if self._batch is not None else 0)

    def offer(self, values: Iterable[KeyedValue]) -> None:
        self._unshare()
        self._pending.offer(values)
        if self._pending.overflowed:
            self._fell_behind()

    def receive(self, batch: Batch, merged: dict[int, tuple[Batch, Batch]] | None = None) -> None:
        """An audience's batch for this tick: kept as is when nothing else waits (the common
        case, costing nothing per value), merged otherwise.

        `merged` is shared by the streams of the audience during one delivery: a stream that has
        not sent the previous batch yet takes the union of both from there, so streams lagging
        by the same batches share one merge (and one encoding) instead of merging per stream."""
        if batch.overflowed:
            self._fell_behind()
            return
        if self._covered is not None:
            covered, self._covered = self._covered, None
            self.offer(
                (key, value)
                for key, value in batch.keyed
                if key not in covered or computed_order(value) > covered[key]
            )
        elif not self._pending and (self._batch is None or batch.supersedes(self._batch)):
            # A stream that has not sent the previous batch yet usually gets one that replaces
            # it whole (each recomputation republishes the same buckets): no merging per value.
            self._batch = batch
        elif not self._pending and self._batch is not None and merged is not None:
            earlier = self._batch
            known = merged.get(id(earlier))
            if known is None or known[0] is not earlier:
                known = merged[id(earlier)] = (earlier, earlier.followed_by(batch))
            self._batch = known[1]
        else:
            self.offer(batch.keyed)

    def _unshare(self) -> None:
        if self._batch is not None:
            batch, self._batch = self._batch, None
            self._pending.offer(batch.keyed)

    def _fell_behind(self) -> None:
        if self._ending is None:
            self._ending = Ending(
                EndReason.CLIENT_TOO_SLOW,
                status_pb2.Status(
                    code=code_pb2.RESOURCE_EXHAUSTED,
                    message="the stream fell too far behind; reconnect",
                ),
            )
            self.wake.set()

    def discard_covered_by(
        self,
        snapshot: Iterable[types_pb2.KpiValue],
        arriving: PendingValues | None = None,
    ) -> None:
        """Forget values, waiting here or `arriving` in the audience's buffer, that the snapshot
        already holds or supersedes."""
        incoming = arriving is not None and len(arriving) > 0
        if self._batch is None and not self._pending and not incoming:
            return
        values = list(snapshot)
        self._unshare()
        self._pending.discard_covered_by(values)
        if arriving is None or not incoming:
            return
        for value in values:
            key = value_key(value)
            waiting = arriving.get(key)
            if waiting is not None and computed_order(waiting) <= computed_order(value):
                if self._covered is None:
                    self._covered = {}
                self._covered[key] = computed_order(value)

    def fail_kpi(self, failure: KpiFailure) -> None:
        self._failures.append(failure)

    def open_bucket(self) -> None:
        self._bucket_opened = True

    def heartbeat_if_quiet(self, now: float, interval: float) -> bool:
        """Mark a heartbeat due when nothing was sent for `interval`; True when it was marked."""
        if now - self.last_sent >= interval and not self._heartbeat_due:
            self._heartbeat_due = True
            return True
        return False

    def end(self, ending: Ending) -> None:
        """End the stream with `ending` (the first ending wins) and wake it now."""
        if self._ending is None:
            self._ending = ending
        self.wake.set()

    @property
    def has_news(self) -> bool:
        return (
            self._batch is not None
            or bool(self._pending)
            or self._bucket_opened
            or bool(self._failures)
        )

    def take_outgoing(self, now: float) -> Outgoing | None:
        """The next message to send, if any: the end first, then changes, then a heartbeat."""
        if self._ending is not None:
            return self._ending
        if self.has_news:
            if self._batch is not None and not self._pending:
                values = self._batch.values
                self._batch = None
            else:
                self._unshare()
                values = self._pending.drain()
            update = Update(values, self._bucket_opened, self._failures)
            self._bucket_opened = False
            self._failures = []
            self._heartbeat_due = False
            self.last_sent = now
            return update
        if self._heartbeat_due:
            self._heartbeat_due = False
            self.last_sent = now
            return Heartbeat()
        return None
