"""Tokens that prove nothing are refused at the edge and again by the services behind it, and
claim headers a client makes up change nothing."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable

import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from analytics.monitor.v1 import monitor_pb2, monitor_pb2_grpc
from analytics.type.v1 import types_pb2
from cryptography.hazmat.primitives.asymmetric import rsa

from services.security.keys import SigningKey
from services.security.tokens import mint_token
from tests.e2e.test_stack import request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

KPI = "SCOR_ORDERS_PER_DAY"
# Envoy answers a token for another audience with 403 (PERMISSION_DENIED), the rest with 401.
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(tokens: TokenMaker) -> dict[str, str]:
    key = tokens.signing_key
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "sub": "intruder", "role": "admin", "iss": "analytics-engine",
        "aud": "analytics-engine", "exp": int(time.time()) + 600,
    }  # fmt: skip
    return {
        "expired": mint_token(key, role="admin", ttl_seconds=60, now=time.time() - 3600),
        "wrong audience": mint_token(key, role="admin", audience="another-product"),
        "wrong issuer": mint_token(key, role="admin", issuer="https://issuer.example"),
        # Signed by a key nobody trusts, naming the trusted key's id.
        "wrong signature": mint_token(SigningKey(key.key_id, stranger), role="admin"),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.key_id})}.{_b64(claims)}.",
        "not a jwt": "let-me-in",
    }


def export_request(client: str = "") -> calculation_pb2.ExportCalculationRequest:
    window = types_pb2.TimeRange()
    window.start.FromSeconds(1_772_323_200)  # 2026-03-01
    window.end.FromSeconds(1_772_928_000)  # 2026-03-08
    return calculation_pb2.ExportCalculationRequest(
        kpi_codes=[KPI],
        client_id=client,
        time_range=window,
        period=types_pb2.PERIOD_DAY,
        format=calculation_pb2.EXPORT_FORMAT_CSV,
    )


def code_of(call: Callable[[], object]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as error:
        code: grpc.StatusCode = error.code()  # type: ignore[attr-defined]
        return code
    return grpc.StatusCode.OK


def test_missing_token_is_refused_except_for_the_catalog(stack: Stack) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        assert code_of(lambda: calculation.ExportCalculation(export_request(), timeout=10)) == (
            grpc.StatusCode.UNAUTHENTICATED
        )
        assert code_of(
            lambda: catalog.ListValueChains(catalog_pb2.ListValueChainsRequest(), timeout=10)
        ) == grpc.StatusCode.OK
    status, _, _ = request(stack, "POST", "/v1/calculate/export", body=b"{}")
    assert status == 401


def test_bad_tokens_are_refused_at_the_edge_even_for_the_catalog(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    with grpc.insecure_channel(stack.public_address) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        catalog = catalog_pb2_grpc.CatalogServiceStub(channel)
        for why, token in bad_tokens(stack_tokens).items():
            md = (("authorization", f"Bearer {token}"),)
            refused = code_of(
                lambda md=md: calculation.ExportCalculation(  # type: ignore[misc]
                    export_request("acme"), timeout=10, metadata=md
                )
            )
            assert refused in REFUSED, why
            # A token that is sent is checked, even where none is needed.
            menu = code_of(
                lambda md=md: catalog.ListValueChains(  # type: ignore[misc]
                    catalog_pb2.ListValueChainsRequest(), timeout=10, metadata=md
                )
            )
            assert menu in REFUSED, why
            status, _, _ = request(
                stack, "GET", "/v1/value-chains", headers={"authorization": f"Bearer {token}"}
            )
            assert status in (401, 403), why


def test_bad_tokens_are_refused_by_the_services_behind_the_edge(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    """Defence in depth: a caller that reaches a component directly meets the same checks."""
    with grpc.insecure_channel(stack.components["calculation"]) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        for why, token in bad_tokens(stack_tokens).items():
            md = (("authorization", f"Bearer {token}"),)
            code = code_of(
                lambda md=md: calculation.ExportCalculation(  # type: ignore[misc]
                    export_request("acme"), timeout=10, metadata=md
                )
            )
            assert code == grpc.StatusCode.UNAUTHENTICATED, why
        forged_claims = (("x-ae-role", "admin"), ("x-ae-client-id", "acme"))
        code = code_of(
            lambda: calculation.ExportCalculation(
                export_request("acme"), timeout=10, metadata=forged_claims
            )
        )
        assert code == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(stack.components["monitor"]) as channel:
        monitor = monitor_pb2_grpc.MonitorServiceStub(channel)
        analyst = stack_tokens.metadata("analyst", "acme")
        code = code_of(
            lambda: monitor.GetSystemHealth(
                monitor_pb2.GetSystemHealthRequest(), timeout=10, metadata=analyst
            )
        )
        assert code == grpc.StatusCode.PERMISSION_DENIED


def test_spoofed_claim_headers_are_ignored(stack: Stack, stack_tokens: TokenMaker) -> None:
    spoof = (("x-ae-role", "admin"), ("x-ae-client-id", "victim-co"), ("x-ae-subject", "root"))
    with grpc.insecure_channel(stack.public_address) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        monitor = monitor_pb2_grpc.MonitorServiceStub(channel)
        # No token: the headers do not make an admin.
        assert code_of(
            lambda: calculation.ExportCalculation(export_request(), timeout=10, metadata=spoof)
        ) == grpc.StatusCode.UNAUTHENTICATED
        # An analyst of spoof-co claiming to be an admin of victim-co is still spoof-co's analyst.
        md = (*stack_tokens.metadata("analyst", "spoof-co"), *spoof)
        exported = calculation.ExportCalculation(export_request(), timeout=30, metadata=md)
        assert exported.file_name == "kpis-spoof-co.csv"
        assert code_of(
            lambda: calculation.ExportCalculation(
                export_request("victim-co"), timeout=10, metadata=md
            )
        ) == grpc.StatusCode.NOT_FOUND
        assert code_of(
            lambda: monitor.GetSystemHealth(
                monitor_pb2.GetSystemHealthRequest(), timeout=10, metadata=md
            )
        ) == grpc.StatusCode.PERMISSION_DENIED
    status, _, body = request(
        stack,
        "POST",
        "/v1/calculate/export",
        body=json.dumps(
            {
                "kpiCodes": [KPI],
                "timeRange": {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"},
                "period": "PERIOD_DAY",
                "format": "EXPORT_FORMAT_CSV",
            }
        ).encode(),
        headers={"content-type": "application/json", **stack_tokens.headers("analyst",
                                                                          "spoof-co"),
                 "x-ae-client-id": "victim-co", "x-ae-role": "admin"},
    )
    assert status == 200, body
    assert json.loads(body)["fileName"] == "kpis-spoof-co.csv"


# -- what a refused caller is told ------------------------------------------------------------


def json_status(status: int, headers: dict[str, str], body: bytes) -> dict[str, object]:
    """The JSON status a REST caller gets, in the transcoder's shape for gRPC errors."""
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, body)
    answer = json.loads(body)
    assert set(answer) == {"code", "message", "details"}, answer
    assert answer["details"] == []
    return dict(answer)


