"""Settles the distinct counts of freshly loaded rows: after a load, the catalog KPIs' distinct
counts are counted per day over the loaded range, in the client's time zone, through the data
service's own aggregate reads, which keep the count of every settled day (see
services.data.settled_distinct). The first year of active customers per day asked for after a
load is then read, not counted.

A kept count is keyed by what it counts (the measure, its filter, the row filter, the time field,
the model), never by who asked or the range asked for, so the days settled here answer any later
series over them: a calculation's, a dashboard's, a report's. They are settled as a caller who
sees every row of the client (an admin, an analyst) would ask; callers whose row security
narrows the rows count theirs on their first read, as before.

Settling is a courtesy: it never fails the load it follows. Its progress and outcome are logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import time
import zoneinfo
from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

import asyncpg

from services.aggregates import query as q
from services.calculation.formula.compiler import FormulaCatalog, compile_kpi, merge_measures
from services.calculation.formula.errors import FormulaError
from services.catalog.domain import Catalog, ObjectModel
from services.data import sql_builder
from services.data.aggregates import READ_SETTINGS, AggregateReader

log = logging.getLogger(__name__)

# The loaded range is settled this many days at a time, so reads asked meanwhile are not queued
# behind one statement hashing a year of rows.
CHUNK_DAYS = 31
# Per day is how long ranges are read (a month, a quarter, a year of days).
SETTLED_PERIODS = (q.Period.DAY,)
_SHORTEST_CHUNK = datetime.timedelta(days=3)


class AggregateReads(Protocol):
    """The data service's aggregate reader, as settling needs it."""

    async def query(self, request: q.AggregateRequest) -> tuple[q.AggregateResult, ...]: ...

    async def settled_write_backs(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Settled:
    """What one settling did."""

    client_id: str
    time_zone: str
    # Object model code -> how many of its distinct measures were settled.
    measures: Mapping[str, int]
    reads: int
    seconds: float


def distinct_measures(catalog: Catalog) -> dict[str, tuple[q.Measure, ...]]:
    """The distinct-count measures the catalog's KPIs read, per object model (each once, however
    many KPIs share it). A KPI that does not compile is left out: calculation reports it."""
    found: list[dict[str, tuple[q.Measure, ...]]] = []
    formulas = FormulaCatalog.from_catalog(catalog)
    for kpi in catalog.kpis:
        try:
            compiled = compile_kpi(kpi.code, formulas)
        except FormulaError:
            continue
        found.append(
            {
                model: distinct
                for model, measures in compiled.measures.items()
                if (
                    distinct := tuple(
                        m for m in measures if m.function is q.AggregateFunction.COUNT_DISTINCT
                    )
                )
            }
        )
    return merge_measures(found)


def chunks(
    start: datetime.datetime, end: datetime.datetime, time_zone: str
) -> list[q.TimeRange]:
    """[start, end) cut at midnights of the zone every CHUNK_DAYS days: every whole day of the
    range is whole in one chunk. The last chunk is a few days long at least (a short range's
    buckets are counted in its scan and not kept)."""
    zone = zoneinfo.ZoneInfo(time_zone)
    day = start.astimezone(zone).date()
    cuts = [start]
    while True:
        day += datetime.timedelta(days=CHUNK_DAYS)
        cut = datetime.datetime.combine(day, datetime.time(), zone)
        if cut >= end - _SHORTEST_CHUNK:
            break
        cuts.append(cut)
    cuts.append(end)
    return [q.TimeRange(low, high) for low, high in zip(cuts, cuts[1:], strict=False)]


def settling_queries(
    models: Mapping[str, ObjectModel],
    measures: Mapping[str, Sequence[q.Measure]],
    start: datetime.datetime,
    end: datetime.datetime,
    time_zone: str,
    now: datetime.datetime,
) -> list[q.AggregateQuery]:
    """The reads that settle `measures` over [start, end): per chunk and object model, the series
    per settled period, as a calculation over that range asks it; and, when the range is over,
    the total over the whole of it (kept for that range: a report on the loaded period). Only
    the measures whose counts are kept are read (sql_builder.settled_distinct_refusal)."""
    spans: list[tuple[q.TimeRange, q.Period | None]] = [
        (span, period) for span in chunks(start, end, time_zone) for period in SETTLED_PERIODS
    ]
    if end <= now:
        spans.append((q.TimeRange(start, end), None))
    queries = []
    for span, period in spans:
        for code, model_measures in sorted(measures.items()):
            query = q.AggregateQuery(
                f"{code}:{period.value if period else 'total'}", code, span, (), period
            )
            kept = tuple(
                measure
                for measure in model_measures
                if code in models
                and sql_builder.settled_distinct_refusal(query, measure, models[code]) is None
            )
            if kept:
                queries.append(dataclasses.replace(query, measures=kept))
    return queries


async def client_time_zone(pool: asyncpg.Pool, client_id: str) -> str:
    """The zone the client is configured with; UTC for a client without one (or not configured,
    as a client loaded from the command line may be)."""
    zone = await pool.fetchval(
        "SELECT time_zone FROM config.clients WHERE client_id = $1", client_id
    )
    if not zone:
        return "UTC"
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return str(zone)


class DistinctCountSettler:
    def __init__(self, reads: AggregateReads, pool: asyncpg.Pool, catalog: Catalog) -> None:
        self._reads = reads
        self._pool = pool
        self._models = {model.code: model for model in catalog.object_models}
        self._measures = distinct_measures(catalog)
        self._running: set[asyncio.Task[Settled | None]] = set()

    async def settle(
        self,
        client_id: str,
        start: datetime.datetime,
        end: datetime.datetime,
        object_model_codes: Collection[str] = (),
    ) -> Settled | None:
        """Settles the client's distinct counts over [start, end) of `object_model_codes` (the
        models loaded; empty for all); None when it failed (logged: the counts are then counted
        on the first read instead)."""
        measures = {
            code: found
            for code, found in self._measures.items()
            if not object_model_codes or code in object_model_codes
        }
        started = time.perf_counter()
        try:
            time_zone = await client_time_zone(self._pool, client_id)
            queries = settling_queries(
                self._models, measures, start, end, time_zone, datetime.datetime.now(datetime.UTC)
            )
            kept = {query.object_model_code: len(query.measures) for query in queries}
            log.info(
                "settling distinct counts of %s for %s from %s to %s in %s (%d reads)",
                ", ".join(sorted(kept)) or "no object model", client_id,
                f"{start:%Y-%m-%d %H:%M}", f"{end:%Y-%m-%d %H:%M}", time_zone, len(queries),
            )
            for query in queries:
                # One read at a time, its counts kept before the next: settling must leave
                # the database's cores to the users' reads meanwhile.
                await self._reads.query(q.AggregateRequest(client_id, (query,), time_zone))
                await self._reads.settled_write_backs()
        except asyncio.CancelledError:
            raise
        except Exception:  # the load has succeeded; the first read counts what is missing
            log.warning("settling distinct counts for %s failed", client_id, exc_info=True)
            return None
        settled = Settled(client_id, time_zone, kept, len(queries), time.perf_counter() - started)
        log.info(
            "settled distinct counts for %s in %.1f s (%d reads)",
            client_id, settled.seconds, settled.reads,
        )
        return settled

    def settle_in_background(
        self,
        client_id: str,
        start: datetime.datetime,
        end: datetime.datetime,
        object_model_codes: Collection[str] = (),
    ) -> asyncio.Task[Settled | None]:
        """Starts settling and returns at once (the load's answer does not wait for it)."""
        task = asyncio.create_task(self.settle(client_id, start, end, object_model_codes))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def drain(self) -> None:
        """Waits for the settlings under way (tests)."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def close(self) -> None:
        """Stops the settlings under way (shutdown: their days are counted on a first read)."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)


async def settle_after_load(
    dsn: str,
    catalog: Catalog,
    client_id: str,
    start: datetime.datetime,
    end: datetime.datetime,
) -> Settled | None:
    """Settles as the data service does after a load, on connections of its own: for a loader
    running outside the data service (the command line, benchmarks), which waits for it. None
    when it failed (logged), as DistinctCountSettler.settle."""
    try:
        async with (
            asyncpg.create_pool(
                dsn, min_size=1, max_size=2, server_settings=dict(READ_SETTINGS)
            ) as reads,
            asyncpg.create_pool(dsn, min_size=1, max_size=1) as writes,
        ):
            models = {model.code: model for model in catalog.object_models}
            reader = AggregateReader(reads, models, settled_writes=writes)
            settler = DistinctCountSettler(reader, writes, catalog)
            return await settler.settle(client_id, start, end)
    except (OSError, asyncpg.PostgresError):  # the load it follows has succeeded
        log.warning("settling distinct counts for %s failed", client_id, exc_info=True)
        return None
