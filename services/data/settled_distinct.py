"""Distinct counts per bucket, and over past ranges, read from the counts kept of settled
buckets (the asyncpg adapter).

A distinct count per day cannot come from the per-minute rollups, and counting a year of them
from the rows hashes about as many (day, value) pairs as there are rows (a second and more). So
the count of each whole bucket is kept once counted (sql/0022), with the stamps of the days it
overlaps; writes give the days they touch new stamps (services.data.day_stamps). A series then
reads, in one snapshot (a repeatable-read transaction): the bucket starts, the stamps and the
kept counts; the buckets whose kept count is current come from it, and only the others (today,
days written lately, a range's partial first and last buckets) are counted from the rows. As the
stamps are read in the snapshot the rows are counted in, a count is never kept with stamps
newer than its rows, so a kept count is never read after its rows changed. A total over a past
range is kept the same way, as the one bucket of the whole range.

The counts of settled buckets (whole, and over) are written back afterwards on a pool of their
own (aggregate reads are read-only sessions), in the background: a failed write-back is logged
and fails no read. Which measures qualify: sql_builder.settled_distinct_refusal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Mapping, Sequence

import asyncpg

from services.aggregates import query as q
from services.catalog.domain import FieldType, ObjectModel
from services.data import settled_plan, sql_builder
from services.data.day_stamps import ALL_DAYS, STAMPS_TABLE
from services.errors import ResourceExhausted

log = logging.getLogger(__name__)

KEPT_TABLE = "analytics.settled_distinct_counts"
# Write-backs waiting or running at once; more are dropped (the buckets are counted again on the
# next read, and kept then).
MAX_PENDING_WRITE_BACKS = 4

# measure_id -> bucket start (the range's start for a total) -> distinct count (buckets without
# rows may be absent).
DistinctSeries = dict[str, dict[datetime.datetime, int]]


@dataclasses.dataclass(frozen=True)
class _Read:
    """What one read of kept counts is about."""

    model: ObjectModel
    query: q.AggregateQuery
    time_zone: str
    time_is_date: bool
    # measure_id -> the key its counts are kept by.
    keys: dict[str, bytes]
    period: str
    # The zone the counts are kept for: none for a total of rows placed at instants, the same
    # in every zone.
    kept_zone: str

    @staticmethod
    def of(
        model: ObjectModel, query: q.AggregateQuery, measures: Sequence[q.Measure], time_zone: str
    ) -> _Read:
        time_spec = model.field(model.time_field)
        is_date = time_spec is not None and time_spec.type is FieldType.DATE
        total = query.bucket is None
        return _Read(
            model,
            query,
            time_zone,
            is_date,
            {m.measure_id: settled_plan.measure_key(model, query, m) for m in measures},
            settled_plan.WHOLE_RANGE if query.bucket is None else query.bucket.value,
            "" if total and not is_date else time_zone,
        )

    def kept(self, found: asyncpg.Record) -> _Kept:
        """The buckets of the range, their current stamps and kept counts, and which are
        stale per measure, from the row of the kept statement."""
        planned = (
            settled_plan.buckets(found["starts"], self.query.time_range, self.time_is_date)
            if self.query.bucket is not None
            else [settled_plan.whole_range(self.query.time_range, self.time_is_date)]
        )
        day_stamps = {day: int(stamp) for day, stamp in found["days"]}
        all_days = int(found["all_days"] or 0)
        stamps = {
            bucket.start: settled_plan.current_stamps(bucket, all_days, day_stamps)
            for bucket in planned
            if bucket.whole
        }
        counts: dict[bytes, dict[datetime.datetime, settled_plan.Kept]] = {
            key: {} for key in self.keys.values()
        }
        for key, bucket_start, value, kept_stamps in found["kept"]:
            counts[bytes(key)][bucket_start] = settled_plan.Kept(
                int(value), tuple(map(int, kept_stamps.split(",")))
            )
        stale = {
            measure_id: set(settled_plan.stale_buckets(planned, counts[key], stamps))
            for measure_id, key in self.keys.items()
        }
        return _Kept(planned, stamps, counts, stale)


@dataclasses.dataclass(frozen=True)
class _Kept:
    planned: list[settled_plan.Bucket]
    # Whole bucket's start -> its current stamps.
    stamps: dict[datetime.datetime, settled_plan.Stamps]
    # Measure key -> bucket start -> the count kept (current or not).
    counts: dict[bytes, dict[datetime.datetime, settled_plan.Kept]]
    # measure_id -> positions of the buckets to count.
    stale: dict[str, set[int]]


@dataclasses.dataclass
class _WriteBack:
    client_id: str
    object_model_code: str
    time_zone: str
    period: str
    measure_keys: list[bytes] = dataclasses.field(default_factory=list)
    bucket_starts: list[datetime.datetime] = dataclasses.field(default_factory=list)
    values: list[int] = dataclasses.field(default_factory=list)
    # Each bucket's stamps as a bigint[] literal.
    stamps: list[str] = dataclasses.field(default_factory=list)

    def add(
        self, key: bytes, start: datetime.datetime, value: int, stamps: settled_plan.Stamps
    ) -> None:
        self.measure_keys.append(key)
        self.bucket_starts.append(start)
        self.values.append(value)
        self.stamps.append("{" + ",".join(map(str, stamps)) + "}")


class SettledDistinctCounts:
    def __init__(
        self,
        read_pool: asyncpg.Pool,
        write_pool: asyncpg.Pool,
        object_models: Mapping[str, ObjectModel],
        *,
        row_limit: int = sql_builder.DEFAULT_ROW_LIMIT,
    ) -> None:
        self._read_pool = read_pool
        self._write_pool = write_pool
        self._models = object_models
        self._row_limit = row_limit
        self._writes: set[asyncio.Task[None]] = set()
        self._writing = asyncio.Lock()

    def measures(self, query: q.AggregateQuery, allow_rollups: bool) -> tuple[q.Measure, ...]:
        """The measures of `query` read from kept counts (none for a query that is not)."""
        model = self._models.get(query.object_model_code)
        if model is None:
            return ()
        if query.bucket is None and query.time_range.end > datetime.datetime.now(datetime.UTC):
            # A range still open: its last day changes with every write, so a count of the
            # whole range would seldom be read before it is out of date.
            return ()
        return tuple(
            measure
            for measure in query.measures
            if sql_builder.settled_distinct_refusal(query, measure, model, allow_rollups) is None
        )

    async def read(
        self,
        client_id: str,
        time_zone: str,
        query: q.AggregateQuery,
        measures: Sequence[q.Measure],
        field_prefix: str = "",
    ) -> DistinctSeries:
        """For each of `measures` (which `measures` accepted), the distinct count of every
        bucket of `query`'s range (as its own statement buckets them), or of the whole range by
        its start when `query` is not bucketed."""
        read = _Read.of(self._models[query.object_model_code], query, measures, time_zone)
        sql, params = self._kept_statement(client_id, read)
        async with self._read_pool.acquire() as connection, connection.transaction(
            isolation="repeatable_read", readonly=True
        ):
            found = await connection.fetchrow(sql, *params)
            assert found is not None
            kept = read.kept(found)
            stale = sorted(set().union(*kept.stale.values()))
            counted: dict[str, dict[datetime.datetime, int]] = {m.measure_id: {} for m in measures}
            if stale:
                spans = settled_plan.runs(kept.planned, stale, query.time_range)
                statement = self._counting_statement(
                    client_id, time_zone, query, measures, spans, field_prefix
                )
                records = await connection.fetch(statement.sql, *statement.params)
                if len(records) > statement.row_limit:
                    raise ResourceExhausted(
                        f"{field_prefix.rstrip('.')}: more than {statement.row_limit} result "
                        "rows; shorten the range or use a coarser bucket"
                    )
                for record in records:
                    start = record["bucket_start"] if statement.bucketed else query.time_range.start
                    for index, measure_id in enumerate(statement.measure_ids):
                        counted[measure_id][start] = int(record[f"m{index}"])
        write_back = _WriteBack(client_id, read.model.code, read.kept_zone, read.period)
        now = datetime.datetime.now(datetime.UTC)
        series: DistinctSeries = {}
        for measure in measures:
            key, values = read.keys[measure.measure_id], counted[measure.measure_id]
            stale_here = kept.stale[measure.measure_id]
            # Kept counts at their current stamps, then whatever was counted (all of the rest).
            series[measure.measure_id] = {
                **{
                    bucket.start: kept.counts[key][bucket.start].value
                    for index, bucket in enumerate(kept.planned)
                    if index not in stale_here
                },
                **values,
            }
            for index in stale_here:
                bucket = kept.planned[index]
                if settled_plan.settled(bucket, now):
                    write_back.add(
                        key, bucket.start, values.get(bucket.start, 0), kept.stamps[bucket.start]
                    )
        if write_back.bucket_starts:
            self._submit(write_back)
        return series

    def _kept_statement(self, client_id: str, read: _Read) -> tuple[str, tuple[object, ...]]:
        """The statement reading the bucket starts (none for a total), the stamps and the kept
        counts of `read`'s range, and its parameters."""
        query = read.query
        if query.bucket is not None:
            series_sql, series_params = sql_builder.bucket_starts_statement(
                query, self._models, client_id=client_id, time_zone=read.time_zone
            )
        else:
            series_sql, series_params = "SELECT NULL::timestamptz[]", (client_id,)
        n = len(series_params)
        start, end = query.time_range.start, query.time_range.end
        # The stamps of every day a whole bucket of the range may depend on (see Bucket.days).
        first_day = start.astimezone(datetime.UTC).date() - datetime.timedelta(days=1)
        last_day = end.astimezone(datetime.UTC).date() + datetime.timedelta(days=1)
        sql = f"""
SELECT ({series_sql}) AS starts,
    (SELECT stamp FROM {STAMPS_TABLE} WHERE client_id = $1 AND object_model_code = ${n + 1}
        AND day = {ALL_DAYS}) AS all_days,
    ARRAY(SELECT ROW(day, stamp) FROM {STAMPS_TABLE} WHERE client_id = $1
        AND object_model_code = ${n + 1} AND day >= ${n + 2} AND day <= ${n + 3}) AS days,
    ARRAY(SELECT ROW(measure_key, bucket_start, value, array_to_string(stamps, ','))
        FROM {KEPT_TABLE}
        WHERE client_id = $1 AND object_model_code = ${n + 1} AND measure_key = ANY(${n + 4})
        AND time_zone = ${n + 5} AND period = ${n + 6}
        AND bucket_start >= ${n + 7} AND bucket_start < ${n + 8}) AS kept"""
        params = (
            *series_params, read.model.code, first_day, last_day, list(read.keys.values()),
            read.kept_zone, read.period, start, end,
        )
        return sql, params

    def _counting_statement(
        self,
        client_id: str,
        time_zone: str,
        query: q.AggregateQuery,
        measures: Sequence[q.Measure],
        spans: Sequence[tuple[datetime.datetime, datetime.datetime]],
        field_prefix: str,
    ) -> sql_builder.Statement:
        """The query's own statement for `measures`, over the rows of `spans` only. The range
        and buckets stay the query's (so the buckets are the very same), the spans a filter."""
        row_filter = query.row_filter
        if query.bucket is not None and spans != [(query.time_range.start, query.time_range.end)]:
            model = self._models[query.object_model_code]
            zone = sql_builder.zone(time_zone)
            within = q.AnyOf(
                tuple(
                    q.AllOf(
                        (
                            _time_bound(model, q.Comparator.GE, low, zone),
                            _time_bound(model, q.Comparator.LT, high, zone),
                        )
                    )
                    for low, high in spans
                )
            )
            row_filter = within if row_filter is None else q.AllOf((row_filter, within))
        counting = dataclasses.replace(query, measures=tuple(measures), row_filter=row_filter)
        return sql_builder.build_statement(
            counting,
            self._models,
            client_id=client_id,
            time_zone=time_zone,
            # Distinct counts are counted from the rows whatever this says; a total's row count
            # may come from the rollups.
            allow_rollups=True,
            row_limit=self._row_limit,
            field_prefix=field_prefix,
        )

    def _submit(self, write_back: _WriteBack) -> None:
        if len(self._writes) >= MAX_PENDING_WRITE_BACKS:
            log.debug("settled distinct counts: write-back dropped, %d pending", len(self._writes))
            return
        task = asyncio.create_task(self._write(write_back))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, write_back: _WriteBack) -> None:
        try:
            # One at a time: a backlog of write-backs must not take connections reads need.
            async with self._writing, self._write_pool.acquire() as connection:
                await connection.execute(
                    _KEEP,
                    write_back.client_id,
                    write_back.object_model_code,
                    write_back.time_zone,
                    write_back.period,
                    write_back.measure_keys,
                    write_back.bucket_starts,
                    write_back.values,
                    write_back.stamps,
                )
        except Exception:  # the read it follows has answered; the buckets are counted again
            log.warning("settled distinct counts: write-back failed", exc_info=True)

    async def drain(self) -> None:
        """Waits for the write-backs under way (tests, shutdown)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)


_KEEP = f"""
INSERT INTO {KEPT_TABLE} AS kept (client_id, object_model_code, measure_key, time_zone, period,
                                  bucket_start, value, stamps, computed_at)
SELECT $1, $2, written.measure_key, $3, $4, written.bucket_start, written.value,
       written.stamps::bigint[], now()
FROM unnest($5::bytea[], $6::timestamptz[], $7::bigint[], $8::text[])
    AS written(measure_key, bucket_start, value, stamps)
ON CONFLICT (client_id, object_model_code, measure_key, time_zone, period, bucket_start)
DO UPDATE SET value = EXCLUDED.value, stamps = EXCLUDED.stamps, computed_at = EXCLUDED.computed_at
"""


def _time_bound(
    model: ObjectModel,
    comparator: q.Comparator,
    moment: datetime.datetime,
    zone: datetime.tzinfo,
) -> q.Compare:
    """`time comparator moment` on the model's time field; for a date-placed model in dates (a
    date is at or after a moment when its midnight in the request's zone is)."""
    bound: q.Scalar = moment
    spec = model.field(model.time_field)
    if spec is not None and spec.type is FieldType.DATE:
        day = moment.astimezone(zone).date()
        if datetime.datetime.combine(day, datetime.time(), zone) < moment:
            day += datetime.timedelta(days=1)
        bound = day
    return q.Compare(q.FieldRef(model.time_field), comparator, q.Literal(bound))
