"""One client never sees another's data, on every read path through Envoy: REST, native gRPC,
gRPC-Web, a live dashboard stream, the result cache and exports. Asking for another client's data
looks exactly like asking for a client that does not exist."""

from __future__ import annotations

import asyncio
import json
import struct
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.gateway.v1 import stream_pb2, stream_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2

from tests.e2e.test_live_streams import (
    calculated_today,
    ingest_order,
    value_of_today_among,
)
from tests.e2e.test_stack import _grpc_web_frames, request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

KPI = "SCOR_ORDERS_PER_DAY"
WEEK = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}
WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class Tenants:
    a: str
    b: str
    tokens: TokenMaker

    def analyst(self, client: str) -> tuple[tuple[str, str], ...]:
        return self.tokens.metadata("analyst", client)


def post(stack: Stack, path: str, payload: dict[str, Any], headers: dict[str, str]
         ) -> tuple[int, dict[str, Any]]:
    status, _, body = request(
        stack, "POST", path, json.dumps(payload).encode(),
        {"content-type": "application/json", **headers},
    )
    return status, json.loads(body)


@pytest.fixture(scope="module")
def tenants(stack: Stack, stack_tokens: TokenMaker) -> Tenants:
    """Two clients with different amounts of demo data in the same week."""
    suffix = uuid.uuid4().hex[:6]
    pair = Tenants(f"tenant-a-{suffix}", f"tenant-b-{suffix}", stack_tokens)
    for client, rows in ((pair.a, 10), (pair.b, 40)):
        status, body = post(
            stack,
            "/v1/demo/generate",
            {"clientId": client, "timeRange": WEEK, "rowsPerDay": rows, "seed": 5},
            stack_tokens.headers("admin"),
        )
        assert status == 200, body
    return pair


def week_request(client: str = "") -> dict[str, Any]:
    return {"kpiCode": KPI, "clientId": client, "timeRange": WEEK, "period": "PERIOD_DAY"}


def total(body: dict[str, Any]) -> float:
    return float(body["result"]["total"]["value"])


def test_rest_reads_only_the_callers_client(stack: Stack, tenants: Tenants) -> None:
    as_a = tenants.tokens.headers("analyst", tenants.a)
    status, own = post(stack, "/v1/calculate", {**week_request(), "bypassCache": True}, as_a)
    assert status == 200, own
    status, truth_a = post(
        stack, "/v1/calculate", {**week_request(tenants.a), "bypassCache": True},
        tenants.tokens.headers("admin"),
    )
    assert status == 200 and total(own) == total(truth_a) > 0
    status, other = post(stack, "/v1/calculate", week_request(tenants.b), as_a)
    status_missing, missing = post(stack, "/v1/calculate", week_request("no-such-co"), as_a)
    assert status == status_missing == 404
    # The same answer as for a client that does not exist: nothing to learn from probing.
    assert other["message"].replace(tenants.b, "?") == missing["message"].replace(
        "no-such-co", "?"
    )
    assert tenants.b not in json.dumps(other).replace(f"'{tenants.b}'", "")


def grpc_range() -> types_pb2.TimeRange:
    window = types_pb2.TimeRange()
    window.start.FromJsonString(WEEK["start"])
    window.end.FromJsonString(WEEK["end"])
    return window


def test_native_grpc_batch_and_dashboard_refuse_another_client(
    stack: Stack, tenants: Tenants
) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        stub = calculation_pb2_grpc.CalculationServiceStub(channel)
        md = tenants.analyst(tenants.a)
        for call in (
            lambda: stub.CalculateBatch(
                calculation_pb2.CalculateBatchRequest(
                    kpi_codes=[KPI], client_id=tenants.b, time_range=grpc_range(),
                    period=types_pb2.PERIOD_DAY,
                ), timeout=10, metadata=md,
            ),
            lambda: stub.CalculateDashboard(
                calculation_pb2.CalculateDashboardRequest(
                    kpi_codes=[KPI], client_id=tenants.b, time_range=grpc_range(),
                    period=types_pb2.PERIOD_DAY,
                ), timeout=10, metadata=md,
            ),
        ):
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]
        own = stub.CalculateBatch(
            calculation_pb2.CalculateBatchRequest(
                kpi_codes=[KPI], time_range=grpc_range(), period=types_pb2.PERIOD_DAY
            ),
            timeout=30, metadata=md,
        )
        assert not own.errors and own.results[0].total.value > 0


def test_grpc_web_refuses_another_client(stack: Stack, tenants: Tenants) -> None:
    message = calculation_pb2.CalculateRequest(
        kpi_code=KPI, client_id=tenants.b, time_range=grpc_range(), period=types_pb2.PERIOD_DAY
    ).SerializeToString()
    status, headers, body = request(
        stack,
        "POST",
        "/analytics.calculation.v1.CalculationService/Calculate",
        body=struct.pack(">BI", 0, len(message)) + message,
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            **tenants.tokens.headers("analyst", tenants.a),
        },
    )
    assert status == 200
    if "grpc-status" in headers:
        code = headers["grpc-status"]
    else:
        trailer = [p for flag, p in _grpc_web_frames(body) if flag & 0x80][-1].decode()
        code = dict(line.split(":", 1) for line in trailer.strip().split("\r\n"))["grpc-status"]
    assert code.strip() == str(grpc.StatusCode.NOT_FOUND.value[0])
    assert not [p for flag, p in _grpc_web_frames(body) if not flag & 0x80]


