"""Live KPIs end to end through Envoy: a row ingested over REST moves a dashboard stream opened
over gRPC-Web and over Server-Sent Events, and the streamed value equals what Calculate returns
for the same bucket."""

from __future__ import annotations

import datetime
import http.client
import json
import struct
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from analytics.gateway.v1 import stream_pb2
from analytics.type.v1 import types_pb2

from tests.e2e.test_stack import request
from tests.fixtures.auth import for_stack
from tests.fixtures.stack import HUB_PROCESSES, Stack

pytestmark = pytest.mark.stack

KPI = "SCOR_ORDERS_PER_DAY"  # count(ORDER where status != 'cancelled') / period_days()
WAIT_SECONDS = 15.0


def today() -> datetime.datetime:
    now = datetime.datetime.now(datetime.UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def ingest_order(stack: Stack, client: str) -> None:
    now = datetime.datetime.now(datetime.UTC)
    row = {
        "order_id": f"LIVE-{uuid.uuid4().hex[:10]}",
        "customer_id": "CUST-1",
        "channel": "web",
        "region": "EU",
        "status": "open",
        "order_value": 120.5,
        "created_at": now.isoformat(),
        "promised_at": (now + datetime.timedelta(days=3)).isoformat(),
    }
    status, _, body = request(
        stack,
        "POST",
        "/v1/data/ORDER:ingest",
        json.dumps({"clientId": client, "rows": [row]}).encode(),
        {"content-type": "application/json", **for_stack(stack).headers("manager", client)},
    )
    assert status == 200, body


def calculated_today(stack: Stack, client: str) -> float | None:
    start = today()
    status, _, body = request(
        stack,
        "POST",
        "/v1/calculate",
        json.dumps(
            {
                "kpiCode": KPI,
                "clientId": client,
                "period": "PERIOD_DAY",
                "bypassCache": True,
                "timeRange": {
                    "start": start.isoformat(),
                    "end": (start + datetime.timedelta(days=1)).isoformat(),
                },
            }
        ).encode(),
        {"content-type": "application/json", **for_stack(stack).headers("analyst", client)},
    )
    assert status == 200, body
    series = json.loads(body)["result"]["series"]
    return series[-1].get("value") if series else None


def dashboard_request(client: str) -> dict[str, Any]:
    return {"kpiCodes": [KPI], "clientId": client, "period": "PERIOD_DAY"}


def sse_events(stack: Stack, client: str) -> Iterator[dict[str, Any]]:
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=WAIT_SECONDS)
    connection.request(
        "POST",
        "/v1/stream/dashboard",
        json.dumps(dashboard_request(client)).encode(),
        {
            "content-type": "application/json",
            "accept": "text/event-stream",
            **for_stack(stack).headers("analyst", client),
        },
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    try:
        while True:
            line = response.readline()
            if not line:
                return
            text = line.decode().strip()
            if text.startswith("data:"):
                yield json.loads(text[len("data:") :])
    finally:
        connection.close()


def grpc_web_messages(stack: Stack, client: str) -> Iterator[stream_pb2.StreamDashboardResponse]:
    message = stream_pb2.StreamDashboardRequest(
        kpi_codes=[KPI], client_id=client, period=types_pb2.PERIOD_DAY
    ).SerializeToString()
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=WAIT_SECONDS)
    connection.request(
        "POST",
        "/analytics.gateway.v1.StreamService/StreamDashboard",
        struct.pack(">BI", 0, len(message)) + message,
        {
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            **for_stack(stack).headers("analyst", client),
        },
    )
    response = connection.getresponse()
    assert response.status == 200
    try:
        while True:
            header = response.read(5)
            if len(header) < 5:
                return
            flags, length = struct.unpack(">BI", header)
            payload = response.read(length)
            if flags & 0x80:  # trailers: the stream is over
                return
            yield stream_pb2.StreamDashboardResponse.FromString(payload)
    finally:
        connection.close()


