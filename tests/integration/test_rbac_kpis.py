"""RBAC and Dynamic RBAC KPIs through the real services: a manager's values equal the plain
Python oracle over exactly the rows their claims let them see — a region, or a whole subtree of
the sales organisation however deep — on demand and in a stream snapshot; callers with different
rights never share a cached value; a restricted caller without the claim is refused."""

from __future__ import annotations

import csv
import datetime
import io
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import grpc
import pytest
from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import struct_pb2

from services.catalog.domain import RowAccessKind
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.kitchen import CLIENT, END, START, Kitchen
from tests.oracle.row_evaluator import OracleValue, evaluate_formula

Rows = Mapping[str, Sequence[Mapping[str, Any]]]

REGION_KPIS = ["SALES_WIN_RATE", "SALES_WIN_RATE", "CRM_LEAD_CONVERSION"]
SUBTREE_KPIS = ["SALES_REVENUE", "SALES_QUOTA_ATTAINMENT", "CRM_NEW_CUSTOMERS"]


def _time_range(start: datetime.datetime, end: datetime.datetime) -> types_pb2.TimeRange:
    message = types_pb2.TimeRange()
    message.start.FromDatetime(start)
    message.end.FromDatetime(end)
    return message


def _value(value: types_pb2.KpiValue) -> float | None:
    return value.value if value.HasField("value") else None


def _close(engine: float | None, oracle: OracleValue) -> bool:
    if oracle.value is None or engine is None:
        return engine is None and oracle.value is None
    return math.isclose(engine, oracle.value, rel_tol=1e-6, abs_tol=1e-6)


# -- what a caller may see, computed independently of the engine ------------------------------


def _subtree(reps: Sequence[Mapping[str, Any]], root: str) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for rep in reps:
        if rep["manager_id"]:
            children[rep["manager_id"]].append(rep["sales_rep_id"])
    seen, todo = {root}, [root]
    while todo:
        for child in children[todo.pop()]:
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def _visible(kitchen: Kitchen, rows: Rows, code: str, claims: Mapping[str, str]) -> Rows:
    """Rows of each object model the KPI's rules limit, kept when the caller may see them; the
    rows of every other model (related rows, hierarchy) untouched."""
    kpi = next(k for k in kitchen.catalog.kpis if k.code == code)
    reps = {rep["sales_rep_id"]: rep for rep in rows["SALES_REP"]}
    visible = dict(rows)
    for rule in kpi.row_access:
        claim = claims[rule.claim]
        if rule.follows_hierarchy:
            allowed = _subtree(rows["SALES_REP"], claim)
            keep = [r for r in visible[rule.object_model_code] if r[rule.field] in allowed]
        else:
            relationship, field = rule.field.split(".")
            assert relationship in ("owner",), "the test reads owner.<field> only"
            keep = [
                r
                for r in visible[rule.object_model_code]
                if r["owner_id"] in reps and reps[r["owner_id"]][field] == claim
            ]
        visible[rule.object_model_code] = keep
    return visible


def _oracle(
    kitchen: Kitchen,
    rows: Rows,
    code: str,
    start: datetime.datetime,
    end: datetime.datetime,
    bucket: str | None,
) -> dict[datetime.datetime | None, OracleValue]:
    models = {model.code: model for model in kitchen.catalog.object_models}
    formulas = {kpi.code: kpi.formula for kpi in kitchen.catalog.kpis}
    found = evaluate_formula(formulas[code], models, formulas, rows, start, end, bucket)
    return {moment: value for (moment, _), value in found.items()}


def _mismatches(
    code: str, result: calculation_pb2.KpiResult, oracle: Mapping[Any, OracleValue]
) -> list[str]:
    engine = {v.bucket_start.ToDatetime(tzinfo=datetime.UTC): _value(v) for v in result.series}
    problems = []
    if not _close(_value(result.total), oracle[None]):
        problems.append(f"{code} total: engine {_value(result.total)}, oracle {oracle[None]}")
    for moment, expected in oracle.items():
        if moment is None:
            continue
        got = engine.get(moment)
        if got is None and expected.value in (None, 0.0):
            continue
        if not _close(got, expected):
            problems.append(f"{code} {moment}: engine {got}, oracle {expected}")
    return problems


# -- the callers ---------------------------------------------------------------------------------


def _manager(**claims: str) -> tuple[tuple[str, str], ...]:
    return local_tokens().metadata("manager", CLIENT, **claims)


async def _batch(
    kitchen: Kitchen, codes: Sequence[str], metadata: Any, *, bypass_cache: bool = True
) -> calculation_pb2.CalculateBatchResponse:
    return await kitchen.stub.CalculateBatch(
        calculation_pb2.CalculateBatchRequest(
            kpi_codes=list(codes),
            client_id=CLIENT,
            time_range=_time_range(START, END),
            period=types_pb2.PERIOD_DAY,
            bypass_cache=bypass_cache,
        ),
        metadata=metadata,
        timeout=60,
    )


