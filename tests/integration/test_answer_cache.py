"""The whole-answer tier against a real Redis: a planned request whose key is kept is answered
without calculating, a new data version is calculated again, answers with errors are not kept,
and a replica that never saw the answer finds it in Redis."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, cast

import pytest
import redis.asyncio as redis
from analytics.calculation.v1 import calculation_pb2

from services.aggregates.query import Period, TimeRange
from services.calculation.answers import Answers
from services.calculation.cache import ResultCache
from services.calculation.calculator import BatchOutcome, Calculator, ModelVersion, Plan
from services.calculation.catalog_view import CatalogSnapshot
from services.calculation.formula.compiler import CompiledKpi
from services.calculation.request import CalculationRequest
from services.calculation.results import CachedResult
from services.calculation.scopes import ScopedKpi
from services.errors import NotFound

FIELD = calculation_pb2.CalculateDashboardResponse.RESULTS_FIELD_NUMBER
START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


class CountingCalculator:
    """Plans over the data versions it is told, and calculates results that name the version
    they were calculated at."""

    def __init__(self) -> None:
        # A client of its own per test: keys never meet another test's.
        self.client = uuid.uuid4().hex
        self.version = 1
        self.calculations = 0
        self.errors: tuple[tuple[str, Any], ...] = ()

    async def plan(self, request: CalculationRequest) -> Plan:
        return Plan(
            request=request,
            snapshot=CatalogSnapshot(version="catalog-1", kpis={}, object_models={}),
            compiled={"A": ScopedKpi(cast(CompiledKpi, None), {}, ("ORDER",), False)},
            errors=self.errors,
            versions={"ORDER": ModelVersion(self.version, None)},
            caller_context=None,
            started=0.0,
        )

    async def calculate(self, request: CalculationRequest, plan: Plan) -> BatchOutcome:
        self.calculations += 1
        result = calculation_pb2.KpiResult(kpi_code="A", data_version=f"ORDER:{self.version}")
        return BatchOutcome(
            (CachedResult("A", result.SerializeToString()),), plan.errors, 1, 0, 0.0
        )

    def request(self) -> CalculationRequest:
        return CalculationRequest(
            kpi_codes=("A",),
            client_id=self.client,
            time_range=TimeRange(START, START + datetime.timedelta(days=1)),
            period=Period.MINUTE,
        )


@pytest.fixture
def client(redis_client: redis.Redis) -> redis.Redis:
    return redis_client


def answers(calculator: CountingCalculator, client: redis.Redis, local_bytes: int) -> Answers:
    return Answers(cast(Calculator, calculator), ResultCache(client, 60, local_bytes))


def results(answer_bytes: bytes) -> list[calculation_pb2.KpiResult]:
    return list(calculation_pb2.CalculateDashboardResponse.FromString(answer_bytes).results)


async def test_a_kept_answer_is_served_until_the_data_version_moves(client: redis.Redis) -> None:
    calculator = CountingCalculator()
    tier = answers(calculator, client, local_bytes=1 << 20)
    first = await tier.answer(calculator.request(), FIELD)
    again = await tier.answer(calculator.request(), FIELD)
    assert calculator.calculations == 1
    assert [r.from_cache for r in results(again.results)] == [True]
    assert again.cache_hits == again.kpi_count == 1
    assert [r.data_version for r in results(again.results)] == ["ORDER:1"]
    assert results(first.results)[0].data_version == "ORDER:1"

    calculator.version = 2  # new data
    after = await tier.answer(calculator.request(), FIELD)
    assert calculator.calculations == 2
    assert [r.data_version for r in results(after.results)] == ["ORDER:2"]

    # Asked to bypass the cache, it calculates even though the answer is kept.
    await tier.answer(dataclasses.replace(calculator.request(), bypass_cache=True), FIELD)
    assert calculator.calculations == 3


async def test_another_replica_finds_the_answer_in_redis(client: redis.Redis) -> None:
    calculator = CountingCalculator()
    cache = ResultCache(client, 60, local_bytes=0)
    await Answers(cast(Calculator, calculator), cache).answer(calculator.request(), FIELD)
    await cache.settled()  # Redis is written in the background
    other = answers(calculator, client, local_bytes=0)
    served = await other.answer(calculator.request(), FIELD)
    assert calculator.calculations == 1
    assert [r.from_cache for r in results(served.results)] == [True]


async def test_an_answer_with_errors_is_not_kept(client: redis.Redis) -> None:
    calculator = CountingCalculator()
    calculator.errors = (("NOPE", NotFound("no such KPI")),)
    tier = answers(calculator, client, local_bytes=1 << 20)
    await tier.answer(calculator.request(), FIELD)
    again = await tier.answer(calculator.request(), FIELD)
    assert calculator.calculations == 2 and [code for code, _ in again.errors] == ["NOPE"]
