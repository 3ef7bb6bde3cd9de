"""Answers aggregate requests from PostgreSQL (the asyncpg adapter of the aggregate path).

Per request: check the limits (no SQL runs for a request that would be refused), build one
statement per query (sql_builder, or reuse the one built for the same query lately), then read
the data versions and run the statements: for short ranges all in one statement (combined_read),
one round trip; for longer ones concurrently, each on its own pooled connection, after the
versions. The distinct counts of long series and past totals that settled_distinct can keep
are read apart from the kept counts, beside the statement answering the rest of their query. The
rows become rows (`query`) or columns (`query_columns`, transposed in one pass, for callers that
evaluate whole series).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg

from services.aggregates import query as q
from services.aggregates.columns import micros_of
from services.aggregates.lru import LruMemo
from services.aggregates.wire import QueryOptions
from services.catalog.domain import ObjectModel
from services.data import combined_read, derived_totals, sql_builder
from services.data.settled_distinct import DistinctSeries, SettledDistinctCounts
from services.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted

log = logging.getLogger(__name__)

# A series longer than this is not a chart anyone reads; refusing it up front beats timing out.
MAX_BUCKETS_PER_QUERY = 50_000
# Minute buckets are for live views; a month of them is already 44,640 points.
MAX_MINUTE_RANGE = datetime.timedelta(days=31)
# The shortest length of each bucket, so the estimate below never undercounts.
_SHORTEST_BUCKET = {
    q.Period.MINUTE: datetime.timedelta(minutes=1),
    q.Period.HOUR: datetime.timedelta(hours=1),
    # A DST spring-forward day is 23 hours long.
    q.Period.DAY: datetime.timedelta(hours=23),
    q.Period.WEEK: datetime.timedelta(days=7) - datetime.timedelta(hours=1),
    q.Period.MONTH: datetime.timedelta(days=28) - datetime.timedelta(hours=1),
}


@dataclass(frozen=True)
class DataVersion:
    object_model_code: str
    # 0 when the client has no rows of the object model.
    version: int
    watermark: datetime.datetime | None
    updated_at: datetime.datetime | None


def check_request(request: q.AggregateRequest) -> None:
    """Refuses, before any SQL runs, a request that is malformed or too big to answer."""
    if not request.client_id:
        raise InvalidArgument.for_field("client_id", "is required")
    sql_builder.zone(request.time_zone)
    if not request.queries:
        raise InvalidArgument.for_field("queries", "at least one query is required")
    for index, query in enumerate(request.queries):
        field = f"queries[{index}].time_range"
        start, end = query.time_range.start, query.time_range.end
        if start.utcoffset() is None or end.utcoffset() is None:
            raise InvalidArgument.for_field(field, "start and end need a UTC offset")
        if end <= start:
            raise InvalidArgument.for_field(field, "end must be after start")
        if query.bucket is None:
            continue
        span = end - start
        if query.bucket is q.Period.MINUTE and span > MAX_MINUTE_RANGE:
            raise InvalidArgument.for_field(
                field,
                f"minute buckets cover at most {MAX_MINUTE_RANGE.days} days; this range spans "
                f"{span.days} days: use hour or day buckets",
            )
        buckets = span // _SHORTEST_BUCKET[query.bucket] + 1
        if buckets > MAX_BUCKETS_PER_QUERY:
            raise InvalidArgument.for_field(
                field,
                f"about {buckets} {query.bucket.value} buckets; at most "
                f"{MAX_BUCKETS_PER_QUERY} per query: shorten the range or use a coarser bucket",
            )


# Session settings of the pool an AggregateReader reads with. asyncpg prepares every statement,
# and after five runs PostgreSQL may switch to a generic plan, blind to the time range and
# literals: a year-long aggregate then took twice as long. Planning one afresh costs well under a
# millisecond. (Not server-wide: re-planning the ingest statement for every batch costs more than
# it writes.) Read-only sessions make sure no statement built from a request ever writes.
READ_SETTINGS: Mapping[str, str] = {
    "plan_cache_mode": "force_custom_plan",
    "default_transaction_read_only": "on",
}


# Combined statements each connection of the short-read pool (READ_SETTINGS sessions) keeps
# prepared, and the longest kept. A live round's statement depends on which object models changed,
# so a few dozen mixes recur; run again from the kept statement it takes one round trip instead
# of two and is not parsed again. Each kept holds some 300 KB of parse trees in its session.
# (Planned afresh each run all the same: a plan made once for all runs held the partitions of every
# raw table read, 2 MB and more per statement.)
COMBINED_KEPT = 32
LONGEST_COMBINED_KEPT = 64 * 1024
# Combined statements seen lately (by hash of their text): only one seen before is kept prepared,
# so a mix that never comes again does not push out one that does.
_COMBINED_SEEN = 512

# Requests whose queries span at most this are read in one statement (combined_read): their
# statements read few rows each, so round trips were most of their time. Longer ones run their
# statements side by side on several connections, so the server's cores share a long read.
ONE_STATEMENT_MAX_SPAN = datetime.timedelta(hours=1)

# Statements kept for reuse. A live round asks for the current bucket of the same few queries
# per client and security context over and over; building a statement took longer than the
# database took to answer it.
STATEMENTS_KEPT = 1024


class AggregateReader:
    def __init__(
        self,
        pool: asyncpg.Pool,
        object_models: Mapping[str, ObjectModel],
        *,
        row_limit: int = sql_builder.DEFAULT_ROW_LIMIT,
        settled_writes: asyncpg.Pool | None = None,
        short_reads: asyncpg.Pool | None = None,
    ) -> None:
        """`settled_writes`: a pool of writable sessions to keep the distinct counts of settled
        buckets with (see settled_distinct); without one, every distinct count is counted.
        `short_reads`: a pool of READ_SETTINGS sessions keeping COMBINED_KEPT statements (of at
        most LONGEST_COMBINED_KEPT characters) for the combined reads; without one they use
        `pool` and are prepared afresh each time."""
        self._pool = pool
        self._short_reads = short_reads
        self._combined_seen: LruMemo[int, bool] = LruMemo(_COMBINED_SEEN)
        self._models = object_models
        self._row_limit = row_limit
        self._settled = (
            SettledDistinctCounts(pool, settled_writes, object_models, row_limit=row_limit)
            if settled_writes is not None
            else None
        )
        # Statements built lately, by the caller's key of their query (see `query`), client
        # and time zone: the models and the row limit are fixed per reader.
        self._statements: LruMemo[tuple[bytes, str, str], sql_builder.Statement] = LruMemo(
            STATEMENTS_KEPT
        )

    async def settled_write_backs(self) -> None:
        """Waits until the distinct counts counted by reads so far are kept (or failed to be)."""
        if self._settled is not None:
            await self._settled.drain()

    async def query(
        self,
        request: q.AggregateRequest,
        options: Sequence[QueryOptions] = (),
        keys: Sequence[bytes] = (),
    ) -> tuple[q.AggregateResult, ...]:
        """One result per query, in request order. `options` pair with the queries by
        position (missing entries are the defaults). `keys`, when given, name each query and
        its options exactly (their encoding): the statement built for a key is reused."""
        answer = await self._answer(request, options, keys)
        rows = {
            index: _rows(read, answer.statements[index]) for index, read in answer.reads.items()
        }
        for index, source in answer.derived.items():
            rows[index] = (derived_totals.total_row(request.queries[index], rows[source]),)
        return tuple(
            q.AggregateResult(query.query_id, rows[index], *answer.labels(index, query))
            for index, query in enumerate(request.queries)
        )

    async def query_columns(
        self,
        request: q.AggregateRequest,
        options: Sequence[QueryOptions] = (),
        keys: Sequence[bytes] = (),
    ) -> tuple[q.ColumnarResult, ...]:
        """`query`, each result's rows as columns."""
        answer = await self._answer(request, options, keys)
        columns = {
            index: _columns(read, answer.statements[index]) for index, read in answer.reads.items()
        }
        for index, source in answer.derived.items():
            columns[index] = derived_totals.total_columns(request.queries[index], columns[source])
        return tuple(
            q.ColumnarResult(query.query_id, columns[index], *answer.labels(index, query))
            for index, query in enumerate(request.queries)
        )

    async def _answer(
        self, request: q.AggregateRequest, options: Sequence[QueryOptions], keys: Sequence[bytes]
    ) -> _Answer:
        check_request(request)
        padded = list(options) + [QueryOptions()] * (len(request.queries) - len(options))
        # Built for every query (so a bad one is refused the same way), run for those whose
        # answer is not derived from another's rows.
        derived = derived_totals.derivable_totals(request.queries, padded)
        # Distinct counts read from the counts kept of settled buckets, by query position: the
        # statement answers the rest of the query (from the rollups, when they can).
        kept = {
            index: measures
            for index, (query, opts) in enumerate(zip(request.queries, padded, strict=False))
            if self._settled is not None
            and (measures := self._settled.measures(query, not opts.disable_rollups))
        }
        statements = [
            self._statement(
                request, index, _without(query, kept.get(index, ())), opts,
                _key(keys[index] if keys else None, index in kept),
            )
            for index, (query, opts) in enumerate(zip(request.queries, padded, strict=False))
        ]
        run = [index for index in range(len(statements)) if index not in derived]
        codes = sorted({query.object_model_code for query in request.queries})
        if all(
            request.queries[index].time_range.end - request.queries[index].time_range.start
            <= ONE_STATEMENT_MAX_SPAN
            for index in run
        ):
            try:
                versions, reads = await self._read_combined(
                    request.client_id, codes, {index: statements[index] for index in run}
                )
            except (asyncpg.DataError, asyncpg.UndefinedTableError):
                # Read again part by part, which names the query at fault.
                pass
            else:
                return _Answer(statements, reads, derived, versions)
        # Versions are read BEFORE the rows: an answer may then reflect newer data than the
        # version it carries (harmless: the next bump invalidates it), never older data than its
        # version claims (which would let a cache keep a stale answer as current).
        versions = {
            v.object_model_code: v for v in await self._read_versions(request.client_id, codes)
        }
        tasks = [
            asyncio.ensure_future(self._run(statements[index], f"queries[{index}]"))
            for index in run
        ]
        distinct = [
            asyncio.ensure_future(self._read_settled(request, index, measures))
            for index, measures in kept.items()
        ]
        try:
            outcomes = dict(zip(run, await asyncio.gather(*tasks), strict=True))
            counted = dict(zip(kept, await asyncio.gather(*distinct), strict=True))
        except BaseException:
            for task in (*tasks, *distinct):
                task.cancel()
            await asyncio.gather(*tasks, *distinct, return_exceptions=True)
            raise
        for index, series in counted.items():
            statements[index], outcomes[index] = _with_distinct_counts(
                request.queries[index], statements[index], outcomes[index], series
            )
        return _Answer(statements, outcomes, derived, versions)

    async def _read_settled(
        self, request: q.AggregateRequest, index: int, measures: Sequence[q.Measure]
    ) -> DistinctSeries:
        assert self._settled is not None
        field = f"queries[{index}]"
        with _statement_errors(field):
            return await self._settled.read(
                request.client_id, request.time_zone, request.queries[index], measures,
                field_prefix=f"{field}.",
            )

    async def _read_combined(
        self,
        client_id: str,
        codes: Sequence[str],
        statements: Mapping[int, sql_builder.Statement],
    ) -> tuple[dict[str, DataVersion], dict[int, _Read]]:
        """The versions and the rows of `statements` (by query position), in one statement:
        one round trip, and one snapshot for them all."""
        combined = combined_read.combine(list(statements.values()), client_id, codes)
        record = await self._fetch_combined(combined)
        versions = {
            code: DataVersion(code, int(version), watermark, updated_at)
            for code, version, watermark, updated_at in record["versions"]
        }
        reads: dict[int, _Read] = {}
        for part, ((index, statement), names) in enumerate(
            zip(statements.items(), combined.columns, strict=True)
        ):
            values: list[tuple[Any, ...]] = record[f"part{part}"]
            _check_row_limit(len(values), statement, f"queries[{index}]")
            reads[index] = _Read.of_values(values, names)
        return versions, reads

    async def _fetch_combined(self, combined: combined_read.CombinedRead) -> asyncpg.Record:
        seen = hash(combined.sql)
        repeated = self._combined_seen.get(seen) is not None
        self._combined_seen.put(seen, True)
        if repeated and self._short_reads is not None:
            # Kept prepared by its connection (see COMBINED_KEPT): one round trip, no parsing.
            async with self._short_reads.acquire() as connection:
                record = await connection.fetchrow(combined.sql, *combined.params)
        else:
            async with (self._short_reads or self._pool).acquire() as connection:
                # PostgreSQL's unnamed statement, not one kept in the session: a mix seen once
                # may never come again, and each one kept holds its parse trees (a live hour
                # filled sessions with 20 MB of them when all were kept).
                prepared = await connection.prepare(combined.sql, name="")
                record = await prepared.fetchrow(*combined.params)
        assert record is not None  # a SELECT without FROM returns one row
        return record

    def _statement(
        self,
        request: q.AggregateRequest,
        index: int,
        query: q.AggregateQuery,
        options: QueryOptions,
        key: bytes | None,
    ) -> sql_builder.Statement:
        memo_key = (key, request.client_id, request.time_zone) if key is not None else None
        found = self._statements.get(memo_key) if memo_key is not None else None
        if found is not None:
            return found
        # Only statements are kept: a refused query is refused again, naming its own field.
        built = sql_builder.build_statement(
            query,
            self._models,
            client_id=request.client_id,
            time_zone=request.time_zone,
            max_groups=options.max_groups,
            allow_rollups=not options.disable_rollups,
            row_limit=self._row_limit,
            field_prefix=f"queries[{index}].",
        )
        if memo_key is not None:
            self._statements.put(memo_key, built)
        return built

    async def data_versions(
        self, client_id: str, object_model_codes: Sequence[str] = ()
    ) -> tuple[DataVersion, ...]:
        """One entry per object model (every catalog model when none are named), ordered by code;
        version 0 for object models the client has no rows of."""
        if not client_id:
            raise InvalidArgument.for_field("client_id", "is required")
        for index, code in enumerate(object_model_codes):
            if code not in self._models:
                raise NotFound(f"object_model_codes[{index}]: object model {code!r} does not exist")
        codes = sorted(set(object_model_codes) or set(self._models))
        stored = {v.object_model_code: v for v in await self._read_versions(client_id, codes)}
        return tuple(stored.get(code, DataVersion(code, 0, None, None)) for code in codes)

    async def _read_versions(self, client_id: str, codes: Sequence[str]) -> list[DataVersion]:
        async with self._pool.acquire() as connection:
            records = await connection.fetch(
                "SELECT object_model_code, version, watermark, updated_at"
                " FROM analytics.data_versions"
                " WHERE client_id = $1 AND object_model_code = ANY($2::text[])",
                client_id,
                list(codes),
            )
        return [
            DataVersion(r["object_model_code"], int(r["version"]), r["watermark"], r["updated_at"])
            for r in records
        ]

    async def _run(self, statement: sql_builder.Statement, field: str) -> _Read:
        with _statement_errors(field):
            # One round trip: the pool's sessions carry READ_SETTINGS, so no transaction is
            # opened around the statement to set them (BEGIN, SET, fetch, COMMIT were four).
            async with self._pool.acquire() as connection:
                records: list[asyncpg.Record] = await connection.fetch(
                    statement.sql, *statement.params
                )
        _check_row_limit(len(records), statement, field)
        return _Read.of_records(records, statement)


