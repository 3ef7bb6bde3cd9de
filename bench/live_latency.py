"""Live latency through the real stack: ingest commit → dashboard stream receipt.

    .venv/bin/python bench/live_latency.py [--streams 1000] [--kpis 100] [--rate 1000]
        [--seconds 10] [--storm 2000] [--via-envoy] [--history N] [--sample 20]
        [--drain-workers 1] [--hub-processes N] [--data-dir DIR]

Starts a stack for the run (or measures the one running in --data-dir). N StreamDashboard streams
of one client × K KPIs are opened on the stream hub processes (natively, the client's connections
spread over them as a balancing proxy would; or through Envoy with --via-envoy);
rows are ingested through the data service (DataService/IngestRows) at R rows/s in small batches,
spread over the object models the KPIs read. Each row's time field is the moment its batch was
sent, unique and increasing per object model, so a streamed value's watermark (the newest row time
of its object model that the calculation saw) says which batches it reflects. A batch counts as
received by a stream when the stream first gets a value, of any KPI reading only that batch's
object model, whose watermark reaches the batch; latency = that moment − the IngestRows reply
(the commit). Printed: p50/p99 for 1 stream and for N streams, how many (stream, batch) pairs never
arrived, the stream open failures when `--storm` streams open at once, and the hubs' RSS per open
stream. Targets: p99 ≤ 200 ms, 0 failures, ≤ 50 KB per stream.

The client runs on the same machine as the stack, where it competes with the stack for CPU. So
that it does not become the bottleneck at large N, only a sample of the streams (`--sample`, 20 by
default) is parsed and timed, in this process, which also sends the batches; the others are read
as raw bytes, at the pace the hub sends them, by a child process (`--drain-workers`, 1 by default;
0 reads them in this process too, as earlier versions did). Reading a thousand streams in the
process that times the sample and notes the commits delayed both: a receipt or a commit waited
behind the other streams' messages in one event loop, and the batches fell behind their rate.
The child opens its streams on its own connections with the same request and token (passed per
call rather than by a channel interceptor, which costs Python work per message), reports how many
opened, and reads every message until the phase closes them. It stands for clients on other
machines, so it runs only when the stack leaves a core idle (Linux's SCHED_IDLE policy; with
`--no-readers-idle`, at the niceness `--readers-nice` gives, 10 by default): on a machine whose
cores the stack already fills, its reading would otherwise be counted as the stack's latency. At
nice 10 it still took its share at the moments that matter: at 1000 streams the p99 was 306 and
327 ms against 205 and 199 ms with SCHED_IDLE, back to back, as the hub's fan-out waited for the
readers' turn. It still reads every message (the messages per stream of the sample and of the
child are printed side by side: a child that lagged would get fewer, fuller messages, and the hub
would be doing less work than the figures suggest).

Each pair's latency is also split at the value's `computed_at` (commit → computed: relay, bus,
recomputation; computed → receipt: publish, fan-out, stream), and the first leg again at the moment
the relay appended the batch's DataChanged to the bus (the stream entry's id); each leg is printed
as p50/p99, as the legs' tails need not fall on the same pairs. Each phase also prints the share of
a core that the hubs (together), calculation, data and Redis processes, and this client, used
while it ran: on a shared machine it tells starved from busy; and the hubs' CPU per stream message
sent.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime
import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
import redis.asyncio as redis  # noqa: E402
from analytics.data.v1 import data_pb2, data_pb2_grpc  # noqa: E402
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc  # noqa: E402
from analytics.type.v1 import types_pb2  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402

from analytics_engine.credentials import channel_with  # noqa: E402
from bench import harness  # noqa: E402
from services.bus.envelopes import ENVELOPE_FIELD, decode_envelope  # noqa: E402
from services.bus.names import DATA_CHANGED_STREAM  # noqa: E402
from services.catalog.catalog_files import load_catalog_files  # noqa: E402
from services.catalog.domain import Catalog, Field, FieldType, ObjectModel  # noqa: E402

PERIODS = {"minute": types_pb2.PERIOD_MINUTE, "hour": types_pb2.PERIOD_HOUR}
STREAM_DASHBOARD = "/analytics.gateway.v1.StreamService/StreamDashboard"
OPEN_SECONDS = 120.0
RPC_SECONDS = 30.0


# -- what is watched and what is ingested -----------------------------------------------------


@dataclass(frozen=True)
class Workload:
    kpi_codes: tuple[str, ...]
    """The dashboard: K KPIs, those that move first."""
    models: tuple[ObjectModel, ...]
    """Object models rows are ingested into: those with a timestamp time field that one of the
    dashboard's KPIs reads alone."""
    model_of_kpi: dict[str, str]
    """KPIs reading exactly one ingested object model: the ones whose watermark matches batches."""


