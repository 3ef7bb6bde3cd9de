"""Answers aggregate requests from PostgreSQL (the asyncpg adapter of the aggregate path).

Per request: check the limits (no SQL runs for a request that would be refused), build one
statement per query (sql_builder), read the data versions, then run the statements concurrently,
each on its own pooled connection. The records become rows (`query`) or columns (`query_columns`,
transposed in one pass, for callers that evaluate whole series).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from services.aggregates import query as q
from services.aggregates.columns import micros_of
from services.aggregates.wire import QueryOptions
from services.catalog.domain import ObjectModel
from services.data import derived_totals, sql_builder
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


class AggregateReader:
    def __init__(
        self,
        pool: asyncpg.Pool,
        object_models: Mapping[str, ObjectModel],
        *,
        row_limit: int = sql_builder.DEFAULT_ROW_LIMIT,
    ) -> None:
        self._pool = pool
        self._models = object_models
        self._row_limit = row_limit

    async def query(
        self, request: q.AggregateRequest, options: Sequence[QueryOptions] = ()
    ) -> tuple[q.AggregateResult, ...]:
        """One result per query, in request order. `options` pair with the queries by
        position (missing entries are the defaults)."""
        answer = await self._answer(request, options)
        rows = {
            index: tuple(_row(record, answer.statements[index]) for record in records)
            for index, records in answer.records.items()
        }
        for index, source in answer.derived.items():
            rows[index] = (derived_totals.total_row(request.queries[index], rows[source]),)
        return tuple(
            q.AggregateResult(query.query_id, rows[index], *answer.labels(index, query))
            for index, query in enumerate(request.queries)
        )

    async def query_columns(
        self, request: q.AggregateRequest, options: Sequence[QueryOptions] = ()
    ) -> tuple[q.ColumnarResult, ...]:
        """`query`, each result's rows as columns (read column by column from the records)."""
        answer = await self._answer(request, options)
        columns = {
            index: _columns(records, answer.statements[index])
            for index, records in answer.records.items()
        }
        for index, source in answer.derived.items():
            columns[index] = derived_totals.total_columns(request.queries[index], columns[source])
        return tuple(
            q.ColumnarResult(query.query_id, columns[index], *answer.labels(index, query))
            for index, query in enumerate(request.queries)
        )

    async def _answer(
        self, request: q.AggregateRequest, options: Sequence[QueryOptions]
    ) -> _Answer:
        check_request(request)
        padded = list(options) + [QueryOptions()] * (len(request.queries) - len(options))
        # Built for every query (so a bad one is refused the same way), run for those whose
        # answer is not derived from another's rows.
        derived = derived_totals.derivable_totals(request.queries, padded)
        statements = [
            sql_builder.build_statement(
                query,
                self._models,
                client_id=request.client_id,
                time_zone=request.time_zone,
                max_groups=opts.max_groups,
                allow_rollups=not opts.disable_rollups,
                row_limit=self._row_limit,
                field_prefix=f"queries[{index}].",
            )
            for index, (query, opts) in enumerate(zip(request.queries, padded, strict=False))
        ]
        # Versions are read BEFORE the rows: an answer may then reflect newer data than the
        # version it carries (harmless: the next bump invalidates it), never older data than its
        # version claims (which would let a cache keep a stale answer as current).
        versions = {
            v.object_model_code: v
            for v in await self._read_versions(
                request.client_id, sorted({query.object_model_code for query in request.queries})
            )
        }
        run = [index for index in range(len(statements)) if index not in derived]
        tasks = [
            asyncio.ensure_future(self._run(statements[index], f"queries[{index}]"))
            for index in run
        ]
        try:
            outcomes = dict(zip(run, await asyncio.gather(*tasks), strict=True))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return _Answer(statements, outcomes, derived, versions)

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

    async def _run(self, statement: sql_builder.Statement, field: str) -> list[asyncpg.Record]:
        try:
            # One round trip: the pool's sessions carry READ_SETTINGS, so no transaction is
            # opened around the statement to set them (BEGIN, SET, fetch, COMMIT were four).
            async with self._pool.acquire() as connection:
                records: list[asyncpg.Record] = await connection.fetch(
                    statement.sql, *statement.params
                )
        except asyncpg.UndefinedTableError:
            log.error("aggregate statement read a missing table: %s", statement.sql)
            raise FailedPrecondition(
                f"{field}: the object model's tables do not exist yet (migrations not applied)"
            ) from None
        except asyncpg.InvalidParameterValueError as exc:
            # PostgreSQL's zone database can lack a zone Python's knows.
            raise InvalidArgument.for_field("time_zone", exc.message) from None
        except asyncpg.DataError as exc:
            # e.g. a numeric overflow in row arithmetic: the request asked for it.
            raise InvalidArgument.for_field(field, f"cannot be computed: {exc.message}") from None
        if len(records) > statement.row_limit:
            raise ResourceExhausted(
                f"{field}: more than {statement.row_limit} result rows; shorten the range, use a "
                "coarser bucket or set max_groups"
            )
        return records


@dataclass(frozen=True)
class _Answer:
    """The records of one request's statements, before they become rows or columns."""

    statements: list[sql_builder.Statement]
    # By query position; a derived total has none (see `derived`).
    records: dict[int, list[asyncpg.Record]]
    # Position of a derived total -> position of the series it is computed from.
    derived: dict[int, int]
    versions: dict[str, DataVersion]

    def labels(
        self, index: int, query: q.AggregateQuery
    ) -> tuple[int, datetime.datetime | None, bool, bool]:
        """data_version, watermark, used_rollups and truncated of the query's result."""
        version = self.versions.get(query.object_model_code)
        statement = self.statements[index]
        records = self.records.get(index, [])
        truncated = (
            any(record["group_total"] > statement.max_groups for record in records)
            if statement.max_groups
            else False
        )
        return (
            version.version if version else 0,
            version.watermark if version else None,
            statement.used_rollups,
            truncated,
        )


def _row(record: asyncpg.Record, statement: sql_builder.Statement) -> q.AggregateRow:
    return q.AggregateRow(
        bucket_start=record["bucket_start"] if statement.bucketed else None,
        dimensions={
            name: record[f"d{index}"] for index, name in enumerate(statement.dimension_names)
        },
        measures={
            measure_id: _number(record[f"m{index}"])
            for index, measure_id in enumerate(statement.measure_ids)
        },
        row_count=int(record["row_count"]),
    )


def _number(value: object) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"unexpected measure value {value!r}")


_PLAIN_NUMBERS = frozenset({int, float, bool, type(None)})


def _columns(records: list[asyncpg.Record], statement: sql_builder.Statement) -> q.AggregateColumns:
    """The records' columns, transposed in one pass (no object per row)."""
    if not records:
        return q.AggregateColumns(
            bucket_starts=(),
            row_counts=(),
            measures={measure_id: () for measure_id in statement.measure_ids},
            dimensions={name: () for name in statement.dimension_names},
        )
    by_name = dict(zip(records[0].keys(), zip(*records, strict=True), strict=True))
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
