"""One clock for every stream of the hub: each tick wakes the streams that have something to send,
so a stream sends at most one update per tick however fast values arrive (coalescing), and no
stream owns a timer. The same clock marks heartbeats and bucket openings.

Ticks that wake streams are spaced at least `tick_seconds` apart, but not on a fixed beat: news
arriving when no stream was woken for a tick interval is flushed after a short gathering window (the
values of one recomputation arrive within a few milliseconds of each other), not at the next beat.
Only a flow faster than the tick waits for the beat. The ticks that wake nobody (bucket and
heartbeat checks while nothing changes) do not count: they send nothing, so news arriving just
after one need not wait for coalescing.

The beat follows the hub's load. Handing a tick's news to a thousand streams costs tens of
milliseconds of the hub's one thread, and a stream's every message costs its client too, so the
spacing is kept long enough that fanning out takes at most a set share of the hub's time; a hub
with few streams fans out in no time and sends each recomputation's values as they come (a fixed
beat long enough for the busy hub made every value of a quiet one wait for it)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import math
import time
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from typing import Protocol

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.live_stream import LiveStream


@dataclass(frozen=True)
class TickSettings:
    # The shortest spacing of two ticks that wake streams. Under a steady flow of changes a
    # recomputation round publishes every 20-40 ms: with 50 ms a value on a hub with few streams
    # waited about 25 ms for its tick (of its 50-65 ms from commit to receipt); with 25 ms most
    # rounds go out a gathering window after they arrive. Hubs with many streams space their
    # ticks by their fan-out load anyway.
    tick_seconds: float = 0.025
    # How long news that ends a quiet spell waits for the rest of its burst before it is flushed.
    gather_seconds: float = 0.01
    heartbeat_seconds: float = 15.0
    # Heartbeats are a per-second matter; scanning every stream on every tick would be waste.
    heartbeat_scan_seconds: float = 1.0
    # The largest share of the hub's time that fanning out ticks may take: the spacing grows
    # to the last fan-outs' duration divided by it...
    fan_out_share: float = 0.4
    # ...up to this (a starved hub still sends what changed at least this often).
    max_tick_seconds: float = 0.25
    # How often bucket openings and heartbeats are checked while no news comes.
    idle_check_seconds: float = 0.1


# Weight of the latest fan-out in the running estimate of its duration: one fan-out stretched by
# a busy machine should not stretch the spacing as much as a lasting load.
_FAN_OUT_WEIGHT = 0.5


class Deliverer(Protocol):
    """Something holding values for several streams (an audience) until the tick hands them on."""

    def deliver(self) -> Set[LiveStream]:
        """Hand the values over; returns the streams that got some."""
        ...


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Ticker:
    """Wakes dirty streams once per tick; marks heartbeats and bucket openings."""

    def __init__(
        self,
        settings: TickSettings,
        wall_clock: Callable[[], datetime.datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self._streams: dict[LivePeriod, set[LiveStream]] = {period: set() for period in LivePeriod}
        self._dirty: set[LiveStream] = set()
        self._dirty_deliverers: set[Deliverer] = set()
        now = wall_clock()
        self._next_bucket = {period: period.next_bucket_start(now) for period in LivePeriod}
        self._next_heartbeat_scan = monotonic()
        # When the last tick that woke streams ran (none yet): the next such tick comes a tick
        # interval later.
        self._last_wake = -math.inf
        # Ticks so far: what was drained in one tick is told apart from the next one's.
        self.ticks = 0
        self._news = asyncio.Event()
        # Running estimate of how long handing a tick's news to its streams takes.
        self.fan_out_seconds = 0.0

    @property
    def stream_count(self) -> int:
        return sum(len(streams) for streams in self._streams.values())

    def add(self, stream: LiveStream) -> None:
        self._streams[stream.period].add(stream)

    def remove(self, stream: LiveStream) -> None:
        self._streams[stream.period].discard(stream)
        self._dirty.discard(stream)

    def mark_dirty(self, stream: LiveStream) -> None:
        """The stream has news; it is woken at the next tick."""
        self.mark_all_dirty((stream,))

    def mark_all_dirty(self, streams: Iterable[LiveStream]) -> None:
        self._dirty.update(streams)
        if not self._news.is_set():
            self._news.set()

    def mark_deliverer_dirty(self, deliverer: Deliverer) -> None:
        """`deliverer` holds news for its streams; they are handed over at the next tick."""
        self._dirty_deliverers.add(deliverer)
        if not self._news.is_set():
            self._news.set()

    def all_streams(self) -> list[LiveStream]:
        return [stream for streams in self._streams.values() for stream in streams]

    def tick(self) -> bool:
        """One tick: bucket openings, heartbeats due, then wake every stream with news; True
        when it woke some."""
        wall = self._wall_clock()
        for period, next_start in self._next_bucket.items():
            if wall >= next_start:
                self._next_bucket[period] = period.next_bucket_start(wall)
                for stream in self._streams[period]:
                    stream.open_bucket()
                    self._dirty.add(stream)
        now = self._monotonic()
        if now >= self._next_heartbeat_scan:
            self._next_heartbeat_scan = now + self.settings.heartbeat_scan_seconds
            interval = self.settings.heartbeat_seconds
            for streams in self._streams.values():
                for stream in streams:
                    if stream.heartbeat_if_quiet(now, interval):
                        self._dirty.add(stream)
        deliverers, self._dirty_deliverers = self._dirty_deliverers, set()
        for deliverer in deliverers:
            self._dirty.update(deliverer.deliver())
        dirty, self._dirty = self._dirty, set()
        for stream in dirty:
            stream.wake.set()
        if dirty:
            self._last_wake = now
        self.ticks += 1
        return bool(dirty)

    def note_fan_out(self, seconds: float) -> None:
        """A tick's streams took `seconds` to take their news (the spacing follows)."""
        self.fan_out_seconds += _FAN_OUT_WEIGHT * (seconds - self.fan_out_seconds)

    @property
    def spacing_seconds(self) -> float:
        """The current shortest spacing of two ticks that wake streams."""
        settings = self.settings
        loaded = self.fan_out_seconds / settings.fan_out_share
        return max(settings.tick_seconds, min(loaded, settings.max_tick_seconds))

    def seconds_to_flush(self) -> float:
        """After news arrived: how long to wait before the tick that sends it (the gathering
        window, or what remains of the spacing since the last tick that woke streams,
        whichever is longer)."""
        since = self._monotonic() - self._last_wake
        return max(self.settings.gather_seconds, self.spacing_seconds - since)

    async def run(self) -> None:
        while True:
            # Heartbeats and bucket openings need a tick now and then even when nothing changes.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.idle_check_seconds):
                    await self._news.wait()
            if self._news.is_set():
                await asyncio.sleep(self.seconds_to_flush())
                self._news.clear()
            if self.tick():
                started = self._monotonic()
                # The streams woken were scheduled before this task: it resumes once each has
                # taken its news and handed its message to gRPC.
                await asyncio.sleep(0)
                self.note_fan_out(self._monotonic() - started)
