"""Pure logic of the stream hub: bucket arithmetic, coalescing, what a stream sends next, and the
one ticker's wake-ups, heartbeats and bucket openings (with clocks the test moves)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import time
from collections.abc import AsyncIterator

import pytest
from analytics.calculation.v1 import calculation_pb2
from analytics.gateway.v1 import stream_pb2
from analytics.type.v1 import types_pb2
from google.rpc import code_pb2, status_pb2

from gateway.streaming import stream_messages, wire
from gateway.streaming.audiences import Audience, Audiences
from gateway.streaming.buckets import LivePeriod
from gateway.streaming.calculation_client import Lease, SubscriptionId
from gateway.streaming.coalescing import PendingValues, keyed
from gateway.streaming.hub import OpenedStream
from gateway.streaming.latest_values import LatestValues, update_rank
from gateway.streaming.live_stream import EndReason, Heartbeat, KpiFailure, LiveStream, Update
from gateway.streaming.stream_request import dashboard_stream_request, kpi_stream_request
from gateway.streaming.ticker import Ticker, TickSettings
from gateway.streaming.wake import Wake
from services.errors import InvalidArgument
from services.runtime.wire import serializer

UTC = datetime.UTC
T0 = datetime.datetime(2024, 5, 6, 10, 59, 30, tzinfo=UTC)


def value(
    code: str, amount: float, bucket: datetime.datetime, computed_second: int = 0
) -> types_pb2.KpiValue:
    message = types_pb2.KpiValue(kpi_code=code, value=amount)
    message.bucket_start.FromDatetime(bucket)
    message.computed_at.seconds = 1_700_000_000 + computed_second
    return message


@pytest.mark.parametrize(
    ("period", "start", "following"),
    [
        (LivePeriod.MINUTE, "2024-05-06T10:59:00", "2024-05-06T11:00:00"),
        (LivePeriod.HOUR, "2024-05-06T10:00:00", "2024-05-06T11:00:00"),
        (LivePeriod.DAY, "2024-05-06T00:00:00", "2024-05-07T00:00:00"),
    ],
)
def test_buckets_are_aligned_to_utc(period: LivePeriod, start: str, following: str) -> None:
    assert period.bucket_start(T0) == datetime.datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert period.next_bucket_start(T0) == datetime.datetime.fromisoformat(following).replace(
        tzinfo=UTC
    )


def test_an_instant_on_a_boundary_opens_its_bucket() -> None:
    boundary = datetime.datetime(2024, 5, 6, 11, 0, tzinfo=UTC)
    assert LivePeriod.MINUTE.bucket_start(boundary) == boundary


def test_coalescing_keeps_the_latest_value_per_kpi_and_bucket() -> None:
    pending = PendingValues(capacity=10)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    earlier = bucket - datetime.timedelta(minutes=1)
    pending.offer(
        keyed([value("A", 1, bucket, 1), value("A", 2, bucket, 2), value("B", 5, bucket, 1)])
    )
    pending.offer(keyed([value("A", 3, bucket, 3), value("A", 9, earlier, 3)]))
    drained = pending.drain()
    assert [(v.kpi_code, v.value) for v in drained] == [("A", 9), ("A", 3), ("B", 5)]
    assert pending.drain() == []


def test_an_older_computation_never_replaces_a_newer_one() -> None:
    latest = LatestValues()
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    assert [v.value for _, v in latest.changed("k", [value("A", 2, bucket, 5)])] == [2]
    assert latest.changed("k", [value("A", 1, bucket, 4)]) == []


def test_published_values_are_ranked_by_data_version_not_by_computation_time() -> None:
    latest = LatestValues()
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    # Two overlapping computations: the one reading newer data stamped the earlier time.
    older_data = value("A", 1, bucket, computed_second=9)
    newer_data = value("A", 2, bucket, computed_second=8)
    assert latest.changed("k", [older_data], rank=update_rank({"ORDER": 4})) != []
    news = latest.changed("k", [newer_data], rank=update_rank({"ORDER": 5}))
    assert [v.value for _, v in news] == [2]
    assert latest.changed("k", [older_data], rank=update_rank({"ORDER": 4})) == []
    # Into a buffer in the order they were accepted: the last offered is the one sent.
    pending = PendingValues(capacity=10)
    pending.offer(keyed([older_data]))
    pending.offer(news)
    assert [v.value for v in pending.drain()] == [2]


def test_values_a_snapshot_covered_are_not_sent_again() -> None:
    pending = PendingValues(capacity=10)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    pending.offer(keyed([value("A", 1, bucket, 1), value("B", 7, bucket, 9)]))
    pending.discard_covered_by([value("A", 1, bucket, 2), value("B", 6, bucket, 3)])
    assert [(v.kpi_code, v.value) for v in pending.drain()] == [("B", 7)]


def test_overflowing_the_buffer_ends_the_stream_as_too_slow() -> None:
    stream = LiveStream("s", LivePeriod.MINUTE, capacity=3, now=0.0)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    stream.offer(keyed([value(f"K{i}", i, bucket) for i in range(4)]))
    outgoing = stream.take_outgoing(1.0)
    assert getattr(outgoing, "reason", None) is EndReason.CLIENT_TOO_SLOW
    assert stream.wake.is_set()


def test_a_stream_sends_changes_then_heartbeats_then_nothing() -> None:
    stream = LiveStream("s", LivePeriod.MINUTE, capacity=10, now=0.0)
    assert stream.take_outgoing(1.0) is None
    stream.offer(keyed([value("A", 1, T0)]))
    update = stream.take_outgoing(1.0)
    assert isinstance(update, Update) and [v.value for v in update.values] == [1]
    assert not stream.heartbeat_if_quiet(10.0, interval=15.0)
    assert stream.heartbeat_if_quiet(16.0, interval=15.0)
    assert isinstance(stream.take_outgoing(16.0), Heartbeat)
    assert stream.take_outgoing(16.5) is None


class Clocks:
    def __init__(self) -> None:
        self.wall = T0
        self.mono = 100.0

    def advance(self, seconds: float) -> None:
        self.wall += datetime.timedelta(seconds=seconds)
        self.mono += seconds


def ticker_with(clocks: Clocks, heartbeat: float = 15.0) -> Ticker:
    return Ticker(
        TickSettings(tick_seconds=0.1, heartbeat_seconds=heartbeat, heartbeat_scan_seconds=1.0),
        wall_clock=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
    )


def test_the_ticker_wakes_only_streams_with_news_once_per_tick() -> None:
    clocks = Clocks()
    ticker = ticker_with(clocks)
    busy = LiveStream("busy", LivePeriod.HOUR, 10, clocks.mono)
    idle = LiveStream("idle", LivePeriod.HOUR, 10, clocks.mono)
    ticker.add(busy)
    ticker.add(idle)
    for amount in range(5):
        busy.offer(keyed([value("A", amount, T0, amount)]))
        ticker.mark_dirty(busy)
    assert not busy.wake.is_set()
    clocks.advance(0.1)
    ticker.tick()
    assert busy.wake.is_set() and not idle.wake.is_set()
    update = busy.take_outgoing(clocks.mono)
    assert isinstance(update, Update) and [v.value for v in update.values] == [4]


def test_news_after_a_quiet_spell_is_flushed_without_waiting_for_the_beat() -> None:
    clocks = Clocks()
    ticker = ticker_with(clocks)
    stream = LiveStream("s", LivePeriod.HOUR, 10, clocks.mono)
    ticker.add(stream)
    clocks.advance(5.0)
    assert ticker.seconds_to_flush() == ticker.settings.gather_seconds
    stream.offer(keyed([value("A", 1, T0, 1)]))
    ticker.mark_dirty(stream)
    ticker.tick()
    clocks.advance(0.03)
    # Right after a tick that woke streams, news waits out the rest of the interval: one message
    # per tick at most.
    assert ticker.seconds_to_flush() == pytest.approx(0.07)


def test_the_spacing_of_ticks_grows_with_the_time_fanning_out_takes() -> None:
    clocks = Clocks()
    ticker = Ticker(
        TickSettings(tick_seconds=0.05, fan_out_share=0.5, max_tick_seconds=0.25),
        wall_clock=lambda: clocks.wall,
        monotonic=lambda: clocks.mono,
    )
    stream = LiveStream("s", LivePeriod.HOUR, 10, clocks.mono)
    ticker.add(stream)
    # A quick fan-out (few streams): the shortest spacing.
    ticker.note_fan_out(0.001)
    assert ticker.spacing_seconds == pytest.approx(0.05)
    # Fanning out takes 60 ms: ticks are spaced so that it takes at most half the hub's time.
    for _ in range(20):
        ticker.note_fan_out(0.06)
    assert ticker.spacing_seconds == pytest.approx(0.12, abs=1e-3)
    stream.offer(keyed([value("A", 1, T0, 1)]))
    ticker.mark_dirty(stream)
    assert ticker.tick()
    clocks.advance(0.02)
    assert ticker.seconds_to_flush() == pytest.approx(0.10, abs=1e-3)
    # However long it takes, what changed still goes out at least this often.
    for _ in range(20):
        ticker.note_fan_out(2.0)
    assert ticker.spacing_seconds == pytest.approx(0.25)
    # Once the load is gone, the spacing comes back down within a few ticks.
    for _ in range(10):
        ticker.note_fan_out(0.0)
    assert ticker.spacing_seconds == pytest.approx(0.05)


@contextlib.asynccontextmanager
async def running(ticker: Ticker) -> AsyncIterator[Ticker]:
    """`ticker` beating in the background for the block's duration."""
    task = asyncio.create_task(ticker.run())
    try:
        yield ticker
    finally:
        task.cancel()