@contextlib.contextmanager
def _statement_errors(field: str) -> Iterator[None]:
    """The database's refusals of an aggregate statement as the request's errors."""
    try:
        yield
    except asyncpg.UndefinedTableError as exc:
        log.error("aggregate statement read a missing table: %s", exc.message)
        raise FailedPrecondition(
            f"{field}: the object model's tables do not exist yet (migrations not applied)"
        ) from None
    except asyncpg.InvalidParameterValueError as exc:
        # PostgreSQL's zone database can lack a zone Python's knows.
        raise InvalidArgument.for_field("time_zone", exc.message) from None
    except asyncpg.DataError as exc:
        # e.g. a numeric overflow in row arithmetic: the request asked for it.
        raise InvalidArgument.for_field(field, f"cannot be computed: {exc.message}") from None


# The measure a query whose every measure is read from kept counts is given, so its statement
# still reads its buckets and row counts (never returned: measure ids are the caller's text).
_ROWS_ONLY = q.Measure("\x00rows", q.AggregateFunction.COUNT)


def _without(query: q.AggregateQuery, measures: Sequence[q.Measure]) -> q.AggregateQuery:
    """`query` without `measures` (read apart), keeping a row count if nothing else is left."""
    if not measures:
        return query
    rest = tuple(measure for measure in query.measures if measure not in measures)
    return dataclasses.replace(query, measures=rest or (_ROWS_ONLY,))


