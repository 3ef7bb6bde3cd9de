"""Read scopes: an object model as one caller may see it.

A KPI's measures are keyed by object model. Under row security, two KPIs of one dashboard may
read the same model through different row filters (one RBAC, one not), so measures are re-keyed
by scope — the model code itself when every row is read, or the model code plus a digest of the
filter — and each scope becomes its own aggregate query carrying the filter. Measures of KPIs
that share a scope still share one scan.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.aggregates import query
from services.calculation.formula.compiler import CompiledKpi

SCOPE_SEPARATOR = "~"


@dataclass(frozen=True)
class Scope:
    object_model_code: str
    row_filter: query.Filter | None


def scope_key(object_model_code: str, row_filter: query.Filter | None) -> str:
    if row_filter is None:
        return object_model_code
    # The frozen filter's repr spells its whole tree, literals included.
    digest = hashlib.sha256(repr(row_filter).encode()).hexdigest()[:16]
    return f"{object_model_code}{SCOPE_SEPARATOR}{digest}"


@dataclass(frozen=True)
class ScopedKpi:
    """A compiled KPI whose `measures` are keyed by scope key, with the object models whose data
    versions shape its value (those it reads, and the hierarchies its row filters walk)."""

    kpi: CompiledKpi
    scopes: Mapping[str, Scope]
    versioned_models: tuple[str, ...]
    restricted: bool


def scoped(
    kpi: CompiledKpi,
    row_filters: Mapping[str, query.Filter],
    hierarchy_models: Iterable[str] = (),
) -> ScopedKpi:
    scopes: dict[str, Scope] = {}
    measures: dict[str, tuple[query.Measure, ...]] = {}
    for model_code, model_measures in kpi.measures.items():
        row_filter = row_filters.get(model_code)
        key = scope_key(model_code, row_filter)
        scopes[key] = Scope(model_code, row_filter)
        measures[key] = model_measures
    restricted = any(row_filters.get(model) is not None for model in kpi.measures)
    versioned = set(kpi.measures)
    if restricted:
        versioned.update(hierarchy_models)
    return ScopedKpi(
        dataclasses.replace(kpi, measures=measures),
        scopes,
        tuple(sorted(versioned)),
        restricted,
    )
