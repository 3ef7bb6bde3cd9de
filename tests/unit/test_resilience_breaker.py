"""The circuit breaker's states, and the retry policy's choice of idempotent calls."""

from __future__ import annotations

import json

import grpc

from services.runtime.breaker import BreakerState, CircuitBreaker
from services.runtime.peer_breaker import peer_name, unreachable
from services.runtime.retry_policy import is_idempotent, service_config


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(failure_threshold=3, open_seconds=2.0, clock=Clock())
    for _ in range(2):
        breaker.failed()
    breaker.succeeded()  # an answer in between resets the count
    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state is BreakerState.CLOSED
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_seconds=2.0, clock=clock)
    breaker.failed()
    assert not breaker.allow()
    assert breaker.retry_after() == 2.0
    clock.now += 2.0
    assert breaker.allow()  # the probe
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow()  # only one at a time
    breaker.failed()
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    clock.now += 2.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() and breaker.allow()


def test_an_abandoned_probe_frees_the_next_one() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_seconds=1.0, clock=clock)
    breaker.failed()
    clock.now += 1.0
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow()


def test_only_idempotent_calls_are_retried() -> None:
    assert is_idempotent("/analytics.data.v1.DataInternalService/QueryAggregates")
    assert is_idempotent("/analytics.catalog.v1.CatalogService/ListKpis")
    assert not is_idempotent("/analytics.data.v1.DataService/IngestRows")
    assert not is_idempotent("/analytics.data.v1.DataInternalService/GenerateDemoRows")
    config = json.loads(service_config())
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert float(policy["initialBackoff"].rstrip("s")) < float(policy["maxBackoff"].rstrip("s"))


def test_peer_names_come_from_the_method() -> None:
    method = "/analytics.data.v1.DataInternalService/QueryAggregates"
    assert peer_name(method, "127.0.0.1:1") == "data service (127.0.0.1:1)"
    assert peer_name(b"/grpc.health.v1.Health/Check", "127.0.0.1:1") == "127.0.0.1:1"


def _error(code: grpc.StatusCode, *trailing: tuple[str, str | bytes]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing), "x")


def test_only_a_peer_that_cannot_be_reached_counts_against_it() -> None:
    assert unreachable(_error(grpc.StatusCode.UNAVAILABLE))
    # The peer answered, saying a dependency of its own is away: it is reachable.
    answered = _error(grpc.StatusCode.UNAVAILABLE, ("grpc-status-details-bin", b"\x08\x0e"))
    assert not unreachable(answered)
    assert not unreachable(_error(grpc.StatusCode.INTERNAL))