def test_the_result_cache_never_hands_one_client_anothers_value(
    stack: Stack, tenants: Tenants
) -> None:
    same_request = week_request()  # identical bodies; only the token differs
    as_a = tenants.tokens.headers("analyst", tenants.a)
    as_b = tenants.tokens.headers("analyst", tenants.b)
    for _ in range(2):  # the second answer for A comes from the cache
        status, cached_a = post(stack, "/v1/calculate", same_request, as_a)
        assert status == 200, cached_a
    status, cached_b = post(stack, "/v1/calculate", same_request, as_b)
    assert status == 200, cached_b
    status, fresh_b = post(stack, "/v1/calculate", {**same_request, "bypassCache": True}, as_b)
    assert status == 200, fresh_b
    assert total(cached_b) == total(fresh_b) != total(cached_a)


def test_export_holds_only_the_callers_client(stack: Stack, tenants: Tenants) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        stub = calculation_pb2_grpc.CalculationServiceStub(channel)

        def export(client: str, md: tuple[tuple[str, str], ...]) -> Any:
            return stub.ExportCalculation(
                calculation_pb2.ExportCalculationRequest(
                    kpi_codes=[KPI], client_id=client, time_range=grpc_range(),
                    period=types_pb2.PERIOD_DAY, format=calculation_pb2.EXPORT_FORMAT_CSV,
                ), timeout=30, metadata=md,
            )

        own = export("", tenants.analyst(tenants.a))
        theirs = export(tenants.b, tenants.tokens.admin())
        assert own.file_name == f"kpis-{tenants.a}.csv"
        assert own.content != theirs.content and tenants.b.encode() not in own.content
        with pytest.raises(grpc.RpcError) as refused:
            export(tenants.b, tenants.analyst(tenants.a))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


def test_ingest_lands_in_the_callers_client_only(stack: Stack, tenants: Tenants) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        stub = data_pb2_grpc.DataServiceStub(channel)
        row = struct_pb2.Struct()
        row.update({"order_id": "X-1", "customer_id": "C", "status": "open",
                    "created_at": "2026-03-02T10:00:00Z"})
        with pytest.raises(grpc.RpcError) as refused:
            stub.IngestRows(
                data_pb2.IngestRowsRequest(
                    object_model_code="ORDER", client_id=tenants.b, rows=[row],
                    validate_only=True,
                ),
                timeout=10,
                metadata=tenants.tokens.metadata("manager", tenants.a),
            )
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # type: ignore[attr-defined]


# -- live dashboards ------------------------------------------------------------------------------


def todays_value(message: stream_pb2.StreamDashboardResponse) -> float | None:
    event = message.WhichOneof("event")
    if event == "snapshot":
        return value_of_today_among(
            v for kpi in message.snapshot.kpis for v in [kpi.current, *kpi.history]
        )
    if event == "update":
        return value_of_today_among(message.update.values)
    return None


async def test_a_dashboard_stream_shows_only_the_callers_client(stack: Stack) -> None:
    from tests.fixtures.auth import for_stack

    tokens = for_stack(stack)
    suffix = uuid.uuid4().hex[:6]
    a, b = f"live-a-{suffix}", f"live-b-{suffix}"
    request_for_own = stream_pb2.StreamDashboardRequest(
        kpi_codes=[KPI], period=types_pb2.PERIOD_DAY
    )
    async with grpc.aio.insecure_channel(stack.public_address) as channel:
        stub = stream_pb2_grpc.StreamServiceStub(channel)
        probe = stub.StreamDashboard(
            stream_pb2.StreamDashboardRequest(
                kpi_codes=[KPI], client_id=b, period=types_pb2.PERIOD_DAY
            ),
            metadata=tokens.metadata("analyst", a),
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(probe.read(), WAIT_SECONDS)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND

        stream_a = stub.StreamDashboard(request_for_own, metadata=tokens.metadata("analyst", a))
        stream_b = stub.StreamDashboard(request_for_own, metadata=tokens.metadata("analyst", b))
        seen: dict[str, list[float]] = {a: [], b: []}

        async def watch(client: str, call: Any, until: float) -> None:
            async for message in call:
                value = todays_value(message)
                if value is not None:
                    seen[client].append(value)
                if value == until:
                    return

        try:
            # Three orders for A, one for B: each stream must end on its own client's count.
            for _ in range(3):
                await asyncio.to_thread(ingest_order, stack, a)
            await asyncio.to_thread(ingest_order, stack, b)
            await asyncio.wait_for(
                asyncio.gather(watch(a, stream_a, 3.0), watch(b, stream_b, 1.0)), WAIT_SECONDS
            )
        finally:
            stream_a.cancel()
            stream_b.cancel()
    assert seen[a][-1] == await asyncio.to_thread(calculated_today, stack, a) == 3.0
    assert seen[b][-1] == await asyncio.to_thread(calculated_today, stack, b) == 1.0
    assert all(v <= 1.0 for v in seen[b]), f"B's stream showed A's count: {seen[b]}"