async def test_the_ticker_measures_how_long_its_streams_take_to_take_their_news() -> None:
    ticker = Ticker(TickSettings(tick_seconds=0.05, gather_seconds=0.001))
    streams = [LiveStream(f"s{n}", LivePeriod.HOUR, 10, time.monotonic()) for n in range(3)]

    async def slow_handler(stream: LiveStream) -> None:
        await stream.wake.wait()
        # A handler's work on the hub's one thread: the loop runs nothing else meanwhile.
        busy_until = time.monotonic() + 0.02
        while time.monotonic() < busy_until:
            pass

    handlers = [asyncio.create_task(slow_handler(stream)) for stream in streams]
    await asyncio.sleep(0)
    async with running(ticker):
        for stream in streams:
            ticker.add(stream)
            stream.offer(keyed([value("A", 1, T0, 1)]))
            ticker.mark_dirty(stream)
        await asyncio.wait_for(asyncio.gather(*handlers), 2.0)
        await asyncio.sleep(0.01)
        assert ticker.fan_out_seconds >= 0.5 * 3 * 0.02


def test_a_tick_that_woke_nobody_does_not_delay_the_next_news() -> None:
    clocks = Clocks()
    ticker = ticker_with(clocks)
    ticker.add(LiveStream("s", LivePeriod.HOUR, 10, clocks.mono))
    clocks.advance(5.0)
    ticker.tick()  # a bucket and heartbeat check: nothing to send
    clocks.advance(0.03)
    assert ticker.seconds_to_flush() == ticker.settings.gather_seconds


