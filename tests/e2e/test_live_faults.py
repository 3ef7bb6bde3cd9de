"""Live KPIs under faults, through the whole running stack: retried ingest batches never duplicate
rows; dashboards converge to what Calculate returns after the calculation service, the gateway hub
or Redis is killed (and restarted by the supervisor) while rows keep arriving; and a change nobody
watches costs no KPI computation.

Every test uses its own client id (so counts are exact and tests do not see each other's rows) and
leaves the stack healthy for the e2e tests that share it. Deadlines are generous and everything is
polled: the stack shares a small machine with the test run.
"""

from __future__ import annotations

import datetime
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
import redis
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2

from services.bus.envelopes import ENVELOPE_FIELD, decode_envelope
from services.bus.names import CALCULATION_GROUP, DATA_CHANGED_STREAM
from services.calculation.streaming.recompute import RECOMPUTATIONS_KEY
from tests.fixtures.auth import for_stack
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack
# Tests that kill a process of the shared stack (and wait for the supervisor to restart it); they
# run with the rest of the suite, and `-m 'not faults'` leaves them out of a quicker run.
KILLS_PROCESSES = pytest.mark.faults

KPI = "SCOR_ORDERS_PER_DAY"  # count(ORDER where status != 'cancelled') / period_days()
RPC_SECONDS = 30.0
# Restart after ~5 s, Envoy's health checks, an abandoned consumer's entries claimed after 30 s,
# lease renewal every 10 s: a minute and a half covers all of it on a loaded machine.
CONVERGE_SECONDS = 120.0
HEALTHY_SECONDS = 180.0
# A stream silent this long (heartbeats come well inside it) is presumed broken and reopened.
SILENT_STREAM_SECONDS = 45.0


def new_client(purpose: str) -> str:
    return f"faults-{purpose}-{uuid.uuid4().hex[:8]}"


