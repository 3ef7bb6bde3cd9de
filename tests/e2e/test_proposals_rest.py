"""Proposals over REST through Envoy: `POST /v1/proposals` prices the worked example to the cent,
and an invalid licence term is a 400 naming the field."""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format

from tests.e2e.test_stack import request
from tests.fixtures.auth import TokenMaker
from tests.fixtures.stack import Stack
from tests.integration.proposal_examples import spec_inputs

pytestmark = pytest.mark.stack


def post_proposal(
    stack: Stack, tokens: TokenMaker, inputs: dict[str, object]
) -> tuple[int, dict[str, object]]:
    headers = {"content-type": "application/json", **tokens.headers("sales", "rest-proposals")}
    status, _, body = request(
        stack, "POST", "/v1/proposals", json.dumps({"inputs": inputs}).encode(), headers)
    return status, json.loads(body)


def test_create_proposal_returns_the_exact_totals(stack: Stack, stack_tokens: TokenMaker) -> None:
    inputs = json_format.MessageToDict(spec_inputs())
    status, body = post_proposal(stack, stack_tokens, inputs)
    assert status == 200, body
    proposal = body["proposal"]
    assert isinstance(proposal, dict)
    totals = proposal["totals"]
    # int64 travels as a JSON string.
    assert totals["yearlyRecurring"] == {"currencyCode": "USD", "cents": "9607000"}
    assert totals["year1"]["min"]["cents"] == "12372000"
    assert totals["year1"]["max"]["cents"] == "12897000"
    assert totals["termTotal"]["min"]["cents"] == "31586000"
    assert totals["termTotal"]["max"]["cents"] == "32111000"
    assert proposal["licensing"]["annualTotal"]["cents"] == "6500000"
    assert proposal["infrastructure"]["annualTotal"]["cents"] == "2232000"
    assert proposal["version"] == 1

    path = f"/v1/proposals/{proposal['proposalId']}/document?format=DOCUMENT_FORMAT_HTML"
    status, _, document = request(
        stack, "GET", path, headers=stack_tokens.headers("sales", "rest-proposals"))
    assert status == 200
    assert "text/html" in json.loads(document)["contentType"]


def test_invalid_licence_term_is_a_400_naming_the_field(
    stack: Stack, stack_tokens: TokenMaker
) -> None:
    inputs = json_format.MessageToDict(spec_inputs())
    inputs["licenseTermYears"] = 2
    status, body = post_proposal(stack, stack_tokens, inputs)
    assert status == 400, body
    assert "inputs.license_term_years" in str(body["message"])
    fields = [
        violation["field"]
        for detail in body["details"]  # type: ignore[union-attr]
        for violation in detail.get("fieldViolations", [])
    ]
    assert fields == ["inputs.license_term_years"]