async def _woken_within(stream: LiveStream, seconds: float) -> float | None:
    """How long the stream took to be woken (None: not within `seconds`)."""
    started = asyncio.get_running_loop().time()
    try:
        await asyncio.wait_for(stream.wake.wait(), seconds)
    except TimeoutError:
        return None
    return asyncio.get_running_loop().time() - started


async def test_a_lone_value_after_a_quiet_spell_goes_out_without_waiting_for_the_beat() -> None:
    # A long beat, so that waiting for it could not pass for the gathering window.
    stream = LiveStream("s", LivePeriod.HOUR, 10, time.monotonic())
    async with running(Ticker(TickSettings(tick_seconds=1.0, gather_seconds=0.01))) as ticker:
        ticker.add(stream)
        # Past a tick that woke nobody (a heartbeat and bucket check): it sent nothing, so it
        # does not hold back the news that follows.
        await asyncio.sleep(1.1)
        stream.offer(keyed([value("A", 1, T0, 1)]))
        ticker.mark_dirty(stream)
        waited = await _woken_within(stream, 2.0)
        assert waited is not None and waited < 0.5


async def test_a_burst_is_coalesced_into_one_message_per_tick() -> None:
    stream = LiveStream("s", LivePeriod.HOUR, 10, time.monotonic())
    async with running(Ticker(TickSettings(tick_seconds=0.3, gather_seconds=0.01))) as ticker:
        ticker.add(stream)
        stream.offer(keyed([value("A", 0, T0, 0)]))
        ticker.mark_dirty(stream)
        assert await _woken_within(stream, 1.0) is not None
        stream.wake.clear()
        first = stream.take_outgoing(0.0)
        assert isinstance(first, Update) and [v.value for v in first.values] == [0]
        # Right after a message: a burst waits for the rest of the tick and goes out as one.
        for amount in range(1, 6):
            stream.offer(keyed([value("A", amount, T0, amount)]))
            ticker.mark_dirty(stream)
            await asyncio.sleep(0.01)
        waited = await _woken_within(stream, 2.0)
        assert waited is not None and waited > 0.1
        second = stream.take_outgoing(0.0)
        assert isinstance(second, Update) and [v.value for v in second.values] == [5]