def bucket_of_today() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def eventually(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


# -- the stack's processes ------------------------------------------------------------------------


def pid_of(stack: Stack, name: str) -> int:
    entry = stack.state().process(name)
    assert entry is not None, f"{name} is not in stack.json"
    return entry.pid


def kill(stack: Stack, name: str) -> int:
    """SIGKILL the process the stack runs as `name`; returns its pid."""
    pid = pid_of(stack, name)
    os.kill(pid, signal.SIGKILL)
    return pid


def restarted(stack: Stack, name: str, old_pid: int) -> bool:
    entry = stack.state().process(name)
    return entry is not None and entry.pid != old_pid and entry.ref().alive()


def healthy(stack: Stack) -> bool:
    return stack.cli("status", timeout=60.0).returncode == 0


@pytest.fixture
def leaves_stack_healthy(stack: Stack) -> Iterator[None]:
    """Whatever a test broke, the next test gets a healthy stack (the supervisor restarts what
    died; this waits for it)."""
    yield
    assert eventually(lambda: healthy(stack), HEALTHY_SECONDS, 1.0), (
        f"the stack did not become healthy again:\n{stack.cli('status').stdout}"
    )


# -- public API through Envoy ---------------------------------------------------------------------


class PublicApi:
    """Native gRPC to Envoy's public listener: ingest and Calculate, as a client sees them."""

    def __init__(self, stack: Stack) -> None:
        self.channel = grpc.insecure_channel(stack.public_address)
        # An admin, who names the client in each request.
        self.metadata = for_stack(stack).admin()
        self.data = data_pb2_grpc.DataServiceStub(self.channel)
        self.calculation = calculation_pb2_grpc.CalculationServiceStub(self.channel)
        self._serial = 0

    def close(self) -> None:
        self.channel.close()

    def order_rows(self, bucket: datetime.datetime, count: int) -> list[dict[str, Any]]:
        """`count` new open orders created inside `bucket` (so the test never straddles two days
        however long it runs)."""
        rows = []
        for _ in range(count):
            self._serial += 1
            created = bucket + datetime.timedelta(seconds=1, microseconds=self._serial)
            rows.append(
                {
                    "order_id": f"FAULT-{uuid.uuid4().hex[:12]}",
                    "customer_id": "CUST-1",
                    "channel": "web",
                    "region": "EU",
                    "status": "open",
                    "order_value": 99.5,
                    "created_at": created.isoformat(),
                    "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
                }
            )
        return rows

    def ingest(
        self, client: str, rows: list[dict[str, Any]], idempotency_key: str = ""
    ) -> data_pb2.IngestRowsResponse:
        structs = []
        for row in rows:
            struct = struct_pb2.Struct()
            struct.update(row)
            structs.append(struct)
        request = data_pb2.IngestRowsRequest(
            object_model_code="ORDER",
            client_id=client,
            idempotency_key=idempotency_key,
            rows=structs,
        )
        reply: data_pb2.IngestRowsResponse = self.data.IngestRows(
            request, timeout=RPC_SECONDS, metadata=self.metadata
        )
        return reply

    def calculated(self, client: str, bucket: datetime.datetime) -> float | None:
        """Calculate's value of KPI for the day bucket, bypassing the cache (raises on RPC
        failure: callers that expect an outage poll)."""
        request = calculation_pb2.CalculateRequest(
            kpi_code=KPI, client_id=client, period=types_pb2.PERIOD_DAY, bypass_cache=True
        )
        request.time_range.start.FromDatetime(bucket)
        request.time_range.end.FromDatetime(bucket + datetime.timedelta(days=1))
        reply = self.calculation.Calculate(request, timeout=RPC_SECONDS, metadata=self.metadata)
        for value in reply.result.series:
            if value.bucket_start.ToDatetime(tzinfo=datetime.UTC) == bucket:
                return value.value if value.HasField("value") else None
        return None

    def calculated_or_none(self, client: str, bucket: datetime.datetime) -> float | None:
        try:
            return self.calculated(client, bucket)
        except grpc.RpcError:
            return None


@pytest.fixture
def api(stack: Stack) -> Iterator[PublicApi]:
    public = PublicApi(stack)
    try:
        yield public
    finally:
        public.close()


# -- a dashboard that stays open, as a browser tab would ------------------------------------------


class LiveDashboard:
    """A StreamDashboard of one KPI through Envoy, read on a thread, reopened whenever it ends or
    breaks (as a client does on StreamEnd or an error). `value` is the latest streamed value of the
    watched bucket, from a snapshot or an update."""

    def __init__(self, stack: Stack, client: str, bucket: datetime.datetime) -> None:
        self._channel = grpc.insecure_channel(stack.public_address)
        self._stub = stream_pb2_grpc.StreamServiceStub(self._channel)
        self._metadata = for_stack(stack).metadata("analyst", client)
        self._client = client
        self._bucket = bucket
        self._lock = threading.Lock()
        self._call: Any = None
        self._stopping = threading.Event()
        self.value: float | None = None
        self.snapshots = 0
        self.updates = 0
        self.breaks: list[str] = []
        self.last_message = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"dashboard-{client}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        request = stream_pb2.StreamDashboardRequest(
            kpi_codes=[KPI], client_id=self._client, period=types_pb2.PERIOD_DAY
        )
        while not self._stopping.is_set():
            call = self._stub.StreamDashboard(request, metadata=self._metadata)
            with self._lock:
                self._call = call
            try:
                for message in call:
                    self._receive(message)
                    if message.WhichOneof("event") == "end":
                        self.breaks.append(f"StreamEnd {message.end.reason}")
                        break
                else:
                    self.breaks.append("the stream ended without StreamEnd")
            except grpc.RpcError as error:
                if not self._stopping.is_set():
                    self.breaks.append(f"{error.code()}")
            finally:
                call.cancel()
            self._stopping.wait(0.5)

    def _receive(self, message: stream_pb2.StreamDashboardResponse) -> None:
        self.last_message = time.monotonic()
        kind = message.WhichOneof("event")
        values: list[types_pb2.KpiValue] = []
        if kind == "snapshot":
            self.snapshots += 1
            for series in message.snapshot.kpis:
                values.extend(series.history)
                if series.HasField("current"):
                    values.append(series.current)
        elif kind == "update":
            self.updates += 1
            values.extend(message.update.values)
        for value in values:
            if (
                value.kpi_code == KPI
                and not value.dimensions
                and value.bucket_start.ToDatetime(tzinfo=datetime.UTC) == self._bucket
            ):
                self.value = value.value if value.HasField("value") else None

    def reopen_if_silent(self) -> None:
        """A connection can die without a reset reaching us; heartbeats make silence a sign."""
        if time.monotonic() - self.last_message > SILENT_STREAM_SECONDS:
            self.last_message = time.monotonic()
            with self._lock:
                if self._call is not None:
                    self._call.cancel()

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()
        self._thread.join(10)
        self._channel.close()