def grpc_web_refusal(stack: Stack, path: str, token: str | None) -> tuple[int, str]:
    """(grpc-status, grpc-message) of a unary gRPC-Web call Envoy refuses itself."""
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    _, response_headers, _ = request(stack, "POST", path, body=b"\0\0\0\0\0", headers=headers)
    message = urllib.parse.unquote(response_headers.get("grpc-message", ""))
    return int(response_headers["grpc-status"]), message


EXPORT_PATH = "/analytics.calculation.v1.CalculationService/ExportCalculation"


def test_rest_callers_are_told_what_was_wrong_with_their_token(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    refused = bad_tokens(stack_tokens)
    status, headers, body = request(stack, "POST", "/v1/calculate/export", body=b"{}")
    assert status == 401
    assert json_status(status, headers, body) == {
        "code": grpc.StatusCode.UNAUTHENTICATED.value[0],
        "message": "the bearer token is missing; this path needs one "
                   "(Authorization: Bearer <token>)",
        "details": [],
    }
    expected = {
        "expired": (401, grpc.StatusCode.UNAUTHENTICATED, "Jwt is expired"),
        "wrong issuer": (401, grpc.StatusCode.UNAUTHENTICATED, "Jwt issuer is not configured"),
        "wrong signature": (401, grpc.StatusCode.UNAUTHENTICATED, "Jwt verification fails"),
        "not a jwt": (401, grpc.StatusCode.UNAUTHENTICATED, "Header.Payload.Signature"),
        "wrong audience": (403, grpc.StatusCode.PERMISSION_DENIED, "Audiences in Jwt"),
    }
    for why, (http_status, code, named) in expected.items():
        status, headers, body = request(
            stack, "GET", "/v1/value-chains", headers={"authorization": f"Bearer {refused[why]}"}
        )
        assert status == http_status, (why, body)
        answer = json_status(status, headers, body)
        assert answer["code"] == code.value[0], (why, answer)
        assert named in str(answer["message"]), (why, answer)
    # A body that is not JSON is named too, as INVALID_ARGUMENT.
    status, headers, body = request(
        stack, "POST", "/v1/calculate/export", body=b"{not json",
        headers={"content-type": "application/json", **stack_tokens.headers("analyst", "acme")},
    )  # fmt: skip
    assert status == 400
    assert json_status(status, headers, body)["code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]


def test_grpc_and_grpc_web_callers_keep_their_status_codes_with_the_same_explanation(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    expired = bad_tokens(stack_tokens)["expired"]
    with grpc.insecure_channel(stack.public_address) as channel:
        calculation = calculation_pb2_grpc.CalculationServiceStub(channel)
        for token, named in ((None, "the bearer token is missing"), (expired, "Jwt is expired")):
            md = () if token is None else (("authorization", f"Bearer {token}"),)
            with pytest.raises(grpc.RpcError) as refused:
                calculation.ExportCalculation(export_request(), timeout=10, metadata=md)
            error: grpc.Call = refused.value  # type: ignore[assignment]
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            assert named in (error.details() or ""), error.details()
    for token, named in ((None, "the bearer token is missing"), (expired, "Jwt is expired")):
        code, message = grpc_web_refusal(stack, EXPORT_PATH, token)
        assert code == grpc.StatusCode.UNAUTHENTICATED.value[0]
        assert named in message, message
