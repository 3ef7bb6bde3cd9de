"""On-demand calculation: from a validated request to KPI outcomes.

For a whole batch or dashboard, every KPI is compiled, the measures they need are merged per
object model, and each object model is read by as few aggregate queries as the request's shape
needs (series, total, and their grouped and comparison variants) — all sent to the data service
in one call, answered as columns. Each KPI's series is then evaluated over all its buckets at
once (series_frames aligns the columns, formula.column_values evaluates them), its totals and
group totals value by value. Cached outcomes are reused when nothing that shapes them, data
versions included, has changed.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import time
import zoneinfo
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.aggregates import query
from services.aggregates.columns import micros
from services.calculation.cache import CacheKeys, ResultCache
from services.calculation.catalog_view import CatalogSnapshot, CatalogView
from services.calculation.compiled_kpis import CompiledKpis, Evaluator
from services.calculation.formula.column_values import compile_columns
from services.calculation.formula.compiler import (
    CompiledKpi,
    merge_measures,
)
from services.calculation.formula.errors import FormulaError
from services.calculation.formula.queries import aggregate_queries, dimension, value_without_rows
from services.calculation.formula.row_access import (
    effective_rules,
    hierarchy_model_codes,
    is_restricted,
    row_filters,
)
from services.calculation.formula.values import Evaluation
from services.calculation.request import CalculationRequest, SeriesLayout, validate
from services.calculation.results import (
    BucketAxis,
    CachedResult,
    ComparisonResult,
    GroupResult,
    KpiOutcome,
    Series,
    Value,
)
from services.calculation.scopes import Scope, ScopedKpi, scoped
from services.calculation.series_frames import AnswerColumns, GroupKey, MeasureValues
from services.errors import DomainError, InvalidArgument

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelVersion:
    version: int
    watermark: datetime.datetime | None


class AggregateSource(Protocol):
    """The data service, as the calculator needs it."""

    async def aggregate(
        self, request: query.AggregateRequest
    ) -> Sequence[query.ColumnarResult]: ...

    async def versions(
        self, client_id: str, object_model_codes: Sequence[str]
    ) -> Mapping[str, ModelVersion]: ...


@dataclass(frozen=True)
class BatchOutcome:
    # In the order the KPIs were asked for: computed now, or served from the cache.
    outcomes: tuple[KpiOutcome | CachedResult, ...]
    errors: tuple[tuple[str, DomainError], ...]
    cache_hits: int
    scan_count: int
    elapsed_seconds: float
    # Fresh outcomes as encoded for the cache, by KPI code (empty without a cache).
    encoded: Mapping[str, bytes] = dataclasses.field(default_factory=dict)
    # How the request asked for series to be encoded (the cached forms are in it).
    series_layout: SeriesLayout = SeriesLayout.VALUES


@dataclass(frozen=True)
class Plan:
    """A request made ready to answer: its KPIs compiled and scoped for the caller (the codes
    that could not be, with why), and the data versions of the object models they read."""

    request: CalculationRequest
    snapshot: CatalogSnapshot
    # By code, in the order they were asked for, without repeats.
    compiled: Mapping[str, ScopedKpi]
    errors: tuple[tuple[str, DomainError], ...]
    versions: Mapping[str, ModelVersion]
    # The caller's security context (None for the service's own work).
    caller_context: str | None
    started: float

    @property
    def restricted(self) -> bool:
        """Whether any KPI reads through the caller's row security."""
        return any(kpi.restricted for kpi in self.compiled.values())


# Scoped KPIs kept (a few hundred catalog KPIs times the security contexts in use).
_SCOPES_KEPT = 20_000


# -- what one KPI reads, and how the rows come back ---------------------------------------------

_SERIES, _TOTAL = "series", "total"
_GROUP_SERIES, _GROUP_TOTAL = "group_series", "group_total"
_PREVIOUS_SERIES, _PREVIOUS_TOTAL = "previous_series", "previous_total"
# The total of a series-only request: neither a value nor a reason for its absence.
_NOT_CALCULATED = Value(None, None)


