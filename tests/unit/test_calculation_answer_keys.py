"""The whole-answer key changes with everything that shapes an answer, and only with that."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, cast

from services.aggregates.query import Period, TimeRange
from services.calculation.answers import answer_key
from services.calculation.calculator import ModelVersion, Plan
from services.calculation.catalog_view import CatalogSnapshot
from services.calculation.formula.compiler import CompiledKpi
from services.calculation.request import CalculationRequest, SeriesLayout
from services.calculation.scopes import ScopedKpi

START = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)
FIELD = 1


def scoped(models: tuple[str, ...], restricted: bool = False) -> ScopedKpi:
    # The key reads which object models a KPI's value depends on, not its formula.
    return ScopedKpi(cast(CompiledKpi, None), {}, models, restricted)


def plan(**changes: Any) -> Plan:
    request = CalculationRequest(
        kpi_codes=("A", "B"),
        client_id="acme",
        time_range=TimeRange(START, START + datetime.timedelta(days=1)),
        period=Period.MINUTE,
    )
    base = Plan(
        request=request,
        snapshot=CatalogSnapshot(version="catalog-1", kpis={}, object_models={}),
        compiled={"A": scoped(("ORDER",)), "B": scoped(("ORDER", "INVOICE"))},
        errors=(),
        versions={"ORDER": ModelVersion(3, None), "INVOICE": ModelVersion(7, None)},
        caller_context="caller-1",
        started=0.0,
    )
    return dataclasses.replace(base, **changes)


def with_request(**changes: Any) -> Plan:
    return plan(request=dataclasses.replace(plan().request, **changes))


def test_the_same_request_over_the_same_data_has_the_same_key() -> None:
    assert answer_key(plan(), FIELD) == answer_key(plan(), FIELD)
    # An unrestricted answer is the same for every caller: it is shared.
    assert answer_key(plan(caller_context="caller-2"), FIELD) == answer_key(plan(), FIELD)


def test_new_data_in_any_object_model_read_changes_the_key() -> None:
    newer_invoices = {"ORDER": ModelVersion(3, None), "INVOICE": ModelVersion(8, None)}
    assert answer_key(plan(versions=newer_invoices), FIELD) != answer_key(plan(), FIELD)
    # A model without rows yet counts as version 0, and its first rows change the key.
    no_invoices = {"ORDER": ModelVersion(3, None)}
    first_invoices = {"ORDER": ModelVersion(3, None), "INVOICE": ModelVersion(1, None)}
    assert answer_key(plan(versions=no_invoices), FIELD) != answer_key(
        plan(versions=first_invoices), FIELD
    )


def test_everything_that_shapes_the_answer_changes_the_key() -> None:
    key = answer_key(plan(), FIELD)
    later = TimeRange(START + datetime.timedelta(minutes=1), START + datetime.timedelta(days=1))
    variants = [
        with_request(client_id="other"),
        with_request(time_range=later),
        with_request(period=Period.HOUR),
        with_request(group_by=("region",)),
        with_request(time_zone="Europe/Berlin"),
        with_request(max_groups=5),
        with_request(series_layout=SeriesLayout.COLUMNS),
        plan(compiled={"B": scoped(("ORDER", "INVOICE")), "A": scoped(("ORDER",))}),
        plan(snapshot=CatalogSnapshot(version="catalog-2", kpis={}, object_models={})),
    ]
    keys = {answer_key(variant, FIELD) for variant in variants}
    assert len(keys) == len(variants) and key not in keys
    # The results of a batch and of a dashboard go in fields of their own.
    assert answer_key(plan(), FIELD + 1) != key


def test_an_answer_read_through_row_security_is_the_callers_alone() -> None:
    restricted = {"A": scoped(("ORDER",), restricted=True), "B": scoped(("ORDER", "INVOICE"))}
    mine = answer_key(plan(compiled=restricted), FIELD)
    theirs = answer_key(plan(compiled=restricted, caller_context="caller-2"), FIELD)
    assert mine != theirs
    assert mine != answer_key(plan(), FIELD)