def test_the_ticker_marks_heartbeats_after_a_quiet_interval() -> None:
    clocks = Clocks()
    ticker = ticker_with(clocks, heartbeat=15.0)
    stream = LiveStream("s", LivePeriod.DAY, 10, clocks.mono)
    ticker.add(stream)
    clocks.advance(14.0)
    ticker.tick()
    assert not stream.wake.is_set()
    clocks.advance(1.5)
    ticker.tick()
    assert stream.wake.is_set()
    assert isinstance(stream.take_outgoing(clocks.mono), Heartbeat)


def test_the_ticker_opens_a_bucket_on_the_streams_of_that_period_only() -> None:
    clocks = Clocks()  # 10:59:30: the minute and the hour both roll over at 11:00:00
    ticker = ticker_with(clocks, heartbeat=300.0)
    minute = LiveStream("m", LivePeriod.MINUTE, 10, clocks.mono)
    day = LiveStream("d", LivePeriod.DAY, 10, clocks.mono)
    ticker.add(minute)
    ticker.add(day)
    clocks.advance(29.9)
    ticker.tick()
    assert not minute.wake.is_set()
    clocks.advance(0.2)
    ticker.tick()
    assert minute.wake.is_set() and not day.wake.is_set()
    update = minute.take_outgoing(clocks.mono)
    assert isinstance(update, Update) and update.bucket_opened and update.values == []
    clocks.advance(0.1)
    minute.wake.clear()
    ticker.tick()
    assert not minute.wake.is_set(), "a bucket opens once"


def test_latest_values_report_only_what_changed() -> None:
    latest = LatestValues(buckets_kept=2)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    assert len(latest.changed("k", [value("A", 1, bucket, 1)])) == 1
    assert latest.changed("k", [value("A", 1, bucket, 2)]) == []
    assert [v.value for _, v in latest.changed("k", [value("A", 2, bucket, 3)])] == [2]
    assert latest.changed("k", [value("A", 1, bucket, 2)]) == [], "older computation"


def field_of(error: pytest.ExceptionInfo[InvalidArgument]) -> list[str]:
    return [v.field for v in error.value.violations]


def test_a_dashboard_request_is_validated_field_by_field() -> None:
    with pytest.raises(InvalidArgument) as error:
        dashboard_stream_request(stream_pb2.StreamDashboardRequest(history_buckets=-1))
    assert field_of(error) == ["kpi_codes", "client_id", "period", "history_buckets"]