def bucket_end(
    period: query.Period, start: datetime.datetime, zone: zoneinfo.ZoneInfo
) -> datetime.datetime:
    """The start of the next bucket: calendar days, weeks and months follow the time zone (a
    day across a daylight-saving change lasts 23 or 25 hours)."""
    if period is query.Period.MINUTE:
        return start + datetime.timedelta(minutes=1)
    if period is query.Period.HOUR:
        return start + datetime.timedelta(hours=1)
    local = start.astimezone(zone).replace(tzinfo=None)
    if period is query.Period.DAY:
        following = local + datetime.timedelta(days=1)
    elif period is query.Period.WEEK:
        following = local + datetime.timedelta(days=7)
    else:
        following = (local.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return following.replace(tzinfo=zone).astimezone(datetime.UTC)


# Every KPI of a dashboard asks for the same buckets' lengths: computed once each.
@functools.lru_cache(maxsize=65_536)
def bucket_days(
    period: query.Period, start: datetime.datetime, span: query.TimeRange, zone: zoneinfo.ZoneInfo
) -> float:
    """period_days() of a bucket: its length in days, clipped to the requested range."""
    end = min(bucket_end(period, start, zone), span.end)
    return (end - max(start, span.start)).total_seconds() / 86_400


def _range_days(span: query.TimeRange) -> float:
    return (span.end - span.start).total_seconds() / 86_400


def _measure_values(
    compiled: CompiledKpi, rows: Mapping[str, MeasureValues | None]
) -> dict[str, float | None]:
    """Measure values for one total or group; an object model without a row contributes what
    its measures are worth over no rows (counts 0, the rest no value)."""
    values: dict[str, float | None] = {}
    for model, measures in compiled.measures.items():
        row = rows.get(model)
        for measure in measures:
            if row is None:
                values[measure.measure_id] = value_without_rows(measure)
            else:
                values[measure.measure_id] = row.get(measure.measure_id)
    return values


def _value(bucket: datetime.datetime | None, evaluation: Evaluation) -> Value:
    return Value(bucket, evaluation.value, evaluation.reason)


# A column evaluator per value expression (frozen trees: equal expressions share one).
_column_evaluator = functools.lru_cache(maxsize=4096)(compile_columns)


_FIXED_MICROS = {query.Period.MINUTE: 60_000_000, query.Period.HOUR: 3_600_000_000}


def axis_days(
    period: query.Period, axis: BucketAxis, span: query.TimeRange, zone: zoneinfo.ZoneInfo
) -> list[float]:
    """bucket_days() of every bucket of the axis. Minutes and hours have one length whatever the
    zone: they are computed in microseconds, to the same float (seconds, then days)."""
    length = _FIXED_MICROS.get(period)
    if length is None:
        return [bucket_days(period, bucket, span, zone) for bucket in axis.moments]
    first, last = micros(span.start), micros(span.end)
    return [
        (min(start + length, last) - max(start, first)) / 1_000_000 / 86_400
        for start in axis.starts
    ]


def kpi_series(
    kpi: CompiledKpi,
    rows: AnswerColumns,
    variant: str,
    period: query.Period,
    span: query.TimeRange,
    zone: zoneinfo.ZoneInfo,
    group: GroupKey | None = None,
) -> Series:
    """The KPI's value in every bucket where one of its object models has a row (in `group`
    when given), evaluated over the whole series at once."""
    frame = rows.frame(variant, list(kpi.measures), group)

    def days(axis: BucketAxis) -> list[float]:
        return axis_days(period, axis, span, zone)

    entries, complete = _column_evaluator(kpi.value)(frame.inputs(kpi.measures, days))
    return Series(frame.axis, entries, complete)


class Calculator:
    def __init__(
        self,
        catalog: CatalogView,
        source: AggregateSource,
        cache: ResultCache | None,
        encode: Callable[[KpiOutcome, SeriesLayout], bytes],
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        self._catalog = catalog
        self._source = source
        self._cache = cache
        self._encode = encode
        self._clock = clock
        # Compiled formulas per catalog version, and per client for custom KPIs.
        self._compiled = CompiledKpis()
        # Compiled KPIs as callers may see them, by (snapshot version, code, security context).
        self._scopes: OrderedDict[tuple[str, str, str | None], ScopedKpi] = OrderedDict()

    def _compile(self, snapshot: CatalogSnapshot, code: str) -> CompiledKpi:
        return self._compiled.get(snapshot, code)

    def _evaluate(self, kpi: CompiledKpi) -> Evaluator:
        return self._compiled.evaluator(kpi)

    async def plan(self, request: CalculationRequest) -> Plan:
        """What answering `request` takes: its KPIs compiled as the caller may see them, and the
        data versions of what they read (asked for only when a cache will be keyed by them)."""
        started = time.perf_counter()
        validate(request)
        snapshot = await self._catalog.snapshot_for(request.client_id, request.kpi_codes)
        caller_context = request.caller.security_context() if request.caller is not None else None
        errors: list[tuple[str, DomainError]] = []
        compiled: dict[str, ScopedKpi] = {}
        for code in dict.fromkeys(request.kpi_codes):
            try:
                snapshot.kpi(code)
                compiled[code] = self._scoped(snapshot, code, request, caller_context)
            except DomainError as error:
                errors.append((code, error))

        models = sorted({m for kpi in compiled.values() for m in kpi.versioned_models})
        # Without a cache the versions only label the results, and the aggregate answers carry
        # them (read before their rows): asking for them first would be a round trip for nothing.
        versions = (
            await self._source.versions(request.client_id, models)
            if models and self._cache is not None
            else {}
        )
        return Plan(request, snapshot, compiled, tuple(errors), versions, caller_context, started)

    async def calculate(
        self, request: CalculationRequest, plan: Plan | None = None
    ) -> BatchOutcome:
        """The outcomes of `request`, from the cache where it has them; `plan` when the caller
        has already made it (for this request)."""
        if plan is None:
            plan = await self.plan(request)
        snapshot, compiled, versions = plan.snapshot, plan.compiled, plan.versions
        errors = list(plan.errors)
        request_keys = CacheKeys(request)
        # A value read through row security is the caller's alone.
        caller_context = plan.caller_context or ""
        keys = {
            code: request_keys.key(
                code,
                # The catalog's version, or for a custom KPI its client's revision.
                snapshot.compile_version(code),
                {m: versions[m].version if m in versions else 0 for m in kpi.versioned_models},
                caller_context if kpi.restricted else "",
            )
            for code, kpi in compiled.items()
        }
        cached = (
            {}
            if self._cache is None or request.bypass_cache
            else await self._cache.get_many(list(keys.values()))
        )
        outcomes: dict[str, KpiOutcome | CachedResult] = {
            code: CachedResult(code, cached[key]) for code, key in keys.items() if key in cached
        }
        missing = {code: kpi for code, kpi in compiled.items() if code not in outcomes}
        scans = 0
        encoded: dict[str, bytes] = {}
        if missing:
            fresh, failed, scans = await self._compute(request, snapshot, missing, versions)
            errors.extend(failed)
            outcomes.update(fresh)
            if self._cache is not None:
                encoded = {
                    code: self._encode(outcome, request.series_layout)
                    for code, outcome in fresh.items()
                }
                await self._cache.keep({keys[code]: encoded[code] for code in encoded})
        ordered = tuple(
            outcomes[code] for code in dict.fromkeys(request.kpi_codes) if code in outcomes
        )
        return BatchOutcome(
            ordered,
            tuple(errors),
            len(compiled) - len(missing),
            scans,
            time.perf_counter() - plan.started,
            encoded,
            request.series_layout,
        )

    def _scoped(
        self,
        snapshot: CatalogSnapshot,
        code: str,
        request: CalculationRequest,
        caller_context: str | None,
    ) -> ScopedKpi:
        """The compiled KPI as the request's caller may see it (PermissionDenied when their
        token lacks a claim its row security needs). It depends only on the snapshot, the code
        and the caller's security context, so it is worked out once for each and kept: a
        dashboard asks for a hundred KPIs each time it is opened."""
        # Callers whose rows are not restricted all see the same: they share one entry.
        sees = caller_context if is_restricted(request.caller) else None
        memo_key = (snapshot.version, code, sees)
        found = self._scopes.get(memo_key)
        if found is not None:
            self._scopes.move_to_end(memo_key)
            return found
        kpi = self._compile(snapshot, code)
        related = (code, *kpi.referenced_kpi_codes)
        rules = effective_rules(
            code,
            kpi.referenced_kpi_codes,
            {c: snapshot.kpis[c].row_access for c in related if c in snapshot.kpis},
        )
        filters = row_filters(code, rules, request.caller, snapshot.object_models)
        found = self._scopes[memo_key] = scoped(kpi, filters, hierarchy_model_codes(rules))
        if len(self._scopes) > _SCOPES_KEPT:
            self._scopes.popitem(last=False)
        return found

    # -- computing what the cache did not have -----------------------------------------------

    def _dimensions(
        self, request: CalculationRequest, snapshot: CatalogSnapshot, scopes: Mapping[str, Scope]
    ) -> tuple[dict[str, tuple[query.Dimension, ...]], dict[str, InvalidArgument]]:
        """Group-by paths resolved per scope's object model; a model they do not resolve on is
        reported, and only the KPIs that read it fail."""
        dimensions: dict[str, tuple[query.Dimension, ...]] = {}
        problems: dict[str, InvalidArgument] = {}
        for scope_code, scope in scopes.items():
            model_code = scope.object_model_code
            model = snapshot.object_models[model_code]
            try:
                dimensions[scope_code] = tuple(
                    dimension(path, path, model, snapshot.object_models)
                    for path in request.group_by
                )
            except FormulaError as error:
                problems[scope_code] = InvalidArgument.for_field(
                    "group_by", f"cannot group {model_code} by it: {error.message}"
                )
        return dimensions, problems

    async def _compute(
        self,
        request: CalculationRequest,
        snapshot: CatalogSnapshot,
        kpis: Mapping[str, ScopedKpi],
        versions: Mapping[str, ModelVersion],
    ) -> tuple[dict[str, KpiOutcome], list[tuple[str, DomainError]], int]:
        errors: list[tuple[str, DomainError]] = []
        measures = merge_measures(kpi.kpi.measures for kpi in kpis.values())
        scopes = {key: scope for kpi in kpis.values() for key, scope in kpi.scopes.items()}
        dimensions, group_problems = self._dimensions(request, snapshot, scopes)
        if group_problems:
            for code, kpi in list(kpis.items()):
                bad = next(
                    (group_problems[m] for m in kpi.kpi.object_model_codes if m in group_problems),
                    None,
                )
                if bad is not None:
                    errors.append((code, bad))
            kpis = {
                c: k
                for c, k in kpis.items()
                if all(m not in group_problems for m in k.kpi.object_model_codes)
            }
            measures = merge_measures(kpi.kpi.measures for kpi in kpis.values())
        if not kpis:
            return {}, errors, 0

        queries = self._queries(request, measures, dimensions, scopes)
        results = await self._source.aggregate(
            query.AggregateRequest(request.client_id, tuple(queries), request.time_zone)
        )
        if self._cache is None:
            versions = await self._answered_versions(request, kpis, queries, results)
        rows = AnswerColumns(results)
        computed_at = self._clock()
        zone = zoneinfo.ZoneInfo(request.time_zone)
        outcomes = {
            code: self._outcome(
                request,
                snapshot,
                code,
                kpi.kpi,
                kpi.versioned_models,
                rows,
                versions,
                computed_at,
                zone,
            )
            for code, kpi in kpis.items()
        }
        return outcomes, errors, len(queries)

    async def _answered_versions(
        self,
        request: CalculationRequest,
        kpis: Mapping[str, ScopedKpi],
        queries: Sequence[query.AggregateQuery],
        results: Sequence[query.ColumnarResult],
    ) -> dict[str, ModelVersion]:
        """The data versions the aggregate answers carry, plus those of versioned object models
        no query read (e.g. a row-security hierarchy), asked for."""
        versions = {
            q.object_model_code: ModelVersion(r.data_version, r.watermark)
            for q, r in zip(queries, results, strict=True)
        }
        unread = sorted({m for k in kpis.values() for m in k.versioned_models} - versions.keys())
        if unread:
            versions.update(await self._source.versions(request.client_id, unread))
        return versions

    def _queries(
        self,
        request: CalculationRequest,
        measures: Mapping[str, tuple[query.Measure, ...]],
        dimensions: Mapping[str, tuple[query.Dimension, ...]],
        scopes: Mapping[str, Scope],
    ) -> list[query.AggregateQuery]:
        filters = {key: s.row_filter for key, s in scopes.items() if s.row_filter is not None}
        models = {key: scope.object_model_code for key, scope in scopes.items()}

        def tagged(
            variant: str,
            span: query.TimeRange,
            period: query.Period | None = None,
            group_by: Mapping[str, tuple[query.Dimension, ...]] | None = None,
        ) -> list[query.AggregateQuery]:
            built = aggregate_queries(measures, span, period, group_by, filters, models)
            return [dataclasses.replace(q, query_id=f"{variant}:{q.query_id}") for q in built]

        span, period = request.time_range, request.period
        queries = tagged(_SERIES, span, period)
        if not request.series_only:
            queries += tagged(_TOTAL, span)
        if request.group_by:
            queries += tagged(_GROUP_SERIES, span, period, dimensions)
            queries += tagged(_GROUP_TOTAL, span, None, dimensions)
        previous = request.comparison_range()
        if previous is not None:
            queries += tagged(_PREVIOUS_SERIES, previous, period)
            queries += tagged(_PREVIOUS_TOTAL, previous)
        return queries

    def _total(
        self, kpi: CompiledKpi, rows: AnswerColumns, variant: str, span: query.TimeRange
    ) -> Value:
        models = {model: rows.first_row(variant, model) for model in kpi.measures}
        return _value(
            None,
            self._evaluate(kpi)(_measure_values(kpi, models), _range_days(span)),
        )

    def _groups(
        self,
        request: CalculationRequest,
        kpi: CompiledKpi,
        rows: AnswerColumns,
        zone: zoneinfo.ZoneInfo,
    ) -> tuple[tuple[GroupResult, ...], bool]:
        totals: dict[GroupKey, dict[str, MeasureValues | None]] = defaultdict(dict)
        for model in kpi.measures:
            for key, measures in rows.group_rows(_GROUP_TOTAL, model).items():
                totals[key][model] = measures
        span_days = _range_days(request.time_range)
        evaluated = [
            (
                key,
                _value(
                    None,
                    self._evaluate(kpi)(_measure_values(kpi, found), span_days),
                ),
            )
            for key, found in totals.items()
        ]
        # Largest first, groups without a value last; the cap keeps a high-cardinality field
        # from producing an unreadable (and unbounded) answer.
        evaluated.sort(key=lambda item: (item[1].value is None, -(item[1].value or 0.0), item[0]))
        kept = evaluated[: request.max_groups]
        groups = tuple(
            GroupResult(
                dict(key),
                total,
                kpi_series(kpi, rows, _GROUP_SERIES, request.period, request.time_range, zone, key),
            )
            for key, total in kept
        )
        return groups, len(evaluated) > len(kept)

    def _outcome(
        self,
        request: CalculationRequest,
        snapshot: CatalogSnapshot,
        code: str,
        kpi: CompiledKpi,
        versioned_models: Sequence[str],
        rows: AnswerColumns,
        versions: Mapping[str, ModelVersion],
        computed_at: datetime.datetime,
        zone: zoneinfo.ZoneInfo,
    ) -> KpiOutcome:
        definition = snapshot.kpis[code]
        series = kpi_series(kpi, rows, _SERIES, request.period, request.time_range, zone)
        total = (
            _NOT_CALCULATED
            if request.series_only
            else self._total(kpi, rows, _TOTAL, request.time_range)
        )
        groups, truncated = (
            self._groups(request, kpi, rows, zone) if request.group_by else ((), False)
        )
        comparison = None
        previous_range = request.comparison_range()
        if previous_range is not None:
            previous_total = self._total(kpi, rows, _PREVIOUS_TOTAL, previous_range)
            change = pct = None
            if total.value is not None and previous_total.value is not None:
                change = total.value - previous_total.value
                pct = (
                    None if previous_total.value == 0 else 100 * change / abs(previous_total.value)
                )
            comparison = ComparisonResult(
                request.comparison,
                previous_range,
                previous_total,
                kpi_series(kpi, rows, _PREVIOUS_SERIES, request.period, previous_range, zone),
                change,
                pct,
            )
        watermarks = [
            w
            for m in versioned_models
            if (w := versions[m].watermark if m in versions else None) is not None
        ]
        return KpiOutcome(
            kpi_code=code,
            kpi_name=definition.name,
            unit=definition.unit,
            direction=definition.direction,
            target=definition.target,
            time_range=request.time_range,
            period=request.period,
            total=total,
            current=series[-1] if series else None,
            series=series,
            groups=groups,
            truncated_groups=truncated,
            comparison=comparison,
            computed_at=computed_at,
            watermark=max(watermarks) if watermarks else None,
            data_version=",".join(
                f"{m}:{versions[m].version if m in versions else 0}" for m in versioned_models
            ),
        )