def _is_timestamped(model: ObjectModel) -> bool:
    return any(f.name == model.time_field and f.type is FieldType.TIMESTAMP for f in model.fields)


def workload(catalog: Catalog, kpi_count: int) -> Workload:
    """KPIs over timestamped object models first (they move, and their watermarks tell batches
    apart), then the rest of the catalog until K."""
    timestamped = {m.code for m in catalog.object_models if _is_timestamped(m)}
    kpis = sorted(catalog.kpis, key=lambda k: k.code)
    moving = [k for k in kpis if set(k.required_object_model_codes) <= timestamped]
    still = [k for k in kpis if k not in moving]
    chosen = (moving + still)[:kpi_count]
    if len(chosen) < kpi_count:
        sys.exit(f"the catalog has only {len(chosen)} KPIs")
    # Rows go only where a KPI reading nothing else can show, by its watermark, that they arrived.
    single = {
        k.code: k.required_object_model_codes[0]
        for k in chosen
        if len(k.required_object_model_codes) == 1
        and k.required_object_model_codes[0] in timestamped
    }
    models = tuple(m for m in catalog.object_models if m.code in set(single.values()))
    return Workload(tuple(k.code for k in chosen), models, single)


class RowMaker:
    """Plausible rows of any object model: allowed values drawn at random, unique keys, the time
    field set to the batch's moment and other timestamps around it."""

    def __init__(self, seed: int = 7) -> None:
        self._random = random.Random(seed)
        self._serial = 0

    def row(self, model: ObjectModel, moment: datetime.datetime) -> dict[str, Any]:
        self._serial += 1
        return {f.name: self._value(model, f, moment) for f in model.fields}

    def _value(self, model: ObjectModel, f: Field, moment: datetime.datetime) -> Any:
        pick = self._random
        if f.name == model.time_field:
            return moment.isoformat()
        if f.allowed_values:
            return pick.choice(f.allowed_values)
        if f.key:
            return f"LIVE-{uuid.uuid4().hex[:16]}"
        if f.type is FieldType.TIMESTAMP:
            return (moment + datetime.timedelta(hours=pick.uniform(-48, 72))).isoformat()
        if f.type is FieldType.DATE:
            return moment.date().isoformat()
        if f.type is FieldType.DECIMAL:
            return round(pick.uniform(10, 1000), 2)
        if f.type is FieldType.INTEGER:
            return pick.randint(1, 10)
        if f.type is FieldType.BOOLEAN:
            return pick.random() < 0.9
        return f"{f.name[:3].upper()}-{pick.randint(1, 50)}"


# -- batches and their commits ------------------------------------------------------------------


@dataclass
class Ledger:
    """Per object model, the batches sent in order: their row time (µs) and commit moment."""

    row_times: dict[str, list[int]] = field(default_factory=dict)
    committed_at: dict[str, list[float | None]] = field(default_factory=dict)
    # The same moments on the wall clock, to compare with a value's `computed_at`.
    committed_wall: dict[str, list[float]] = field(default_factory=dict)
    # When the relay put each batch's DataChanged on the bus (wall clock, from the entry id).
    relayed_wall: dict[str, list[float | None]] = field(default_factory=dict)
    failures: int = 0

    def reset(self, models: Sequence[ObjectModel]) -> None:
        self.row_times = {m.code: [] for m in models}
        self.committed_at = {m.code: [] for m in models}
        self.committed_wall = {m.code: [] for m in models}
        self.relayed_wall = {m.code: [] for m in models}