def _regions(rows: Rows) -> list[str]:
    counts: dict[str, int] = defaultdict(int)
    reps = {rep["sales_rep_id"]: rep for rep in rows["SALES_REP"]}
    for opportunity in rows["OPPORTUNITY"]:
        rep = reps.get(opportunity["owner_id"])
        if rep is not None:
            counts[rep["region"]] += 1
    return sorted(counts, key=lambda region: -counts[region])


def _middle_manager(rows: Rows) -> str:
    """A rep with reports who themselves have reports (a subtree at least three levels deep),
    who is not the top of the organisation."""
    reps = rows["SALES_REP"]
    managers = {rep["manager_id"] for rep in reps if rep["manager_id"]}
    for rep in reps:
        below = _subtree(reps, rep["sales_rep_id"]) - {rep["sales_rep_id"]}
        if rep["manager_id"] and below & managers and len(below) < len(reps) - 1:
            return str(rep["sales_rep_id"])
    raise AssertionError("the demo organisation has no middle manager with a deep subtree")


# -- the tests -------------------------------------------------------------------------------------


def test_the_catalog_marks_rbac_and_dynamic_rbac_kpis(kitchen: Kitchen) -> None:
    kinds = {kpi.code: kpi.row_access_kind for kpi in kitchen.catalog.kpis}
    assert all(kinds[code] is RowAccessKind.RBAC for code in REGION_KPIS)
    assert all(kinds[code] is RowAccessKind.DYNAMIC_RBAC for code in SUBTREE_KPIS)


async def test_rbac_values_equal_the_oracle_over_the_callers_region(kitchen: Kitchen) -> None:
    rows = await kitchen.rows()
    regions = _regions(rows)
    assert len(regions) >= 2, "the demo data needs opportunities in two regions"
    problems: list[str] = []
    for region in regions[:2]:
        reply = await _batch(kitchen, REGION_KPIS, _manager(region=region))
        assert not reply.errors, [(e.kpi_code, e.status.message) for e in reply.errors]
        for result in reply.results:
            visible = _visible(kitchen, rows, result.kpi_code, {"region": region})
            oracle = _oracle(kitchen, visible, result.kpi_code, START, END, "day")
            oracle.update(_oracle(kitchen, visible, result.kpi_code, START, END, None))
            problems += _mismatches(result.kpi_code, result, oracle)
    assert not problems, "\n".join(problems[:30])


async def test_dynamic_rbac_values_equal_the_oracle_over_the_callers_subtree(
    kitchen: Kitchen,
) -> None:
    rows = await kitchen.rows()
    node = _middle_manager(rows)
    reply = await _batch(kitchen, SUBTREE_KPIS, _manager(org_node=node))
    assert not reply.errors, [(e.kpi_code, e.status.message) for e in reply.errors]
    problems: list[str] = []
    for result in reply.results:
        visible = _visible(kitchen, rows, result.kpi_code, {"org_node": node})
        oracle = _oracle(kitchen, visible, result.kpi_code, START, END, "day")
        oracle.update(_oracle(kitchen, visible, result.kpi_code, START, END, None))
        problems += _mismatches(result.kpi_code, result, oracle)
    assert not problems, "\n".join(problems[:30])
    # The subtree is a real restriction: the whole client's revenue is more.
    admin = await _batch(kitchen, ["SALES_REVENUE"], local_tokens().admin())
    mine = next(r for r in reply.results if r.kpi_code == "SALES_REVENUE")
    assert _value(mine.total) is not None
    assert _value(mine.total) < (_value(admin.results[0].total) or 0.0)


async def test_dashboards_and_exports_apply_the_same_rows(kitchen: Kitchen) -> None:
    """Every on-demand path reads through the same row filter as CalculateBatch."""
    rows = await kitchen.rows()
    node = _middle_manager(rows)
    metadata = _manager(org_node=node)
    visible = _visible(kitchen, rows, "SALES_REVENUE", {"org_node": node})
    expected = _oracle(kitchen, visible, "SALES_REVENUE", START, END, None)[None]
    assert expected.value, "the subtree must have won deals for this to mean anything"
    request = {
        "kpi_codes": ["SALES_REVENUE"],
        "client_id": CLIENT,
        "time_range": _time_range(START, END),
        "period": types_pb2.PERIOD_DAY,
    }
    dashboard = await kitchen.stub.CalculateDashboard(
        calculation_pb2.CalculateDashboardRequest(**request), metadata=metadata, timeout=60
    )
    assert _close(_value(dashboard.results[0].total), expected)
    export = await kitchen.stub.ExportCalculation(
        calculation_pb2.ExportCalculationRequest(
            **request, format=calculation_pb2.EXPORT_FORMAT_CSV
        ),
        metadata=metadata,
        timeout=60,
    )
    lines = list(csv.DictReader(io.StringIO(export.content.decode())))
    (total,) = [line for line in lines if not line["bucket_start"]]
    assert _close(float(total["value"]), expected)


