"""On-demand calculation over REST through Envoy's transcoder: the spec's paths, JSON in and out,
errors as HTTP statuses with the field named."""

from __future__ import annotations

import json

import pytest

from tests.e2e.test_stack import request
from tests.fixtures.auth import for_stack
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

WEEK = {"start": "2026-03-01T00:00:00Z", "end": "2026-03-08T00:00:00Z"}


def post(stack: Stack, path: str, payload: dict[str, object]) -> tuple[int, dict[str, object]]:
    # An admin, who names the client in each request.
    headers = {"content-type": "application/json", **for_stack(stack).headers("admin")}
    status, _, body = request(stack, "POST", path, json.dumps(payload).encode(), headers)
    return status, json.loads(body)


def test_calculate_over_rest(stack: Stack) -> None:
    status, body = post(
        stack,
        "/v1/calculate",
        {
            "kpiCode": "SCOR_POF",
            "clientId": "rest-co",
            "timeRange": WEEK,
            "period": "PERIOD_DAY",
        },
    )
    assert status == 200, body
    result = body["result"]
    assert isinstance(result, dict)
    assert result["kpiCode"] == "SCOR_POF" and result["unit"] == "%"
    # No orders for this client: a ratio of two counts is 0/0, and the value says so rather
    # than being 0 or infinite.
    assert "value" not in result["total"]
    assert result["total"]["noValueReason"] == "NO_VALUE_REASON_DIVISION_BY_ZERO"


def test_dashboard_over_rest(stack: Stack) -> None:
    status, body = post(
        stack,
        "/v1/calculate/dashboard",
        {
            "kpiCodes": ["SCOR_POF", "FIN_DSO", "NOPE"],
            "clientId": "rest-co",
            "timeRange": WEEK,
            "period": "PERIOD_HOUR",
        },
    )
    assert status == 200, body
    assert [r["kpiCode"] for r in body["results"]] == ["SCOR_POF", "FIN_DSO"]  # type: ignore[index, union-attr]
    assert [e["kpiCode"] for e in body["errors"]] == ["NOPE"]  # type: ignore[index, union-attr]


def test_unknown_kpi_is_a_404(stack: Stack) -> None:
    status, body = post(
        stack,
        "/v1/calculate",
        {
            "kpiCode": "NOPE",
            "clientId": "rest-co",
            "timeRange": WEEK,
            "period": "PERIOD_DAY",
        },
    )
    assert status == 404 and "NOPE" in str(body["message"])


def test_end_before_start_is_a_400_naming_the_field(stack: Stack) -> None:
    backwards = {"start": WEEK["end"], "end": WEEK["start"]}
    status, body = post(
        stack,
        "/v1/calculate",
        {
            "kpiCode": "SCOR_POF",
            "clientId": "rest-co",
            "timeRange": backwards,
            "period": "PERIOD_DAY",
        },
    )
    assert status == 400
    assert "time_range.end" in json.dumps(body["details"])


def test_formula_validation_over_rest(stack: Stack) -> None:
    status, body = post(stack, "/v1/formulas/validate", {"formula": "count(ORDER where nope = 1)"})
    assert status == 200
    assert body.get("valid", False) is False
    assert "nope" in json.dumps(body["diagnostics"])


def test_demo_generation_over_rest_then_the_kpis_have_values(stack: Stack) -> None:
    status, body = post(
        stack,
        "/v1/demo/generate",
        {
            "clientId": "demo-rest",
            "timeRange": WEEK,
            "rowsPerDay": 20,
            "seed": 3,
        },
    )
    assert status == 200, body
    assert int(str(body["totalRowCount"])) > 0
    status, body = post(
        stack,
        "/v1/calculate",
        {
            "kpiCode": "SCOR_ORDERS_PER_DAY",
            "clientId": "demo-rest",
            "timeRange": WEEK,
            "period": "PERIOD_DAY",
        },
    )
    assert status == 200, body
    assert body["result"]["total"]["value"] > 0  # type: ignore[index]