def micros(moment: datetime.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


async def feed(
    data: data_pb2_grpc.DataServiceStub,
    client: str,
    model: ObjectModel,
    rows_per_second: float,
    batch_rows: int,
    seconds: float,
    ledger: Ledger,
    maker: RowMaker,
) -> None:
    """One object model's sender: a batch every batch_rows / rows_per_second seconds."""
    interval = batch_rows / rows_per_second
    started = time.monotonic()
    sent = 0
    last = 0
    while time.monotonic() - started < seconds:
        now = datetime.datetime.now(datetime.UTC)
        stamp = max(micros(now), last + 1)  # strictly increasing per model
        last = stamp
        moment = datetime.datetime.fromtimestamp(stamp / 1_000_000, datetime.UTC)
        structs = []
        for _ in range(batch_rows):
            struct = struct_pb2.Struct()
            struct.update(maker.row(model, moment))
            structs.append(struct)
        index = len(ledger.row_times[model.code])
        ledger.row_times[model.code].append(stamp)
        ledger.committed_at[model.code].append(None)
        ledger.committed_wall[model.code].append(0.0)
        ledger.relayed_wall[model.code].append(None)
        try:
            await data.IngestRows(  # type: ignore[misc]
                data_pb2.IngestRowsRequest(
                    object_model_code=model.code, client_id=client, rows=structs
                ),
                timeout=RPC_SECONDS,
            )
            ledger.committed_at[model.code][index] = time.monotonic()
            ledger.committed_wall[model.code][index] = time.time()
        except grpc.aio.AioRpcError as error:
            ledger.failures += 1
            if ledger.failures <= 3:
                print(f"  ingest failed: {error.code()} {error.details()}"[:300])
        sent += 1
        await asyncio.sleep(max(0.0, started + sent * interval - time.monotonic()))


async def watch_relay(bus: Any, ledger: Ledger) -> None:
    """Notes when each batch's DataChanged reached the bus (the stream entry's id is the moment
    Redis appended it), matched to its batch by the watermark: the commit → relayed leg."""
    last = "$"
    while True:
        reply = await bus.xread({DATA_CHANGED_STREAM: last}, count=1000, block=1000)
        for _, entries in reply or []:
            for entry_id, fields in entries:
                last = entry_id
                message = decode_envelope(fields.get(ENVELOPE_FIELD, b""))
                if message is None or message.WhichOneof("payload") != "data_changed":
                    continue
                changed = message.data_changed
                times = ledger.row_times.get(changed.object_model_code)
                if times is None or not changed.HasField("watermark"):
                    continue
                mark = changed.watermark.seconds * 1_000_000 + changed.watermark.nanos // 1000
                index = bisect.bisect_left(times, mark)
                relayed = ledger.relayed_wall[changed.object_model_code]
                if index < len(times) and times[index] == mark and relayed[index] is None:
                    relayed[index] = int(entry_id.split(b"-")[0]) / 1000


# -- the streams --------------------------------------------------------------------------------


@dataclass
class Receipts:
    """What one stream received: per object model, the batches reached so far and when."""

    reached: dict[str, int] = field(default_factory=dict)
    # (object model, batch, receipt monotonic, receipt wall clock, computed_at of the value)
    moments: list[tuple[str, int, float, float, float]] = field(default_factory=list)
    opened: bool = False
    # Messages after the snapshot.
    messages: int = 0


class Streams:
    def __init__(
        self,
        channels: Sequence[grpc.aio.Channel],
        work: Workload,
        period: int,
        ledger: Ledger,
        history: int = 0,
        sample: int = 20,
        drainer: DrainWorker | None = None,
    ) -> None:
        self._channels = channels
        self._history = history
        self._sample = sample
        self._work = work
        self._period = period
        self._ledger = ledger
        self._drainer = drainer
        self.calls: list[Any] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.receipts: list[Receipts] = []
        self.recording = False
        # Messages after the snapshot read by the streams outside the sample in this process.
        self.drained = Drained()

    async def open(self, client: str, count: int) -> tuple[int, float, str]:
        """Open `count` streams at once; returns (failures, seconds, first failure)."""
        request = stream_pb2.StreamDashboardRequest(
            kpi_codes=self._work.kpi_codes,
            client_id=client,
            period=self._period,  # type: ignore[arg-type]
            history_buckets=self._history,
        )
        started = time.monotonic()
        here = count if self._drainer is None else min(count, self._sample)
        elsewhere = None
        if here < count:
            assert self._drainer is not None
            elsewhere = asyncio.create_task(self._drainer.open(request, count - here))
        failures, first = await self._open_here(request, here)
        if elsewhere is not None:
            child_failures, child_first = await elsewhere
            failures += child_failures
            first = first or child_first
        return failures, time.monotonic() - started, first[:300]

    async def _open_here(
        self, request: stream_pb2.StreamDashboardRequest, count: int
    ) -> tuple[int, str]:
        """Open `count` streams in this process, the sample first."""
        opened: list[asyncio.Event] = []
        first_index = len(self.calls)
        for index in range(first_index, first_index + count):
            channel = self._channels[index % len(self._channels)]
            event = asyncio.Event()
            opened.append(event)
            call: Any
            if index - first_index < self._sample:
                call = stream_pb2_grpc.StreamServiceStub(channel).StreamDashboard(request)
                receipts = Receipts()
                self.receipts.append(receipts)
                consumer = self._consume(call, event, receipts)
            else:
                call = channel.unary_stream(
                    STREAM_DASHBOARD,
                    request_serializer=stream_pb2.StreamDashboardRequest.SerializeToString,
                    response_deserializer=None,
                )(request)
                consumer = self._drain(call, event)
            self.calls.append(call)
            self.tasks.append(asyncio.create_task(consumer))
        return await open_outcome(self.tasks[len(self.tasks) - count :], opened)

    async def _drain(self, call: Any, opened: asyncio.Event) -> None:
        await drain(call, opened, self.drained)

    async def _consume(self, call: Any, opened: asyncio.Event, receipts: Receipts) -> None:
        try:
            await self._record(call, opened, receipts)
        finally:
            opened.set()  # a stream that failed to open is counted now, not at the time limit

    async def _record(self, call: Any, opened: asyncio.Event, receipts: Receipts) -> None:
        model_of_kpi = self._work.model_of_kpi
        ledger = self._ledger
        async for message in call:
            kind = message.WhichOneof("event")
            if kind == "snapshot":
                receipts.opened = True
                opened.set()
                continue
            receipts.messages += 1
            if kind != "update" or not self.recording:
                continue
            now = time.monotonic()
            wall = time.time()
            for value in message.update.values:
                model = model_of_kpi.get(value.kpi_code)
                if model is None or not value.HasField("watermark"):
                    continue
                mark = value.watermark.seconds * 1_000_000 + value.watermark.nanos // 1000
                times = ledger.row_times[model]
                reached = bisect.bisect_right(times, mark)
                before = receipts.reached.get(model, 0)
                computed = value.computed_at.seconds + value.computed_at.nanos / 1e9
                for batch in range(before, reached):
                    receipts.moments.append((model, batch, now, wall, computed))
                if reached > before:
                    receipts.reached[model] = reached

    async def messages_per_stream(self) -> tuple[float, float]:
        """Messages after the snapshot per open stream so far: (sampled, read unparsed). The
        unparsed streams must keep pace with the sample, or the hub would be sending less than
        the figures suggest (a stream whose reader lags gets fewer, fuller messages)."""
        opened = [r for r in self.receipts if r.opened]
        sampled = sum(r.messages for r in opened) / max(1, len(opened))
        streams, messages = self.drained.streams, self.drained.messages
        if self._drainer is not None:
            child_streams, child_messages = await self._drainer.counts()
            streams += child_streams
            messages += child_messages
        return sampled, messages / max(1, streams)

    async def close(self) -> None:
        for call in self.calls:
            call.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.calls, self.tasks, self.receipts = [], [], []
        self.drained = Drained()
        if self._drainer is not None:
            await self._drainer.close()


@dataclass
class Drained:
    """What the streams outside the sample read: how many opened, their messages after the
    snapshot."""

    streams: int = 0
    messages: int = 0


async def drain(call: Any, opened: asyncio.Event, drained: Drained) -> None:
    """A stream outside the sample: read as the hub sends, never parsed (the first message is the
    snapshot)."""
    try:
        first = True
        async for _ in call:
            if first:
                first = False
                drained.streams += 1
                opened.set()
            else:
                drained.messages += 1
    finally:
        opened.set()  # a stream that failed to open is counted now, not at the time limit


async def open_outcome(
    tasks: Sequence[asyncio.Task[None]], opened: Sequence[asyncio.Event]
) -> tuple[int, str]:
    """Waits for the streams read by `tasks` to open; returns (failures, first failure)."""
    waits = [asyncio.create_task(event.wait()) for event in opened]
    if waits:
        await asyncio.wait(waits, timeout=OPEN_SECONDS)
    failures, first = 0, ""
    for task, wait in zip(tasks, waits, strict=True):
        failed = not wait.done() or (
            task.done() and (task.cancelled() or task.exception() is not None)
        )
        if failed:
            failures += 1
            if not first:
                if not task.done():
                    first = "no snapshot in time"
                else:
                    first = "cancelled" if task.cancelled() else repr(task.exception())
        wait.cancel()
    return failures, first


# -- streams read by a child process --------------------------------------------------------------


@dataclass(frozen=True)
class DrainSetup:
    addresses: tuple[str, ...]
    """Where streams open: connection i goes to addresses[i % len]."""
    metadata: tuple[tuple[str, str], ...]
    connections: int
    # Added to the child's nice value.
    niceness: int = 0
    # SCHED_IDLE: run only on a core nothing else wants (niceness then makes no difference).
    idle: bool = False


class DrainWorker:
    """A child process that opens and reads streams outside the sample, on command: ("open",
    request, count) answered by (failures, first failure) once they opened; ("counts",) by the
    streams opened and their messages after the snapshot; ("close",) answered when they are
    closed; ("exit",) ends it."""

    def __init__(self, setup: DrainSetup) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process running gRPC
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_drain_worker_main, args=(setup, child))
        self._process.start()
        child.close()
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def _ask(self, *command: Any) -> Any:
        async with self._lock:
            self._pipe.send(command)
            reply = await asyncio.to_thread(self._pipe.recv)
        return reply

    async def open(self, request: stream_pb2.StreamDashboardRequest, count: int) -> tuple[int, str]:
        failures, first = await self._ask("open", request.SerializeToString(), count)
        return int(failures), str(first)

    async def counts(self) -> tuple[int, int]:
        streams, messages = await self._ask("counts")
        return int(streams), int(messages)

    async def close(self) -> None:
        await self._ask("close")

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._pipe.send(("exit",))
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()