def test_a_kpi_request_names_kpi_code() -> None:
    with pytest.raises(InvalidArgument) as error:
        kpi_stream_request(stream_pb2.StreamKpiRequest(client_id="c", period=types_pb2.PERIOD_HOUR))
    assert field_of(error) == ["kpi_code"]


def test_a_valid_request_gets_defaults_and_unique_codes() -> None:
    request = dashboard_stream_request(
        stream_pb2.StreamDashboardRequest(
            kpi_codes=["A", "B", "A"], client_id="c", period=types_pb2.PERIOD_DAY
        )
    )
    assert request.kpi_codes == ("A", "B")
    assert request.period is LivePeriod.DAY
    assert request.history_buckets == 60


def test_a_snapshot_encoded_in_pieces_reads_as_one_message() -> None:
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    earlier = bucket - datetime.timedelta(minutes=1)
    series = [
        calculation_pb2.KpiSnapshot(
            kpi_code=code, current=value(code, 2, bucket), history=[value(code, 1, earlier)]
        )
        for code in ("A", "B")
    ]
    request = dashboard_stream_request(
        stream_pb2.StreamDashboardRequest(
            kpi_codes=["A", "B", "X"], client_id="acme", period=types_pb2.PERIOD_MINUTE
        )
    )
    refused = status_pb2.Status(code=code_pb2.NOT_FOUND, message="no KPI X")
    opened = OpenedStream(
        LiveStream("s1", LivePeriod.MINUTE, 10, 0.0),
        request,
        series=[wire.series_entry(kpi) for kpi in series],
        failures=[KpiFailure("X", refused)],
        opened_at=T0,
    )
    encoded = stream_messages.snapshot(stream_pb2.StreamDashboardResponse, 1, opened, 15.0)
    send = serializer(stream_pb2.StreamDashboardResponse.SerializeToString)
    message = stream_pb2.StreamDashboardResponse.FromString(send(encoded))
    assert message.sequence == 1
    snapshot = message.snapshot
    assert snapshot.stream_id == "s1" and snapshot.period == types_pb2.PERIOD_MINUTE
    assert [(k.kpi_code, k.current.value, [h.value for h in k.history]) for k in snapshot.kpis] == [
        ("A", 2, [1]),
        ("B", 2, [1]),
    ]
    assert [(e.kpi_code, e.status.code) for e in snapshot.errors] == [("X", code_pb2.NOT_FOUND)]
    assert snapshot.server_time.ToDatetime(tzinfo=UTC) == T0
    assert snapshot.heartbeat_interval.seconds == 15
    # Handed over once: the stream keeps nothing of it afterwards.
    with pytest.raises(RuntimeError):
        encoded.take()


def test_streams_holding_the_same_subscriptions_share_an_audience() -> None:
    def held(*codes: str) -> dict[SubscriptionId, Lease]:
        return {
            SubscriptionId("acme", code, LivePeriod.MINUTE): Lease(f"k-{code}", f"ch-{code}")
            for code in codes
        }

    audiences = Audiences()
    first, second, other = (LiveStream(n, LivePeriod.MINUTE, 10, 0.0) for n in "abc")
    shared = audiences.join(first, held("A", "B"))
    assert audiences.join(second, held("B", "A")) is shared
    alone = audiences.join(other, held("B", "C"))
    assert sorted(len(streams) for streams in audiences.watching("k-B")) == [1, 2]
    assert audiences.watching("k-A") == [{first, second}]
    assert audiences.leave(first, shared) == []
    assert audiences.leave(second, shared) == ["k-A"], "k-B is still watched"
    assert audiences.watching("k-A") == []
    assert sorted(audiences.leave(other, alone)) == ["k-B", "k-C"]
    assert audiences.watching("k-B") == []


