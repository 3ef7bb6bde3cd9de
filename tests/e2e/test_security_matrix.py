"""Every public RPC × every role (and no token at all), through Envoy, over native gRPC, REST and
gRPC-Web: a call is denied (UNAUTHENTICATED / PERMISSION_DENIED, 401 / 403) exactly when the
permission table says so. An allowed call may still fail (the requests here are empty, so most
answer INVALID_ARGUMENT or NOT_FOUND); it just must not be denied.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import grpc
import pytest
from analytics.config.v1 import config_pb2

from analytics_engine import descriptor
from services.security import permissions
from services.security.caller import Caller, Role
from tests.e2e.test_stack import _grpc_web_frames, request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = [s for s in descriptor.load(ROOT / "gen" / "descriptor.binpb") if s.public]
METHODS = [m for s in PUBLIC for m in s.methods]
PRINCIPALS = [permissions.ANONYMOUS, *(r.value for r in Role)]
CLIENT = "matrix-co"
DENIED_CODES = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}

# Requests that would do real work if allowed get a field that makes them invalid instead.
INVALID_BODIES = {
    "/analytics.config.v1.DemoDataService/GenerateDemoData": config_pb2.GenerateDemoDataRequest(
        days=100_000
    ).SerializeToString(),
}
INVALID_JSON = {"/analytics.config.v1.DemoDataService/GenerateDemoData": b'{"days": 100000}'}


def expected_allowed(principal: str, path: str) -> bool:
    if principal == permissions.ANONYMOUS:
        return permissions.edge_rule_for(path).allows(None)
    role = Role(principal)
    tenant = CLIENT if role in {Role.ANALYST, Role.MANAGER, Role.SALES} else None
    return permissions.edge_rule_for(path).allows(Caller(subject="m", role=role, client_id=tenant))


def metadata(tokens: TokenMaker, principal: str) -> tuple[tuple[str, str], ...]:
    return () if principal == permissions.ANONYMOUS else tokens.metadata(principal, CLIENT)


def grpc_code(channel: grpc.Channel, method: descriptor.Method, md: tuple[tuple[str, str], ...]
              ) -> grpc.StatusCode:
    body = INVALID_BODIES.get(method.path, b"")
    try:
        if method.client_streaming:
            channel.stream_unary(method.path)(iter([]), timeout=15, metadata=md)
        elif method.server_streaming:
            call = channel.unary_stream(method.path)(body, timeout=15, metadata=md)
            try:
                next(call)
            except StopIteration:
                pass
            finally:
                call.cancel()
        else:
            channel.unary_unary(method.path)(body, timeout=15, metadata=md)
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
        return code
    return grpc.StatusCode.OK


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_native_grpc_matrix(stack: Stack, stack_tokens: TokenMaker, principal: str) -> None:
    md = metadata(stack_tokens, principal)
    wrong = []
    with grpc.insecure_channel(stack.public_address) as channel:
        for method in METHODS:
            code = grpc_code(channel, method, md)
            if (code not in DENIED_CODES) != expected_allowed(principal, method.path):
                wrong.append(f"{method.path}: {code.name}")
    assert not wrong, f"{principal}: denied or allowed against the table: {wrong}"


def rest_path(template: str) -> str:
    # `{code}` and `{name=**}` become a concrete segment; the value does not matter here.
    return re.sub(r"\{[^}]+\}", "x", template)


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_rest_matrix(stack: Stack, stack_tokens: TokenMaker, principal: str) -> None:
    headers = {"content-type": "application/json"}
    if principal != permissions.ANONYMOUS:
        headers.update(stack_tokens.headers(principal, CLIENT))
    wrong = []
    checked = 0
    for method in METHODS:
        for binding in method.http:
            body = INVALID_JSON.get(method.path, b"{}") if binding.body else None
            status, _, answer = request(
                stack, binding.verb, rest_path(binding.path), body=body, headers=headers
            )
            checked += 1
            if (status not in (401, 403)) != expected_allowed(principal, method.path):
                wrong.append(f"{binding.verb} {binding.path}: {status} {answer[:80]!r}")
            elif status in (401, 403) and json_status(status, answer) not in DENIED_JSON_CODES:
                wrong.append(f"{binding.verb} {binding.path}: {status} is not a JSON status")
    assert checked > 50, "the descriptor lost its REST mappings"
    assert not wrong, f"{principal}: denied or allowed against the table: {wrong}"


DENIED_JSON_CODES = {code.value[0] for code in DENIED_CODES}


def json_status(status: int, body: bytes) -> int | None:
    """The gRPC code of a JSON status body (the transcoder's shape), or None when it is not one."""
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    if not isinstance(answer, dict) or set(answer) != {"code", "message", "details"}:
        return None
    return int(answer["code"]) if answer["message"] else None


HEALTH = "/analytics.monitor.v1.MonitorService/GetSystemHealth"


def test_a_role_denied_is_told_which_role_may_not_call_what(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    assert not expected_allowed("analyst", HEALTH)
    status, headers, body = request(
        stack, "GET", "/v1/health", headers=stack_tokens.headers("analyst", CLIENT)
    )
    assert status == 403
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "code": grpc.StatusCode.PERMISSION_DENIED.value[0],
        "message": "role 'analyst' may not call /v1/health",
        "details": [],
    }
    with grpc.insecure_channel(stack.public_address) as channel:
        with pytest.raises(grpc.RpcError) as denied:
            channel.unary_unary(HEALTH)(
                b"", timeout=10, metadata=stack_tokens.metadata("analyst", CLIENT)
            )
    error: grpc.Call = denied.value  # type: ignore[assignment]
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == f"role 'analyst' may not call {HEALTH}"
    status, response_headers, _ = request(
        stack, "POST", HEALTH, body=b"\0\0\0\0\0",
        headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1",
                 **stack_tokens.headers("analyst", CLIENT)},
    )  # fmt: skip
    assert int(response_headers["grpc-status"]) == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert urllib.parse.unquote(response_headers["grpc-message"]) == (
        f"role 'analyst' may not call {HEALTH}"
    )


def grpc_web_status(stack: Stack, path: str, headers: dict[str, str]) -> tuple[int, int]:
    """(HTTP status, grpc-status) of a unary gRPC-Web call with an empty message."""
    status, response_headers, body = request(
        stack,
        "POST",
        path,
        body=b"\x00\x00\x00\x00\x00",
        headers={
            "content-type": "application/grpc-web+proto",
            "x-grpc-web": "1",
            **headers,
        },
    )
    if "grpc-status" in response_headers:
        return status, int(response_headers["grpc-status"])
    trailers = [payload for flag, payload in _grpc_web_frames(body) if flag & 0x80]
    fields = dict(line.split(":", 1) for line in trailers[-1].decode().strip().split("\r\n"))
    return status, int(fields["grpc-status"])


GRPC_WEB_SAMPLE = [
    "/analytics.catalog.v1.CatalogService/ListValueChains",
    "/analytics.calculation.v1.CalculationService/Calculate",
    "/analytics.data.v1.DataService/IngestRows",
    "/analytics.monitor.v1.MonitorService/GetSystemHealth",
    "/analytics.config.v1.ClientConfigService/CreateClient",
]


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_grpc_web_sample(stack: Stack, stack_tokens: TokenMaker, principal: str) -> None:
    headers = {} if principal == permissions.ANONYMOUS else stack_tokens.headers(principal, CLIENT)
    for path in GRPC_WEB_SAMPLE:
        http_status, code = grpc_web_status(stack, path, headers)
        denied = http_status in (401, 403) or code in (7, 16)
        assert denied != expected_allowed(principal, path), (principal, path, http_status, code)
