"""Whole answers: a batch's or a dashboard's results, joined in wire form, kept whole.

A dashboard opened again (everyone opening the same view) would otherwise still take a cache
key per KPI, a lookup per key and the joining of megabytes of results. Its whole answer is kept
under a key of everything that shapes it — the request's shape (client, range, period, group-by,
comparison, time zone, group limit, layout), the KPI codes in order, the catalog version (or the
client's custom KPI revision), the caller's security context when any KPI reads through row
security, the response field the results go in — and the data version of every object model
its KPIs read. The versions are read for every request, so a new version (new data) means a new
key: a whole answer is never older than the data it was asked about, exactly as per KPI.

Only complete answers are kept: one with an error (an unknown KPI, custom KPIs unavailable, a
group-by an object model cannot resolve) is worked out each time, so no failure outlives its
cause. The answer is kept with every result marked as served from the cache, in the replica's
memory and (written in the background) in Redis, so a cached dashboard is one versions read, one
lookup and its head's few bytes joined to the kept ones.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from services.calculation import messages
from services.calculation.cache import ResultCache, request_shape
from services.calculation.calculator import Calculator, Plan
from services.calculation.request import CalculationRequest
from services.errors import DomainError

_PREFIX = "calc:answer:v1:"


def answer_key(plan: Plan, results_field: int) -> str:
    """The key of the whole answer to the planned request."""
    versions = plan.versions
    models = sorted({m for kpi in plan.compiled.values() for m in kpi.versioned_models})
    shape = {
        "request": request_shape(plan.request),
        "results_field": results_field,
        "kpis": list(plan.compiled),
        "catalog": plan.snapshot.version,
        # Values read through row security are the caller's alone.
        "caller": (plan.caller_context or "") if plan.restricted else "",
        "versions": [[m, versions[m].version if m in versions else 0] for m in models],
    }
    return _PREFIX + hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Answer:
    # The results as elements of the response's results field, joined.
    results: bytes
    errors: tuple[tuple[str, DomainError], ...]
    kpi_count: int
    cache_hits: int
    scan_count: int
    elapsed_seconds: float


class Answers:
    """Batches and dashboards answered whole from the cache when it has them, else calculated
    (per KPI, with the per-KPI cache) and kept whole for the next time."""

    def __init__(self, calculator: Calculator, cache: ResultCache | None) -> None:
        self._calculator = calculator
        self._cache = cache

    async def answer(self, request: CalculationRequest, results_field: int) -> Answer:
        plan = await self._calculator.plan(request)
        key = (
            answer_key(plan, results_field) if self._cache is not None and not plan.errors else None
        )
        if key is not None and self._cache is not None and not request.bypass_cache:
            found = (await self._cache.get_many([key])).get(key)
            if found is not None:
                count = len(plan.compiled)
                return Answer(found, (), count, count, 0, time.perf_counter() - plan.started)
        batch = await self._calculator.calculate(request, plan)
        layout = batch.series_layout
        results = messages.joined_results(results_field, batch.outcomes, batch.encoded, layout)
        if key is not None and self._cache is not None and not batch.errors:
            every_cached = batch.cache_hits == len(batch.outcomes)
            kept = (
                results
                if every_cached
                else messages.joined_results(
                    results_field, batch.outcomes, batch.encoded, layout, as_cached=True
                )
            )
            await self._cache.keep({key: kept})
        return Answer(
            results,
            batch.errors,
            len(batch.outcomes) + len(batch.errors),
            batch.cache_hits,
            batch.scan_count,
            batch.elapsed_seconds,
        )