def _key(key: bytes | None, split: bool) -> bytes | None:
    """The key of the statement built for a query (a split one answers less of it)."""
    return key + b"\x00without-kept-distinct-counts" if key is not None and split else key


def _with_distinct_counts(
    query: q.AggregateQuery,
    statement: sql_builder.Statement,
    read: _Read,
    series: DistinctSeries,
) -> tuple[sql_builder.Statement, _Read]:
    """The statement and rows of the whole query: the rest statement's buckets and measures,
    with the distinct counts of `series` in the measures' places (0 for a bucket whose rows
    hold no value to count, as count(DISTINCT) gives). A total's one row is the range's."""
    columns: dict[str, Sequence[Any]] = {"row_count": read.columns["row_count"]}
    if statement.bucketed:
        starts = columns["bucket_start"] = read.columns["bucket_start"]
    else:
        starts = (query.time_range.start,) * read.count
    for index, measure in enumerate(query.measures):
        counts = series.get(measure.measure_id)
        if counts is not None:
            columns[f"m{index}"] = tuple(counts.get(start, 0) for start in starts)
        else:
            position = statement.measure_ids.index(measure.measure_id)
            columns[f"m{index}"] = read.columns[f"m{position}"]
    whole = dataclasses.replace(
        statement, measure_ids=tuple(measure.measure_id for measure in query.measures)
    )
    return whole, _Read(read.count, columns)