def test_streams_sending_the_same_values_in_a_tick_share_one_encoding() -> None:
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    values = [value("A", 1, bucket, 1), value("B", 2, bucket, 1)]
    shared = wire.SharedValueEncodings()
    send = serializer(stream_pb2.StreamDashboardResponse.SerializeToString)
    failure = KpiFailure("X", status_pb2.Status(code=code_pb2.NOT_FOUND))
    messages = []
    for sequence in (2, 3):
        outgoing = Update(list(values), bucket_opened=True, failures=[failure])
        message = stream_messages.following(
            stream_pb2.StreamDashboardResponse,
            sequence,
            outgoing,
            LivePeriod.MINUTE,
            T0,
            lambda drained: shared.encoded(7, drained),
        )
        messages.append(stream_pb2.StreamDashboardResponse.FromString(send(message)))
    plain = stream_messages.following(
        stream_pb2.StreamDashboardResponse,
        3,
        Update(values, True, [failure]),
        LivePeriod.MINUTE,
        T0,
    )
    assert messages[1] == plain
    assert messages[0].sequence == 2 and list(messages[0].update.values) == values
    assert shared.encodings == 1
    # The next tick encodes afresh.
    shared.encoded(8, list(values))
    assert shared.encodings == 2


def test_updates_without_errors_are_joined_once_per_tick_and_read_as_built_plainly() -> None:
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    values = [value("A", 1, bucket, 1), value("B", 2, bucket, 1)]
    shared = wire.SharedValueEncodings()
    send = serializer(stream_pb2.StreamDashboardResponse.SerializeToString)
    for sequence in (5, 200, 20_000):
        message = stream_messages.following(
            stream_pb2.StreamDashboardResponse,
            sequence,
            Update(values, bucket_opened=False, failures=[]),
            LivePeriod.MINUTE,
            T0,
            lambda drained: shared.encoded(7, drained),
        )
        plain = stream_messages.following(
            stream_pb2.StreamDashboardResponse,
            sequence,
            Update(values, False, []),
            LivePeriod.MINUTE,
            T0,
        )
        assert stream_pb2.StreamDashboardResponse.FromString(send(message)) == plain
    assert shared.encodings == 1


def audience_of(*streams: LiveStream) -> tuple[Audiences, Audience]:
    audiences = Audiences(capacity=3)
    held = {SubscriptionId("acme", "A", LivePeriod.MINUTE): Lease("k-A", "ch-A")}
    audience = audiences.join(streams[0], held)
    for stream in streams[1:]:
        assert audiences.join(stream, held) is audience
    return audiences, audience


def test_a_tick_hands_an_audience_one_batch_that_its_streams_send_as_is() -> None:
    clocks = Clocks()
    ticker = ticker_with(clocks)
    streams = [LiveStream(n, LivePeriod.MINUTE, 10, clocks.mono) for n in "abc"]
    _, audience = audience_of(*streams)
    for stream in streams:
        ticker.add(stream)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value("A", 1, bucket, 1)]))
    audience.offer(keyed([value("A", 2, bucket, 2)]))
    ticker.mark_deliverer_dirty(audience)
    assert not any(stream.wake.is_set() for stream in streams)
    clocks.advance(0.1)
    ticker.tick()
    assert all(stream.wake.is_set() for stream in streams)
    updates = [stream.take_outgoing(clocks.mono) for stream in streams]
    assert all(isinstance(u, Update) and [v.value for v in u.values] == [2] for u in updates)
    # The very same list: one encoding serves every stream of the audience.
    values = [u.values for u in updates if isinstance(u, Update)]
    assert values[0] is values[1] is values[2]
    assert not len(audience.pending)


def test_a_stream_that_did_not_send_its_batch_merges_the_next_one() -> None:
    slow = LiveStream("slow", LivePeriod.MINUTE, 10, 0.0)
    _, audience = audience_of(slow)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value("A", 1, bucket, 1), value("B", 5, bucket, 1)]))
    audience.deliver()
    audience.offer(keyed([value("A", 2, bucket, 2)]))
    audience.deliver()
    update = slow.take_outgoing(1.0)
    assert isinstance(update, Update)
    assert [(v.kpi_code, v.value) for v in update.values] == [("A", 2), ("B", 5)]
    assert slow.take_outgoing(1.0) is None