def _drain_worker_main(setup: DrainSetup, pipe: multiprocessing.connection.Connection) -> None:
    asyncio.run(_drain_worker(setup, pipe))


async def _drain_worker(setup: DrainSetup, pipe: multiprocessing.connection.Connection) -> None:
    # The readers stand for clients on other machines: they read every message, but give way to
    # the stack when the cores are contended (or their own CPU would be counted as the stack's
    # latency). `messages_per_stream` checks that they kept pace.
    if setup.idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(setup.niceness)
    drained = Drained()
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
    channels = [
        grpc.aio.insecure_channel(setup.addresses[i % len(setup.addresses)], options=options)
        for i in range(setup.connections)
    ]
    calls: list[Any] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        while True:
            command = await asyncio.to_thread(pipe.recv)
            if command[0] == "open":
                request = stream_pb2.StreamDashboardRequest.FromString(command[1])
                opened: list[asyncio.Event] = []
                first_task = len(tasks)
                for index in range(command[2]):
                    call: Any = channels[index % len(channels)].unary_stream(
                        STREAM_DASHBOARD,
                        request_serializer=stream_pb2.StreamDashboardRequest.SerializeToString,
                        response_deserializer=None,
                    )(request, metadata=setup.metadata)
                    event = asyncio.Event()
                    opened.append(event)
                    calls.append(call)
                    tasks.append(asyncio.create_task(drain(call, event, drained)))
                pipe.send(await open_outcome(tasks[first_task:], opened))
            elif command[0] == "counts":
                pipe.send((drained.streams, drained.messages))
            elif command[0] == "close":
                for call in calls:
                    call.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                calls, tasks = [], []
                drained = Drained()
                pipe.send(("closed",))
            else:
                return
    finally:
        for channel in channels:
            await channel.close()