def open_dashboard(stack: Stack, client: str, bucket: datetime.datetime) -> LiveDashboard:
    dashboard = LiveDashboard(stack, client, bucket)
    assert eventually(lambda: dashboard.snapshots >= 1, 60.0), f"no snapshot: {dashboard.breaks}"
    return dashboard


# -- rows arriving while things break ------------------------------------------------------------


class Feed:
    """Ingests one row every `interval` seconds on a thread; counts what was acknowledged and
    records every ingest that failed (none may)."""

    def __init__(
        self, api: PublicApi, client: str, bucket: datetime.datetime, interval: float = 0.25
    ) -> None:
        self._api = api
        self._client = client
        self._bucket = bucket
        self._interval = interval
        self._stopping = threading.Event()
        self.acknowledged = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name=f"feed-{client}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                reply = self._api.ingest(self._client, self._api.order_rows(self._bucket, 1))
                self.acknowledged += int(reply.accepted_row_count)
            except grpc.RpcError as error:
                self.failures.append(f"{error.code()}: {error.details()}")
            self._stopping.wait(self._interval)

    def stop(self) -> int:
        """Stops feeding; returns how many rows were acknowledged."""
        self._stopping.set()
        self._thread.join(RPC_SECONDS + 5)
        return self.acknowledged


def assert_converges(
    api: PublicApi, dashboard: LiveDashboard, client: str, bucket: datetime.datetime, rows: int
) -> None:
    """The dashboard and Calculate both come to the number of acknowledged rows."""
    expected = float(rows)

    def converged() -> bool:
        dashboard.reopen_if_silent()
        return dashboard.value == expected and api.calculated_or_none(client, bucket) == expected

    assert eventually(converged, CONVERGE_SECONDS, 0.5), (
        f"acknowledged {rows} rows; the stream shows {dashboard.value}, Calculate says "
        f"{api.calculated_or_none(client, bucket)}; stream breaks: {dashboard.breaks}"
    )


def fault_while_streaming(
    stack: Stack, api: PublicApi, purpose: str, inflict: Callable[[], None]
) -> LiveDashboard:
    """Open a dashboard, feed rows, `inflict` a fault mid-feed (it returns once the stack has
    recovered from it), feed a little more, and check that the dashboard converges to Calculate
    and to every acknowledged row. Returns the (closed) dashboard for further checks."""
    client = new_client(purpose)
    bucket = bucket_of_today()
    dashboard = open_dashboard(stack, client, bucket)
    try:
        feed = Feed(api, client, bucket)
        try:
            assert eventually(lambda: dashboard.value is not None and dashboard.value >= 3, 60.0), (
                f"the dashboard did not move before the fault: {dashboard.value}, "
                f"{dashboard.breaks}"
            )
            inflict()
            # Rows keep arriving after the recovery: they must move the dashboard as before.
            time.sleep(3.0)
        finally:
            rows = feed.stop()
        assert not feed.failures, f"ingest failed during the fault: {feed.failures[:5]}"
        assert_converges(api, dashboard, client, bucket, rows)
    finally:
        dashboard.close()
    return dashboard