def test_streams_lagging_by_the_same_batch_share_one_merge_with_the_next() -> None:
    slow = [LiveStream(n, LivePeriod.MINUTE, 10, 0.0) for n in ("s1", "s2")]
    prompt = LiveStream("prompt", LivePeriod.MINUTE, 10, 0.0)
    _, audience = audience_of(*slow, prompt)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value("B", 5, bucket, 1), value("A", 1, bucket, 1)]))
    audience.deliver()
    assert isinstance(prompt.take_outgoing(1.0), Update)
    audience.offer(keyed([value("A", 2, bucket, 2)]))
    audience.deliver()
    updates = [stream.take_outgoing(1.0) for stream in slow]
    sent = prompt.take_outgoing(1.0)
    assert isinstance(sent, Update) and [(v.kpi_code, v.value) for v in sent.values] == [("A", 2)]
    assert all(isinstance(u, Update) for u in updates)
    first, second = (u.values for u in updates if isinstance(u, Update))
    assert [(v.kpi_code, v.value) for v in first] == [("A", 2), ("B", 5)]
    # One union for both: encoded once in the tick that sends it.
    assert first is second


def test_a_batch_holding_every_key_of_an_unsent_one_replaces_it_whole() -> None:
    slow = LiveStream("slow", LivePeriod.MINUTE, 10, 0.0)
    _, audience = audience_of(slow)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value("A", 1, bucket, 1)]))
    audience.deliver()
    audience.offer(keyed([value("A", 2, bucket, 2), value("B", 5, bucket, 2)]))
    audience.deliver()
    update = slow.take_outgoing(1.0)
    assert isinstance(update, Update)
    assert [(v.kpi_code, v.value) for v in update.values] == [("A", 2), ("B", 5)]
    assert slow.pending_count == 0


def test_an_audience_overflowing_between_ticks_ends_its_streams_as_too_slow() -> None:
    stream = LiveStream("s", LivePeriod.MINUTE, 10, 0.0)
    _, audience = audience_of(stream)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value(f"K{i}", i, bucket) for i in range(4)]))
    audience.deliver()
    assert getattr(stream.take_outgoing(1.0), "reason", None) is EndReason.CLIENT_TOO_SLOW


def test_a_new_stream_skips_arriving_values_its_snapshot_already_holds() -> None:
    old, new = (LiveStream(n, LivePeriod.MINUTE, 10, 0.0) for n in ("old", "new"))
    _, audience = audience_of(old, new)
    bucket = LivePeriod.MINUTE.bucket_start(T0)
    audience.offer(keyed([value("A", 1, bucket, 1), value("B", 7, bucket, 9)]))
    # One call per KPI of the snapshot: what each covers adds up.
    new.discard_covered_by([value("A", 1, bucket, 2)], audience.pending)
    new.discard_covered_by([value("B", 6, bucket, 3)], audience.pending)
    audience.offer(keyed([value("C", 4, bucket, 1)]))
    new.discard_covered_by([value("C", 4, bucket, 1)], audience.pending)
    audience.deliver()
    sent_old, sent_new = old.take_outgoing(1.0), new.take_outgoing(1.0)
    assert isinstance(sent_old, Update) and isinstance(sent_new, Update)
    assert [v.kpi_code for v in sent_old.values] == ["A", "B", "C"]
    assert [(v.kpi_code, v.value) for v in sent_new.values] == [("B", 7)]


async def test_a_stream_wakes_once_set_and_sleeps_again_once_cleared() -> None:
    wake = Wake()
    sleeper = asyncio.ensure_future(wake.wait())
    await asyncio.sleep(0)
    assert not sleeper.done()
    wake.set()
    await asyncio.wait_for(sleeper, 1.0)
    await asyncio.wait_for(wake.wait(), 1.0)  # still set: returns at once
    wake.clear()
    sleeper = asyncio.ensure_future(wake.wait())
    await asyncio.sleep(0)
    assert not sleeper.done()
    sleeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sleeper
    # A cancelled wait leaves the flag usable by the next one.
    sleeper = asyncio.ensure_future(wake.wait())
    await asyncio.sleep(0)
    wake.set()
    await asyncio.wait_for(sleeper, 1.0)
