"""Every catalog KPI, computed by the engine (catalog, data and calculation services over real
gRPC, SQL in a real PostgreSQL) and a second way by the plain-Python oracle over the same demo
rows, must agree on every bucket — at two granularities and with a group-by."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Any

import pytest
from analytics.calculation.v1 import calculation_pb2
from analytics.type.v1 import types_pb2

from tests.fixtures.kitchen import CLIENT, END, START, Kitchen
from tests.oracle.row_evaluator import OracleValue, evaluate_formula

GROUP_FIELD = "region"
REASONS = {
    types_pb2.NO_VALUE_REASON_NO_DATA: "no_data",
    types_pb2.NO_VALUE_REASON_DIVISION_BY_ZERO: "division_by_zero",
}


def _time_range(start: datetime.datetime, end: datetime.datetime) -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(start)
    message.end.FromDatetime(end)
    return message


def _engine_value(value: types_pb2.KpiValue) -> OracleValue:
    if value.HasField("value"):
        return OracleValue(value.value)
    return OracleValue(None, REASONS.get(value.no_value_reason))


def _same(engine: OracleValue, oracle: OracleValue) -> bool:
    if oracle.value is None or engine.value is None:
        return engine.value is None and oracle.value is None and engine.reason == oracle.reason
    return math.isclose(engine.value, oracle.value, rel_tol=1e-6, abs_tol=1e-6)


def _compare(
    code: str,
    engine: Mapping[tuple[Any, ...], OracleValue],
    oracle: Mapping[tuple[Any, ...], OracleValue],
) -> list[str]:
    """Every oracle value must be matched; a bucket the engine leaves out must be one with no
    rows at all, whose value is empty or zero."""
    problems = []
    for key, expected in oracle.items():
        got = engine.get(key)
        if got is None:
            if expected.value not in (None, 0.0):
                problems.append(f"{code} {key}: engine has no value, oracle {expected}")
        elif not _same(got, expected):
            problems.append(f"{code} {key}: engine {got}, oracle {expected}")
    problems += [f"{code} {key}: engine only" for key in engine if key not in oracle]
    return problems


async def _calculate(kitchen: Kitchen, period: int, **extra: Any) -> Any:
    codes = [kpi.code for kpi in kitchen.catalog.kpis]
    return await kitchen.stub.CalculateBatch(
        calculation_pb2.CalculateBatchRequest(
            kpi_codes=codes,
            client_id=CLIENT,
            time_range=_time_range(START, END),
            period=period,
            bypass_cache=True,
            **extra,
        ),
        timeout=120,
    )


def _oracle(
    kitchen: Kitchen, rows: Any, code: str, bucket: str | None, group_by: Any = None
) -> Any:
    models = {model.code: model for model in kitchen.catalog.object_models}
    formulas = {kpi.code: kpi.formula for kpi in kitchen.catalog.kpis}
    return evaluate_formula(
        formulas[code], models, formulas, rows, START, END, bucket, "UTC", group_by
    )


@pytest.mark.parametrize(
    ("period", "bucket"), [(types_pb2.PERIOD_DAY, "day"), (types_pb2.PERIOD_HOUR, "hour")]
)
async def test_every_kpi_matches_the_oracle_on_every_bucket(
    kitchen: Kitchen, period: int, bucket: str
) -> None:
    reply = await _calculate(kitchen, period)
    rows = await kitchen.rows()
    assert not reply.errors, [(e.kpi_code, e.status.message) for e in reply.errors]
    assert len(reply.results) == len(kitchen.catalog.kpis)
    problems: list[str] = []
    with_values = 0
    for result in reply.results:
        engine = {
            (v.bucket_start.ToDatetime(tzinfo=datetime.UTC), ()): _engine_value(v)
            for v in result.series
        }
        engine[(None, ())] = _engine_value(result.total)
        oracle = _oracle(kitchen, rows, result.kpi_code, bucket)
        oracle.update(_oracle(kitchen, rows, result.kpi_code, None))
        problems += _compare(result.kpi_code, engine, oracle)
        with_values += result.total.HasField("value")
    assert not problems, "\n".join(problems[:40])
    # The demo data must make the comparison meaningful, not agree on emptiness.
    empty = [r.kpi_code for r in reply.results if not r.total.HasField("value")]
    assert with_values >= 0.9 * len(reply.results), f"no value over the whole range: {empty}"


async def test_a_group_by_matches_the_oracle(kitchen: Kitchen) -> None:
    reply = await _calculate(kitchen, types_pb2.PERIOD_DAY, group_by=[GROUP_FIELD], max_groups=1000)
    rows = await kitchen.rows()
    grouped = [r for r in reply.results if r.groups]
    assert len(grouped) >= 5, "too few KPIs can be grouped by region to mean anything"
    problems: list[str] = []
    for result in grouped:
        models = next(k for k in kitchen.catalog.kpis if k.code == result.kpi_code)
        group_by = {m: GROUP_FIELD for m in models.required_object_model_codes}
        oracle = _oracle(kitchen, rows, result.kpi_code, "day", group_by)
        oracle.update(_oracle(kitchen, rows, result.kpi_code, None, group_by))
        engine: dict[tuple[Any, ...], OracleValue] = {}
        for group in result.groups:
            label = (group.dimensions[GROUP_FIELD],)
            engine[(None, label)] = _engine_value(group.total)
            for value in group.series:
                engine[(value.bucket_start.ToDatetime(tzinfo=datetime.UTC), label)] = _engine_value(
                    value
                )
        oracle = {
            (b, tuple("(none)" if g is None else str(g) for g in group)): v
            for (b, group), v in oracle.items()
            if group
        }
        problems += _compare(result.kpi_code, engine, oracle)
    assert not problems, "\n".join(problems[:40])