async def test_callers_with_different_rights_never_share_a_cached_value(kitchen: Kitchen) -> None:
    rows = await kitchen.rows()
    first, second = _regions(rows)[:2]
    admin = await _batch(kitchen, ["SALES_WIN_RATE"], local_tokens().admin(), bypass_cache=False)
    totals: dict[str, float | None] = {"admin": _value(admin.results[0].total)}
    for region in (first, second, first):
        reply = await _batch(
            kitchen, ["SALES_WIN_RATE"], _manager(region=region), bypass_cache=False
        )
        visible = _visible(kitchen, rows, "SALES_WIN_RATE", {"region": region})
        expected = _oracle(kitchen, visible, "SALES_WIN_RATE", START, END, None)[None]
        assert _close(_value(reply.results[0].total), expected), region
        totals[region] = _value(reply.results[0].total)
    assert len({totals["admin"], totals[first], totals[second]}) == 3
    # The repeat of the first region was served from the cache it alone may read.
    assert reply.stats.cache_hits == 1


async def test_a_restricted_caller_without_the_claim_is_refused(kitchen: Kitchen) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await kitchen.stub.Calculate(
            calculation_pb2.CalculateRequest(
                kpi_code="SALES_REVENUE",
                client_id=CLIENT,
                time_range=_time_range(START, END),
                period=types_pb2.PERIOD_DAY,
            ),
            metadata=_manager(region="emea"),
            timeout=30,
        )
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "org_node" in (refused.value.details() or "")


async def test_a_stream_snapshot_shows_only_the_callers_subtree(kitchen: Kitchen) -> None:
    """Rows landing today (the live window), owned across the organisation; the snapshot a
    manager's stream starts with counts only their subtree's."""
    rows = await kitchen.rows()
    node = _middle_manager(rows)
    subtree = _subtree(rows["SALES_REP"], node)
    outside = sorted({rep["sales_rep_id"] for rep in rows["SALES_REP"]} - subtree)
    inside = sorted(subtree)
    today = datetime.datetime.now(datetime.UTC).date()
    fresh = [
        {
            "opportunity_id": f"OPP-RBAC-{index}",
            "customer_id": rows["CUSTOMER"][0]["customer_id"],
            "owner_id": owner,
            "stage": "closed_won",
            "amount": 1000 + index,
            "source": "inbound",
            "product_line": "safety",
            "created_at": f"{today.isoformat()}T00:00:00Z",
            "close_date": today.isoformat(),
        }
        for index, owner in enumerate(inside[:3] + outside[:3])
    ]
    admin = local_tokens().admin()
    async with channel_with(kitchen.data_address, admin) as channel:
        await data_pb2_grpc.DataServiceStub(channel).IngestRows(
            data_pb2.IngestRowsRequest(
                object_model_code="OPPORTUNITY",
                client_id=CLIENT,
                rows=[_struct(row) for row in fresh],
            ),
            timeout=30,
        )
    context = types_pb2.SecurityContext(
        client_id=CLIENT, subject="m-1", roles=["manager"], attributes={"org_node": node}
    )
    async with channel_with(kitchen.calculation_address, admin) as channel:
        internal = calculation_pb2_grpc.CalculationInternalServiceStub(channel)
        reply = await internal.GetKpiSnapshots(
            calculation_pb2.GetKpiSnapshotsRequest(
                subscriptions=[
                    calculation_pb2.KpiSubscription(
                        kpi_code="SALES_REVENUE",
                        client_id=CLIENT,
                        period=types_pb2.PERIOD_DAY,
                        security_context=context,
                    ),
                    calculation_pb2.KpiSubscription(
                        kpi_code="SALES_REVENUE", client_id=CLIENT, period=types_pb2.PERIOD_DAY
                    ),
                ],
                history_buckets=1,
            ),
            timeout=30,
        )
    mine, everyone = reply.snapshots
    assert not mine.HasField("error"), mine.error.message
    assert mine.subscription_key != everyone.subscription_key
    start = datetime.datetime.combine(today, datetime.time(), datetime.UTC)
    end = start + datetime.timedelta(days=1)
    current = await kitchen.rows()
    visible = _visible(kitchen, current, "SALES_REVENUE", {"org_node": node})
    expected = _oracle(kitchen, visible, "SALES_REVENUE", start, end, None)[None]
    assert _close(_value(mine.current), expected), (_value(mine.current), expected)
    assert _value(everyone.current) == pytest.approx(sum(row["amount"] for row in fresh))


def _struct(row: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(row))
    return message