@dataclass
class Latencies:
    """Per (stream, batch) pair, in ms: receipt − commit, split at the moment the calculation
    service computed the value (wall clock): commit → computed covers the relay, the bus and the
    recomputation; computed → receipt the publish, the hub's fan-out and the stream."""

    total: list[float] = field(default_factory=list)
    to_computed: list[float] = field(default_factory=list)
    # Per batch (not per stream): commit → on the bus; per pair: on the bus → computed.
    to_relayed: list[float] = field(default_factory=list)
    relayed_to_computed: list[float] = field(default_factory=list)
    to_receipt: list[float] = field(default_factory=list)
    missing: int = 0


def latencies(receipts: Sequence[Receipts], ledger: Ledger) -> Latencies:
    """Receipt − commit over every (stream, batch) pair, and the pairs never received."""
    found = Latencies()
    committed = sum(
        sum(1 for at in moments if at is not None) for moments in ledger.committed_at.values()
    )
    for stream in receipts:
        if not stream.opened:
            continue
        seen = 0
        for model, batch, moment, wall, computed in stream.moments:
            at = ledger.committed_at[model][batch]
            if at is not None:
                found.total.append((moment - at) * 1000)
                found.to_computed.append((computed - ledger.committed_wall[model][batch]) * 1000)
                relayed = ledger.relayed_wall[model][batch]
                if relayed is not None:
                    found.relayed_to_computed.append((computed - relayed) * 1000)
                found.to_receipt.append((wall - computed) * 1000)
                seen += 1
        found.missing += committed - seen
    for model, moments in ledger.relayed_wall.items():
        for batch, relayed in enumerate(moments):
            if relayed is not None and ledger.committed_at[model][batch] is not None:
                found.to_relayed.append((relayed - ledger.committed_wall[model][batch]) * 1000)
    return found


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(*pids: int) -> float:
    """User + system CPU time of processes so far."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        # utime and stime: the 14th and 15th fields of the line (12th and 13th after the name).
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kb(*pids: int) -> int:
    """Resident memory of processes, summed."""
    total = 0
    for pid in pids:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        total += next(int(line.split()[1]) for line in lines if line.startswith("VmRSS:"))
    return total


# -- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """The median and the 99th percentile of one leg, in ms."""

    p50: float
    p99: float

    @staticmethod
    def of(values: list[float]) -> Spread | None:
        if not values:
            return None
        return Spread(statistics.median(values), percentile(values, 0.99))

    def __str__(self) -> str:
        return f"{self.p50:.0f}/{self.p99:.0f} ms"


@dataclass(frozen=True)
class Phase:
    streams: int
    p50: float | None
    p99: float | None
    # (median, p99) of each leg (see Latencies).
    to_computed: Spread | None
    to_receipt: Spread | None
    # commit → computed split at the moment the relay put the batch on the bus.
    to_relayed: Spread | None
    relayed_to_computed: Spread | None
    pairs: int
    missing: int
    ingest_failures: int
    batches: int
    # Share of one core each process used while the phase ran (the bench client included).
    cpu: dict[str, float] = field(default_factory=dict)
    # How long the phase ran (ingest and the wait for late receipts).
    seconds: float = 0.0


async def measure(
    streams: Streams,
    data: data_pb2_grpc.DataServiceStub,
    work: Workload,
    ledger: Ledger,
    client: str,
    args: argparse.Namespace,
    count: int,
    pids: dict[str, tuple[int, ...]],
    bus: Any,
) -> Phase:
    streams.recording = True
    ledger.reset(work.models)
    maker = RowMaker()
    per_model = args.rate / len(work.models)
    watched = {**pids, "bench client": (os.getpid(),)}
    cpu_before = {name: cpu_seconds(*ids) for name, ids in watched.items()}
    started = time.monotonic()
    relay_watch = asyncio.create_task(watch_relay(bus, ledger))
    await asyncio.sleep(0.1)  # its first read must be waiting before the first batch commits
    await asyncio.gather(
        *(
            feed(data, client, model, per_model, args.batch_rows, args.seconds, ledger, maker)
            for model in work.models
        )
    )
    await asyncio.sleep(args.drain)
    streams.recording = False
    relay_watch.cancel()
    # Bounded: a blocked read of the bus has been seen not to end when cancelled, which would
    # hang the run after every figure was in.
    await asyncio.wait({relay_watch}, timeout=5.0)
    elapsed = time.monotonic() - started
    cpu = {name: (cpu_seconds(*ids) - cpu_before[name]) / elapsed for name, ids in watched.items()}
    found = latencies(streams.receipts, ledger)
    return Phase(
        streams=count,
        p50=statistics.median(found.total) if found.total else None,
        p99=percentile(found.total, 0.99) if found.total else None,
        to_computed=Spread.of(found.to_computed),
        to_receipt=Spread.of(found.to_receipt),
        to_relayed=Spread.of(found.to_relayed),
        relayed_to_computed=Spread.of(found.relayed_to_computed),
        pairs=len(found.total),
        missing=found.missing,
        ingest_failures=ledger.failures,
        batches=sum(len(times) for times in ledger.row_times.values()),
        cpu=cpu,
        seconds=elapsed,
    )


def report(phase: Phase) -> None:
    if phase.p50 is None or phase.p99 is None:
        print(f"  {phase.streams} stream(s): nothing received")
        return
    print(
        f"  commit→receipt, {phase.streams} stream(s): p50={phase.p50:.0f} ms "
        f"p99={phase.p99:.0f} ms over {phase.pairs} (stream, batch) pairs; "
        f"never received: {phase.missing}; batches {phase.batches}, "
        f"ingest failures {phase.ingest_failures}"
    )
    if phase.to_computed is not None and phase.to_receipt is not None:
        print(
            f"    legs (p50/p99): commit→computed {phase.to_computed}, "
            f"computed→receipt {phase.to_receipt}"
        )
    if phase.to_relayed is not None and phase.relayed_to_computed is not None:
        print(
            f"    commit→computed split (p50/p99): commit→on the bus {phase.to_relayed} "
            f"(relay), on the bus→computed {phase.relayed_to_computed} "
            "(consumer, recomputation)"
        )
    if phase.cpu:
        shares = ", ".join(f"{name} {share:.0%}" for name, share in phase.cpu.items())
        print(f"    CPU (share of one core) while measuring: {shares}")


async def run(args: argparse.Namespace, record: Any) -> None:
    work = workload(load_catalog_files(), args.kpis)
    hubs = record.instances("gateway")
    data_entry = record.process("data")
    assert hubs and data_entry is not None
    hub_pids = tuple(hub.pid for hub in hubs)
    # Natively, the client spreads its connections over the hubs as a balancing proxy would.
    addresses = (record.public_address,) if args.via_envoy else tuple(h.address for h in hubs)
    print(
        f"stack at {record.public_address}; streams to "
        f"{'Envoy' if args.via_envoy else f'{len(hubs)} hub process(es)'} {', '.join(addresses)}; "
        f"{len(work.kpi_codes)} KPIs ({len(work.model_of_kpi)} matched by watermark) "
        f"over {len(work.models)} object models: {', '.join(m.code for m in work.models)}"
    )
    print(
        f"ingest {args.rate:.0f} rows/s in batches of {args.batch_rows} for {args.seconds:.0f} s "
        f"through {data_entry.address}; period {args.period}"
    )
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.max_receive_message_length", -1)]
    # An admin, who names each phase's client in its requests.
    admin = harness.token_metadata(record)
    channels = [
        channel_with(addresses[i % len(addresses)], admin, options=options)
        for i in range(args.connections)
    ]
    data_channel = channel_with(data_entry.address, admin)
    data = data_pb2_grpc.DataServiceStub(data_channel)
    # Processes whose CPU use each phase reports.
    pids = {"hubs": hub_pids} | {
        name: (entry.pid,)
        for name in ("calculation", "data", "redis")
        if (entry := record.process(name)) is not None and entry.pid
    }
    bus = redis.Redis.from_url(record.redis_url)
    ledger = Ledger()
    drainer = (
        DrainWorker(
            DrainSetup(addresses, admin, args.connections, args.readers_nice, args.readers_idle)
        )
        if args.drain_workers
        else None
    )
    if drainer is not None and drainer.pid is not None:
        pids["bench readers"] = (drainer.pid,)
    streams = Streams(
        channels, work, PERIODS[args.period], ledger, args.history, args.sample, drainer
    )
    run_id = uuid.uuid4().hex[:6]
    try:
        # One stream: the latency without fan-out.
        client = f"bench-live-{run_id}-one"
        failures, _, first = await streams.open(client, 1)
        if failures:
            sys.exit(f"the single stream did not open: {first}")
        report(await measure(streams, data, work, ledger, client, args, 1, pids, bus))
        await streams.close()
        # One stream on each hub, so what any hub allocates once, for its first stream, is not
        # counted as memory per stream below (the single stream above was on the first hub).
        await streams.open(f"bench-live-{run_id}-warm", len(hubs))
        await streams.close()

        # N streams: memory per open stream, then the latency with fan-out.
        client = f"bench-live-{run_id}-many"
        await asyncio.sleep(2.0)
        before = rss_kb(*hub_pids)
        failures, seconds, first = await streams.open(client, args.streams)
        await asyncio.sleep(2.0)
        after = rss_kb(*hub_pids)
        print(
            f"  opened {args.streams} streams in {seconds:.1f} s, failures={failures}"
            + (f" (first: {first})" if first else "")
        )
        print(
            f"  hub RSS {before / 1024:.0f} → {after / 1024:.0f} MB: "
            f"{(after - before) / max(1, args.streams):.1f} KB per open stream"
        )
        # Only the streams that opened are measured (the others never receive anything).
        open_streams = args.streams - failures
        phase = await measure(streams, data, work, ledger, client, args, open_streams, pids, bus)
        report(phase)
        sampled, unparsed = await streams.messages_per_stream()
        phase_messages = (sampled * args.sample + unparsed * (open_streams - args.sample)) or 1
        hub_cpu = phase.cpu.get("hubs", 0.0) * phase.seconds
        print(
            f"    messages per stream after the snapshot: sampled {sampled:.0f}, "
            f"read unparsed {unparsed:.0f}; hub CPU {hub_cpu / phase_messages * 1e6:.0f} µs "
            "per stream message"
        )
        # Once the snapshots have long gone out: what the open streams hold in steady state.
        steady = rss_kb(*hub_pids)
        print(
            f"  hub RSS after the phase, streams still open: {steady / 1024:.0f} MB: "
            f"{(steady - before) / max(1, open_streams):.1f} KB per open stream"
        )
        await streams.close()

        # A storm: every stream of a dashboard opening at once (e.g. after a hub restart).
        if args.storm:
            await asyncio.sleep(2.0)
            client = f"bench-live-{run_id}-storm"
            failures, seconds, first = await streams.open(client, args.storm)
            print(
                f"  storm: {args.storm} streams opened at once in {seconds:.1f} s, "
                f"failures={failures}" + (f" (first: {first})" if first else "")
            )
            await streams.close()
    finally:
        await streams.close()
        for channel in channels:
            await channel.close()
        await data_channel.close()
        await bus.aclose()
        if drainer is not None:
            drainer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--kpis", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000, help="rows ingested per second")
    parser.add_argument("--batch-rows", type=int, default=10, help="rows per IngestRows batch")
    parser.add_argument("--seconds", type=float, default=10, help="ingest duration per phase")
    parser.add_argument("--drain", type=float, default=3.0, help="wait for late receipts")
    parser.add_argument("--storm", type=int, default=2000, help="streams opened at once; 0 skips")
    parser.add_argument("--period", choices=sorted(PERIODS), default="minute")
    parser.add_argument("--connections", type=int, default=16, help="client HTTP/2 connections")
    parser.add_argument("--via-envoy", action="store_true", help="streams through Envoy")
    parser.add_argument(
        "--history", type=int, default=0, help="history buckets per KPI in snapshots (0: default)"
    )
    parser.add_argument(
        "--sample", type=int, default=20, help="streams whose every value is parsed and timed"
    )
    parser.add_argument(
        "--drain-workers",
        type=int,
        choices=(0, 1),
        default=1,
        help="child processes reading the streams outside the sample (0: this process)",
    )
    parser.add_argument(
        "--readers-nice",
        type=int,
        default=10,
        help="niceness of the child reading the unsampled streams with --no-readers-idle "
        "(0: same priority as the stack)",
    )
    parser.add_argument(
        "--readers-idle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the child reading the unsampled streams runs only on idle cores (SCHED_IDLE)",
    )
    parser.add_argument(
        "--hub-processes",
        type=int,
        default=None,
        help="stream hub processes of the stack started for the run (default: as `up` decides)",
    )
    parser.add_argument("--data-dir", help="measure the stack running there instead")
    args = parser.parse_args()
    up_options = () if args.hub_processes is None else ("--hub-processes", str(args.hub_processes))
    with harness.stack(args.data_dir, *up_options) as record:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run(args, record))


if __name__ == "__main__":
    main()