def _check_row_limit(count: int, statement: sql_builder.Statement, field: str) -> None:
    if count > statement.row_limit:
        raise ResourceExhausted(
            f"{field}: more than {statement.row_limit} result rows; shorten the range, use a "
            "coarser bucket or set max_groups"
        )


@dataclass(frozen=True)
class _Read:
    """A statement's rows as columns, by column name (see combined_read.result_columns)."""

    count: int
    columns: Mapping[str, Sequence[Any]]

    @staticmethod
    def of_records(records: list[asyncpg.Record], statement: sql_builder.Statement) -> _Read:
        if not records:
            return _Read(0, dict.fromkeys(combined_read.result_columns(statement), ()))
        columns = zip(records[0].keys(), zip(*records, strict=True), strict=True)
        return _Read(len(records), dict(columns))

    @staticmethod
    def of_values(values: list[tuple[Any, ...]], names: Sequence[str]) -> _Read:
        if not values:
            return _Read(0, dict.fromkeys(names, ()))
        return _Read(len(values), dict(zip(names, zip(*values, strict=True), strict=True)))


@dataclass(frozen=True)
class _Answer:
    """The records of one request's statements, before they become rows or columns."""

    statements: list[sql_builder.Statement]
    # By query position; a derived total has none (see `derived`).
    reads: dict[int, _Read]
    # Position of a derived total -> position of the series it is computed from.
    derived: dict[int, int]
    versions: dict[str, DataVersion]

    def labels(
        self, index: int, query: q.AggregateQuery
    ) -> tuple[int, datetime.datetime | None, bool, bool]:
        """data_version, watermark, used_rollups and truncated of the query's result."""
        version = self.versions.get(query.object_model_code)
        statement = self.statements[index]
        read = self.reads.get(index)
        truncated = (
            any(total > statement.max_groups for total in read.columns["group_total"])
            if statement.max_groups and read is not None
            else False
        )
        return (
            version.version if version else 0,
            version.watermark if version else None,
            statement.used_rollups,
            truncated,
        )


