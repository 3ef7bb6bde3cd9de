"""The state of one open stream between its messages.

The hub writes into it (values, bucket openings, heartbeat due, the end) without ever waiting for
the client; the stream's own handler wakes when the ticker says so and turns whatever accumulated
into at most one message. Kept small (slots, no task of its own): a hub holds thousands.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from analytics.type.v1 import types_pb2
from google.rpc import code_pb2, status_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.coalescing import KeyedValue, PendingValues

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
        "_bucket_opened",
        "_heartbeat_due",
        "_failures",
        "_ending",
        "_number",
    )

    def __init__(self, stream_id: str, period: LivePeriod, capacity: int, now: float) -> None:
        self.stream_id = stream_id
        self.period = period
        self.wake = asyncio.Event()
        # Monotonic time of the last message sent (heartbeats are due after a quiet interval).
        self.last_sent = now
        self._pending = PendingValues(capacity)
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
        return len(self._pending)

    def offer(self, values: Iterable[KeyedValue]) -> None:
        self._pending.offer(values)
        if self._pending.overflowed and self._ending is None:
            self._ending = Ending(
                EndReason.CLIENT_TOO_SLOW,
                status_pb2.Status(
                    code=code_pb2.RESOURCE_EXHAUSTED,
                    message="the stream fell too far behind; reconnect",
                ),
            )
            self.wake.set()

    def discard_covered_by(self, snapshot: Iterable[types_pb2.KpiValue]) -> None:
        self._pending.discard_covered_by(snapshot)

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
        return bool(self._pending) or self._bucket_opened or bool(self._failures)

    def take_outgoing(self, now: float) -> Outgoing | None:
        """The next message to send, if any: the end first, then changes, then a heartbeat."""
        if self._ending is not None:
            return self._ending
        if self.has_news:
            update = Update(self._pending.drain(), self._bucket_opened, self._failures)
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