def kill_and_await_restart(stack: Stack, name: str) -> None:
    old_pid = kill(stack, name)
    assert eventually(lambda: restarted(stack, name, old_pid), 60.0, 0.5), (
        f"the supervisor did not restart {name}"
    )


def kill_every_hub_and_await_restarts(stack: Stack) -> None:
    """Kill every stream hub process at once (a dashboard's stream is on one of them)."""
    hubs = [entry.name for entry in stack.state().instances("gateway")]
    assert len(hubs) >= 2, f"the test stack runs several hubs, not {hubs}"
    old_pids = {name: kill(stack, name) for name in hubs}
    for name, old_pid in old_pids.items():
        assert eventually(lambda n=name, p=old_pid: restarted(stack, n, p), 60.0, 0.5), (
            f"the supervisor did not restart {name}"
        )


# -- the tests ------------------------------------------------------------------------------------


def test_a_retried_batch_leaves_the_row_count_unchanged(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    client = new_client("retry")
    bucket = bucket_of_today()

    # With an idempotency key: the retry is answered with the first answer and writes nothing.
    key = f"batch-{uuid.uuid4()}"
    keyed = api.order_rows(bucket, 2)
    acknowledged = api.ingest(client, keyed, idempotency_key=key)
    assert acknowledged.accepted_row_count == 2 and not acknowledged.replayed
    replay = api.ingest(client, keyed, idempotency_key=key)
    assert replay.replayed and replay.ingest_id == acknowledged.ingest_id
    assert replay.accepted_row_count == 2

    # Without a key: the rows' natural keys exist, so nothing is added.
    unkeyed = api.order_rows(bucket, 4)
    assert api.ingest(client, unkeyed).accepted_row_count == 4
    retried = api.ingest(client, unkeyed)
    assert retried.accepted_row_count == 0 and retried.duplicate_row_count == 4

    # A retry under a fresh key (a sender that lost its key) still duplicates nothing, and a batch
    # mixing old and new rows adds only the new ones.
    rekeyed = api.ingest(client, keyed, idempotency_key=f"batch-{uuid.uuid4()}")
    assert rekeyed.accepted_row_count == 0 and rekeyed.duplicate_row_count == 2
    mixed = api.ingest(client, [*unkeyed[:2], *api.order_rows(bucket, 1)])
    assert mixed.accepted_row_count == 1 and mixed.duplicate_row_count == 2

    assert api.calculated(client, bucket) == 2 + 4 + 1


@KILLS_PROCESSES
def test_b_dashboards_converge_after_the_calculation_service_is_killed(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    fault_while_streaming(stack, api, "calc", lambda: kill_and_await_restart(stack, "calculation"))


@KILLS_PROCESSES
def test_c_dashboards_reconnect_and_converge_after_the_hub_is_killed(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    dashboard = fault_while_streaming(
        stack, api, "hub", lambda: kill_every_hub_and_await_restarts(stack)
    )
    assert dashboard.snapshots >= 2, f"the stream never broke and reconnected: {dashboard.breaks}"


@KILLS_PROCESSES
def test_d_ingest_never_fails_and_streams_converge_when_redis_is_killed(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    def redis_outage() -> None:
        kill_and_await_restart(stack, "redis")
        redis_entry = stack.state().process("redis")
        assert redis_entry is not None
        host, _, port = redis_entry.address.rpartition(":")
        client = redis.Redis(host=host, port=int(port), socket_timeout=2)
        try:
            assert eventually(lambda: _pings(client), 60.0, 0.5), "redis did not come back"
        finally:
            client.close()

    fault_while_streaming(stack, api, "redis", redis_outage)


@KILLS_PROCESSES
def test_d_ingest_never_fails_and_streams_converge_when_redis_is_frozen(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    """A hung Redis (SIGSTOP: connections stay open, nothing answers) is the nastier outage."""

    def redis_freeze() -> None:
        pid = pid_of(stack, "redis")
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(8.0)
        finally:
            os.kill(pid, signal.SIGCONT)

    fault_while_streaming(stack, api, "freeze", redis_freeze)


def test_e_ingest_for_a_client_nobody_watches_computes_nothing(
    stack: Stack, api: PublicApi, leaves_stack_healthy: None
) -> None:
    entry = stack.state().process("redis")
    assert entry is not None
    host, _, port = entry.address.rpartition(":")
    bus = redis.Redis(host=host, port=int(port), socket_timeout=10)
    bucket = bucket_of_today()
    try:
        # Wait out recomputations other tests set off (their last events may still be in flight).
        settle_counter(bus)
        before = recomputations(bus)
        unwatched = new_client("unwatched")
        for _ in range(3):
            api.ingest(unwatched, api.order_rows(bucket, 2))
        assert await_handled(bus, unwatched), "no change event was published"
        assert recomputations(bus) == before, "KPIs were computed for a client nobody watches"

        # The same counter does move for a watched client: the check above can fail.
        watched = new_client("watched")
        dashboard = open_dashboard(stack, watched, bucket)
        try:
            api.ingest(watched, api.order_rows(bucket, 2))
            await_handled(bus, watched)
            assert eventually(lambda: dashboard.value == 2.0, CONVERGE_SECONDS), (
                f"the watched dashboard did not move: {dashboard.value}, {dashboard.breaks}"
            )
            assert recomputations(bus) > before
        finally:
            dashboard.close()
    finally:
        bus.close()


# -- Redis helpers --------------------------------------------------------------------------------


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def recomputations(bus: redis.Redis) -> int:
    raw = bus.get(RECOMPUTATIONS_KEY)
    return int(raw) if raw is not None else 0


def settle_counter(bus: redis.Redis, quiet_seconds: float = 3.0) -> None:
    last = recomputations(bus)
    quiet_since = time.monotonic()
    deadline = time.monotonic() + CONVERGE_SECONDS
    while time.monotonic() - quiet_since < quiet_seconds:
        assert time.monotonic() < deadline, "recomputations never stopped"
        time.sleep(0.5)
        now = recomputations(bus)
        if now != last:
            last, quiet_since = now, time.monotonic()


def _entry_order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def await_handled(bus: redis.Redis, client: str) -> list[str]:
    """The data-changed entries of `client`, once the calculation group has read and
    acknowledged every one of them (its handler ran on them)."""

    def entries() -> list[str]:
        found = []
        newest: Any = bus.xrevrange(DATA_CHANGED_STREAM, count=2000)
        for entry_id, fields in newest:
            payload = fields.get(ENVELOPE_FIELD)
            message = decode_envelope(payload) if isinstance(payload, bytes) else None
            if message is not None and message.data_changed.client_id == client:
                found.append(_text(entry_id))
        return sorted(found, key=_entry_order)

    def handled(ids: list[str]) -> bool:
        group = next(
            g
            for g in bus.xinfo_groups(DATA_CHANGED_STREAM)
            if _text(g["name"]) == CALCULATION_GROUP
        )
        if _entry_order(_text(group["last-delivered-id"])) < _entry_order(ids[-1]):
            return False
        pending = bus.xpending_range(DATA_CHANGED_STREAM, CALCULATION_GROUP, ids[0], ids[-1], 2000)
        return not pending

    found: list[str] = []

    def relayed_and_handled() -> bool:
        nonlocal found
        found = entries()
        return bool(found) and handled(found)

    assert eventually(relayed_and_handled, CONVERGE_SECONDS, 0.5), (
        f"the change events of {client} were not handled: {found}"
    )
    # The relay publishes in batches; give the last ones a moment, then take the final list.
    time.sleep(1.0)
    assert eventually(relayed_and_handled, CONVERGE_SECONDS, 0.5)
    return found