def streamed_value_of_today(values: list[dict[str, Any]]) -> float | None:
    bucket = today()
    for value in values:
        start = datetime.datetime.fromisoformat(value["bucketStart"].replace("Z", "+00:00"))
        if value["kpiCode"] == KPI and start == bucket:
            return float(value["value"]) if "value" in value else None
    return None


def updated_value_of_today(
    message: stream_pb2.StreamDashboardResponse, latest: float | None
) -> float | None:
    """Today's value as an update message moves it (`latest` when the message does not)."""
    if message.WhichOneof("event") == "update":
        return value_of_today_among(message.update.values, latest)
    return latest


def value_of_today_among(
    values: Iterable[types_pb2.KpiValue], latest: float | None = None
) -> float | None:
    """The last of `values` that is today's value of the KPI (`latest` when none is)."""
    for value in values:
        if (
            value.kpi_code == KPI
            and value.bucket_start.ToDatetime(tzinfo=datetime.UTC) == today()
            and value.HasField("value")
        ):
            latest = value.value
    return latest


def value_once_it_reaches(
    messages: Iterator[stream_pb2.StreamDashboardResponse], wanted: float
) -> float | None:
    """Today's value, read from the stream until it is `wanted` (or the stream ends)."""
    deadline = time.monotonic() + WAIT_SECONDS
    latest = None
    for message in messages:
        latest = updated_value_of_today(message, latest)
        if latest == wanted:
            break
        assert time.monotonic() < deadline, f"the stream stopped at {latest}"
    return latest


def test_sse_dashboard_moves_when_a_row_is_ingested(stack: Stack) -> None:
    client = f"live-sse-{uuid.uuid4().hex[:6]}"
    events = sse_events(stack, client)
    first = next(events)
    assert "snapshot" in first and first["sequence"] == "1"
    ingest_order(stack, client)
    deadline = time.monotonic() + WAIT_SECONDS
    streamed = None
    for event in events:
        if "update" in event:
            streamed = streamed_value_of_today(event["update"].get("values", []))
            if streamed is not None:
                break
        assert time.monotonic() < deadline, "no update arrived"
    assert streamed == calculated_today(stack, client) == 1.0


def test_grpc_web_dashboard_moves_when_a_row_is_ingested(stack: Stack) -> None:
    client = f"live-web-{uuid.uuid4().hex[:6]}"
    messages = grpc_web_messages(stack, client)
    first = next(messages)
    assert first.WhichOneof("event") == "snapshot" and first.sequence == 1
    ingest_order(stack, client)
    ingest_order(stack, client)
    assert value_once_it_reaches(messages, 2.0) == calculated_today(stack, client) == 2.0


def active_streams_per_hub(stack: Stack) -> list[int]:
    """Envoy's count of open requests (streams) on each process of the hub's cluster."""
    connection = http.client.HTTPConnection(*stack.admin_address.split(":"), timeout=5)
    try:
        connection.request("GET", "/clusters?format=json")
        clusters = json.loads(connection.getresponse().read())["cluster_statuses"]
    finally:
        connection.close()
    hub = next(c for c in clusters if c["name"] == "gateway")
    return [
        int(next((s.get("value", 0) for s in host["stats"] if s["name"] == "rq_active"), 0))
        for host in hub["host_statuses"]
    ]


def test_streams_are_balanced_over_the_hubs_and_each_hub_moves_its_own(stack: Stack) -> None:
    client = f"live-hubs-{uuid.uuid4().hex[:6]}"
    before = active_streams_per_hub(stack)
    assert len(before) == HUB_PROCESSES
    streams = [grpc_web_messages(stack, client) for _ in range(2 * HUB_PROCESSES)]
    for messages in streams:
        assert next(messages).WhichOneof("event") == "snapshot"
    after = active_streams_per_hub(stack)
    # Envoy sends each new stream to the hub with fewer open ones: two streams each.
    assert [a - b for a, b in zip(after, before, strict=True)] == [2] * HUB_PROCESSES
    ingest_order(stack, client)
    for messages in streams:
        assert value_once_it_reaches(messages, 1.0) == 1.0
