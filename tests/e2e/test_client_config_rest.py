"""Client configuration over REST through Envoy: `/v1/clients` create, read and update with
optimistic concurrency (a stale etag is 409), errors naming the field, and data-source
credentials never read back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_stack import request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

SECRET = "rest-secret-never-shown"


def call(stack: Stack, tokens: TokenMaker, method: str, path: str,
         payload: dict[str, Any] | None = None, role: str = "admin",
         client: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": "application/json", **tokens.headers(role, client)}
    body = None if payload is None else json.dumps(payload).encode()
    status, _, raw = request(stack, method, path, body, headers)
    try:
        return status, json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        # Not JSON at all (Envoy's own refusals are JSON statuses too); kept for the message.
        return status, {"message": raw.decode(errors="replace")}


def test_clients_over_rest_with_etags(stack: Stack, stack_tokens: TokenMaker) -> None:
    status, created = call(stack, stack_tokens, "POST", "/v1/clients", {
        "clientId": "rest-config", "name": "Rest Config Co",
        "selectedKpis": [{"kpiCode": "SCOR_POF", "complexity": "IMPLEMENTATION_COMPLEXITY_OTB"}],
        "licenseTermYears": 3, "environment": "ENVIRONMENT_AWS",
    })
    assert status == 200, created
    created = created["client"]
    assert created["version"] == "1" and created["valueChainCodes"] == ["SCOR"]

    status, read = call(stack, stack_tokens, "GET", "/v1/clients/rest-config")
    read = read["client"]
    assert status == 200 and read["etag"] == created["etag"]

    status, updated = call(stack, stack_tokens, "PUT", "/v1/clients/rest-config",
                           {**read, "name": "Rest Config Corporation"})
    assert status == 200, updated
    updated = updated["client"]
    assert updated["version"] == "2" and updated["etag"] != read["etag"]

    # The same change again, from the etag read before: someone else's update won meanwhile.
    status, stale = call(stack, stack_tokens, "PUT", "/v1/clients/rest-config",
                         {**read, "name": "Lost update"})
    assert status == 409, stale
    assert "etag" in stale["message"]
    status, after = call(stack, stack_tokens, "GET", "/v1/clients/rest-config")
    assert after["client"]["name"] == "Rest Config Corporation"

    status, listed = call(stack, stack_tokens, "GET", "/v1/clients?search=rest-config")
    assert status == 200 and [c["clientId"] for c in listed["clients"]] == ["rest-config"]


def test_invalid_clients_name_the_field_over_rest(stack: Stack,
                                                  stack_tokens: TokenMaker) -> None:
    status, body = call(stack, stack_tokens, "POST", "/v1/clients", {
        "clientId": "rest-bad", "name": "Bad", "licenseTermYears": 2,
        "selectedKpis": [{"kpiCode": "NOPE", "complexity": "IMPLEMENTATION_COMPLEXITY_OTB"}],
    })
    assert status == 400, body
    fields = {v["field"] for d in body["details"] for v in d.get("fieldViolations", [])}
    assert fields == {"client.license_term_years", "client.selected_kpis[0].kpi_code"}


def test_a_custom_kpi_formula_error_carries_positioned_diagnostics_over_rest(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    status, _ = call(stack, stack_tokens, "POST", "/v1/clients",
                     {"clientId": "rest-formula", "name": "Rest Formula Co"})
    assert status == 200
    status, body = call(stack, stack_tokens, "POST", "/v1/clients/rest-formula/custom-kpis", {
        "code": "REST_BROKEN", "name": "Broken",
        "formula": "count(ORDER where delivery_at > promised_at)",
    })
    assert status == 400, body
    kinds = {d["@type"].rpartition("/")[2]: d for d in body["details"]}
    assert set(kinds) == {"google.rpc.BadRequest", "analytics.type.v1.FormulaDiagnostic"}
    assert kinds["google.rpc.BadRequest"]["fieldViolations"][0]["field"] == "custom_kpi.formula"
    diagnostic = kinds["analytics.type.v1.FormulaDiagnostic"]
    assert diagnostic["severity"] == "DIAGNOSTIC_SEVERITY_ERROR"
    assert diagnostic["start"] == {"line": 1, "column": 19, "offset": 18}
    assert diagnostic["end"] == {"line": 1, "column": 30, "offset": 29}
    assert diagnostic["found"] == "delivery_at"


def test_a_client_configuration_is_not_for_another_tenant(stack: Stack,
                                                          stack_tokens: TokenMaker) -> None:
    status, _ = call(stack, stack_tokens, "GET", "/v1/clients/rest-config", role="analyst",
                     client="someone-else")
    assert status in (403, 404)


def test_credentials_are_never_returned_over_rest(stack: Stack,
                                                  stack_tokens: TokenMaker) -> None:
    call(stack, stack_tokens, "POST", "/v1/clients", {"clientId": "rest-sources", "name": "Src"})
    status, created = call(stack, stack_tokens, "POST", "/v1/clients/rest-sources/data-sources", {
        "objectModelCode": "CUSTOMER", "sourceSystem": "Salesforce",
        "integrationType": "INTEGRATION_TYPE_STREAMING_API_ARCHITECTED",
        "connectionSettings": {"instance": "acme.my.salesforce.com"},
        "credentials": {"client_secret": SECRET},
    })
    assert status == 200, created
    created = created["dataSource"]
    assert created["credentialsSet"] is True and created["credentialNames"] == ["client_secret"]
    status, listed = call(stack, stack_tokens, "GET", "/v1/clients/rest-sources/data-sources")
    status_one, one = call(stack, stack_tokens, "GET",
                           f"/v1/clients/rest-sources/data-sources/{created['dataSourceId']}")
    assert status == status_one == 200
    for body in (created, listed, one):
        assert SECRET not in json.dumps(body)
    log = (stack.data_dir / "logs" / "config.log").read_text()
    assert SECRET not in log