def _rows(read: _Read, statement: sql_builder.Statement) -> tuple[q.AggregateRow, ...]:
    columns = read.columns
    starts = columns["bucket_start"] if statement.bucketed else (None,) * read.count
    dimensions = [
        (name, columns[f"d{index}"]) for index, name in enumerate(statement.dimension_names)
    ]
    measures = [
        (measure_id, columns[f"m{index}"]) for index, measure_id in enumerate(statement.measure_ids)
    ]
    row_counts = columns["row_count"]
    return tuple(
        q.AggregateRow(
            bucket_start=starts[row],
            dimensions={name: values[row] for name, values in dimensions},
            measures={measure_id: _number(values[row]) for measure_id, values in measures},
            row_count=int(row_counts[row]),
        )
        for row in range(read.count)
    )


def _number(value: object) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"unexpected measure value {value!r}")


_PLAIN_NUMBERS = frozenset({int, float, bool, type(None)})


def _columns(read: _Read, statement: sql_builder.Statement) -> q.AggregateColumns:
    by_name = read.columns
    return q.AggregateColumns(
        bucket_starts=micros_of(by_name["bucket_start"]) if statement.bucketed else (),
        row_counts=list(map(int, by_name["row_count"])),
        measures={
            measure_id: _numbers(by_name[f"m{index}"])
            for index, measure_id in enumerate(statement.measure_ids)
        },
        dimensions={
            name: by_name[f"d{index}"] for index, name in enumerate(statement.dimension_names)
        },
    )


def _numbers(column: Sequence[object]) -> Sequence[float | None]:
    """A measure column as `_number` reads each value: NUMERIC becomes float."""
    kinds = set(map(type, column))
    if kinds <= _PLAIN_NUMBERS:
        return column  # type: ignore[return-value]  # ints and floats as they are, like _number
    return [_number(value) for value in column]
