"""PostgreSQL adapter for client data: the table layout, durable idempotent ingest with the
per-minute rollups kept current in the same transaction, bulk loads, data versions and the change
outbox.

Layout (rendered into migrations by scripts/object_model_tables.py, written here):
- `{schema}.{table}`: `client_id`, then one column per field in declared order, unique on the
  natural key (client_id, key fields, time field).
- `{schema}.{table}__minute`: per client, minute (UTC) and dimension values, `row_count` and
  `sum__{field}` of every numeric field. Only additive measures live there: COUNT, SUM and AVG
  (sum / count) of a numeric field can be answered from it; MIN, MAX, COUNT_DISTINCT,
  percentiles, durations between timestamps and anything reached through a relationship cannot be
  rolled up additively and are computed from the raw table. Sums are kept NOT NULL (a group whose
  values are all NULL sums to 0, where SQL's SUM over raw rows gives NULL), and no per-field
  non-null count is kept, so COUNT(field) and AVG(field) of a NULLABLE numeric field cannot be
  served from the rollup either (today every numeric field of the catalog is required).
- `analytics.data_versions`, `analytics.change_outbox`, `analytics.ingest_batches`.

Writers of one (client, object model) are serialised by a transaction-scoped advisory lock: the
rollup delta reads the rows a batch replaces, and a concurrent batch writing the same keys between
that read and the write would make the rollup count a replaced row twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import functools
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping, Sequence

import asyncpg

from services.catalog.domain import Field, FieldType, ObjectModel
from services.data.ingest import TypedValue, ValidatedRows, validate_rows
from services.errors import AlreadyExists, InvalidArgument

# -- layout -----------------------------------------------------------------------------------

SQL_TYPES: Mapping[FieldType, str] = {
    FieldType.STRING: "text",
    FieldType.INTEGER: "bigint",
    FieldType.DECIMAL: "numeric",
    FieldType.BOOLEAN: "boolean",
    FieldType.TIMESTAMP: "timestamptz",
    FieldType.DATE: "date",
}
ROLLUP_SUFFIX = "__minute"
SUM_PREFIX = "sum__"
# Columns of the raw and rollup tables that are not fields; no field may take these names.
RESERVED_COLUMNS = frozenset({"client_id", "bucket", "row_count"})

_UTC = datetime.UTC
_MINUTE = datetime.timedelta(minutes=1)
_DAY = datetime.timedelta(days=1)


def quote(identifier: str) -> str:
    """An SQL identifier, always quoted: field names such as `order` or `end` stay legal."""
    return '"' + identifier.replace('"', '""') + '"'


def raw_table(model: ObjectModel) -> str:
    return f"{quote(model.schema_name)}.{quote(model.table_name)}"


def rollup_table_name(model: ObjectModel) -> str:
    return model.table_name + ROLLUP_SUFFIX


def rollup_table(model: ObjectModel) -> str:
    return f"{quote(model.schema_name)}.{quote(rollup_table_name(model))}"


def natural_key(model: ObjectModel) -> tuple[str, ...]:
    """Key fields, then the time field (a partitioned table's unique index must hold it)."""
    keys = tuple(field.name for field in model.fields if field.key)
    return keys if model.time_field in keys else (*keys, model.time_field)


def rollup_dimensions(model: ObjectModel) -> tuple[Field, ...]:
    """Fields a rollup groups by: booleans and strings with a closed set of values (few distinct
    values, so a minute holds few groups); free text would make the rollup as large as the data."""
    return tuple(
        field
        for field in model.fields
        if field.type is FieldType.BOOLEAN
        or (field.type is FieldType.STRING and field.allowed_values)
    )


def rollup_sums(model: ObjectModel) -> tuple[Field, ...]:
    return tuple(field for field in model.fields if field.type.is_numeric)


def sum_column(field: Field) -> str:
    return SUM_PREFIX + field.name


def time_is_date(model: ObjectModel) -> bool:
    time = model.field(model.time_field)
    return time is not None and time.type is FieldType.DATE


def bucket_sql(model: ObjectModel, alias: str) -> str:
    """The minute (UTC) a row falls in; a date-placed row falls at its day's UTC midnight.
    date_bin works on absolute time, so the session time zone cannot shift a bucket."""
    column = f"{alias}.{quote(model.time_field)}"
    if time_is_date(model):
        return f"({column}::timestamp AT TIME ZONE 'UTC')"
    return f"date_bin('1 minute', {column}, TIMESTAMPTZ '2000-01-01 00:00:00+00')"


# -- results ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class IngestResult:
    ingest_id: str
    # Rows inserted or changed.
    accepted_row_count: int
    # Rows that changed nothing: repeated in the batch, or already stored with the same values.
    duplicate_row_count: int
    data_version: int
    watermark: datetime.datetime | None
    # Bucket-aligned [start, end) of the rows written; None when nothing changed.
    affected_start: datetime.datetime | None
    affected_end: datetime.datetime | None
    replayed: bool = False


@dataclasses.dataclass(frozen=True)
class DataVersionRecord:
    object_model_code: str
    # 0 and no watermark while the client has no rows of the object model.
    version: int
    watermark: datetime.datetime | None
    updated_at: datetime.datetime | None


# -- statements -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Statements:
    stage_table: str
    create_stage: str
    upsert_and_fold: str
    delete_empty_groups: str
    rebuild_rollup: str


@functools.lru_cache(maxsize=256)
def _statements(model: ObjectModel) -> _Statements:
    columns = [field.name for field in model.fields]
    key = natural_key(model)
    changeable = [name for name in columns if name not in key]
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    sums = [field.name for field in rollup_sums(model)]
    raw, rollup = raw_table(model), rollup_table(model)
    stage = f"ae_stage_{model.schema_name}_{model.table_name}"[:63]
    is_date = time_is_date(model)
    moment_cast = "::date" if is_date else "::timestamptz"

    def listed(names: Iterable[str], alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote(name) for name in names)

    create_stage = (
        f"CREATE TEMP TABLE {quote(stage)} ("
        + ", ".join(f"{quote(field.name)} {SQL_TYPES[field.type]}" for field in model.fields)
        + ") ON COMMIT DROP"
    )
    if changeable:
        on_conflict = (
            "DO UPDATE SET "
            + ", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in changeable)
            # An identical re-send is a duplicate, not a change: no write, no version bump.
            + f" WHERE ({listed(changeable, 'target')}) IS DISTINCT FROM "
            f"({listed(changeable, 'EXCLUDED')})"
        )
    else:
        on_conflict = "DO NOTHING"
    rollup_columns = ", ".join(
        [
            "client_id",
            "bucket",
            *dimensions,
            "row_count",
            *(quote(SUM_PREFIX + name) for name in sums),
        ]
    )
    group_key = ", ".join(["client_id", "bucket", *dimensions])
    newest = "max(upserted.bucket)" if is_date else f"max(upserted.{quote(model.time_field)})"

    def delta_select(alias: str, sign: str) -> str:
        parts = [
            f"{bucket_sql(model, alias)} AS bucket",
            *(f"{alias}.{dimension}" for dimension in dimensions),
            f"{sign}1 AS row_count",
            *(f"{sign}{alias}.{quote(name)} AS {quote(SUM_PREFIX + name)}" for name in sums),
        ]
        return f"SELECT {', '.join(parts)} FROM {alias}"

    upsert_and_fold = f"""
WITH upserted AS (
    INSERT INTO {raw} AS target (client_id, {listed(columns)})
    SELECT $1, {listed(columns)} FROM {quote(stage)}
    ON CONFLICT (client_id, {listed(key)}) {on_conflict}
    RETURNING {listed(columns, "target")}, {bucket_sql(model, "target")} AS bucket
), previous AS (
    -- One index probe per staged row (LIMIT 1 keeps the planner from turning this into a scan
    -- of all the client's rows, which it would when statistics think the client has few).
    SELECT current.* FROM {quote(stage)} AS stage CROSS JOIN LATERAL (
        SELECT {listed(columns, "stored")} FROM {raw} AS stored
        WHERE stored.client_id = $1
            AND {" AND ".join(f"stored.{quote(k)} = stage.{quote(k)}" for k in key)}
        LIMIT 1
    ) AS current
), replaced AS (
    SELECT previous.* FROM previous JOIN upserted USING ({listed(key)})
), delta AS (
    {delta_select("upserted", "")}
    UNION ALL
    {delta_select("replaced", "-")}
), folded AS (
    INSERT INTO {rollup} AS rollup ({rollup_columns})
    SELECT $1, bucket, {", ".join([*dimensions, "sum(row_count)"])}
        {"".join(f", COALESCE(sum({quote(SUM_PREFIX + n)}), 0)" for n in sums)}
    FROM delta GROUP BY {", ".join(["bucket", *dimensions])}
    ON CONFLICT ({group_key}) DO UPDATE SET row_count = rollup.row_count + EXCLUDED.row_count
        {
        "".join(
            f", {quote(SUM_PREFIX + n)} = rollup.{quote(SUM_PREFIX + n)} "
            f"+ EXCLUDED.{quote(SUM_PREFIX + n)}"
            for n in sums
        )
    }
    RETURNING rollup.bucket, rollup.row_count
)
SELECT (SELECT count(*) FROM upserted) AS written,
       (SELECT count(*) FROM replaced) AS replaced,
       (SELECT min(bucket) FROM folded WHERE row_count = 0) AS emptied_from,
       (SELECT max(bucket) FROM folded WHERE row_count = 0) AS emptied_to,
       (SELECT min(upserted.bucket) FROM upserted) AS first_bucket,
       (SELECT max(upserted.bucket) FROM upserted) AS last_bucket,
       (SELECT {newest}::timestamptz FROM upserted) AS newest
"""
    # A group whose rows all moved to other groups (an update changed a dimension) is removed,
    # so a breakdown never shows a group with no rows.
    delete_empty_groups = (
        f"DELETE FROM {rollup} WHERE client_id = $1 AND bucket >= $2 AND bucket <= $3 "
        "AND row_count = 0"
    )
    time = quote(model.time_field)
    rebuild_rollup = f"""
INSERT INTO {rollup} AS rollup ({rollup_columns})
SELECT raw.client_id, {bucket_sql(model, "raw")} AS bucket,
       {", ".join([*(f"raw.{d}" for d in dimensions), "count(*)"])}
       {"".join(f", COALESCE(sum(raw.{quote(n)}), 0)" for n in sums)}
FROM {raw} AS raw
WHERE raw.client_id = $1 AND raw.{time} >= $2{moment_cast} AND raw.{time} < $3{moment_cast}
GROUP BY {", ".join(str(position) for position in range(1, 3 + len(dimensions)))}
ON CONFLICT ({group_key}) DO UPDATE SET row_count = EXCLUDED.row_count
    {"".join(f", {quote(SUM_PREFIX + n)} = EXCLUDED.{quote(SUM_PREFIX + n)}" for n in sums)}
"""
    return _Statements(stage, create_stage, upsert_and_fold, delete_empty_groups, rebuild_rollup)


_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"

_APPLIED_BATCH = """
SELECT ingest_id, accepted_row_count, duplicate_row_count, data_version, watermark,
       range_start, range_end
FROM analytics.ingest_batches
WHERE client_id = $1 AND object_model_code = $2 AND idempotency_key = $3
"""

_RECORD_BATCH = """
INSERT INTO analytics.ingest_batches (ingest_id, client_id, object_model_code, idempotency_key,
    source_system, accepted_row_count, duplicate_row_count, data_version, watermark,
    range_start, range_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
"""

_BUMP_VERSION = """
INSERT INTO analytics.data_versions AS v (client_id, object_model_code, version, watermark,
                                          updated_at)
VALUES ($1, $2, 1, $3, now())
ON CONFLICT (client_id, object_model_code) DO UPDATE
SET version = v.version + 1, watermark = GREATEST(v.watermark, EXCLUDED.watermark),
    updated_at = now()
RETURNING version, watermark
"""

_CURRENT_VERSION = """
SELECT version, watermark FROM analytics.data_versions
WHERE client_id = $1 AND object_model_code = $2
"""

_WRITE_OUTBOX = """
INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, range_end,
                                     watermark, row_count, data_version)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""

_Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


# -- ingest -----------------------------------------------------------------------------------


async def ingest_rows(
    pool: asyncpg.Pool,
    client_id: str,
    model: ObjectModel,
    rows: Sequence[Mapping[str, object]],
    idempotency_key: str = "",
    *,
    source_system: str = "",
) -> IngestResult:
    """Validates `rows` (InvalidArgument names every bad row and field; nothing is written) and
    commits them in one transaction with the rollup change, the data version bump and an outbox
    record. Rows whose natural key exists replace the stored row; identical re-sends count as
    duplicates and change nothing. A batch whose idempotency key was applied before returns the
    first answer (`replayed`) without writing."""
    _require_client(client_id)
    # Validation is CPU work on the whole batch: in a thread, so the event loop keeps serving.
    batch = await asyncio.to_thread(validate_rows, model, rows)
    unique_rows = _last_row_per_natural_key(model, batch)
    statements = _statements(model)
    async with pool.acquire() as connection, connection.transaction():
        await _lock_writers(connection, client_id, model)
        if idempotency_key:
            earlier = await connection.fetchrow(
                _APPLIED_BATCH, client_id, model.code, idempotency_key
            )
            if earlier is not None:
                return _replayed(earlier)
        await connection.execute(statements.create_stage)
        await connection.copy_records_to_table(
            statements.stage_table, records=unique_rows, columns=batch.columns
        )
        outcome = await connection.fetchrow(statements.upsert_and_fold, client_id)
        assert outcome is not None
        if outcome["emptied_from"] is not None:
            await connection.execute(
                statements.delete_empty_groups,
                client_id,
                outcome["emptied_from"],
                outcome["emptied_to"],
            )
        written = int(outcome["written"])
        affected_start = affected_end = None
        if written:
            affected_start = outcome["first_bucket"]
            affected_end = outcome["last_bucket"] + (_DAY if time_is_date(model) else _MINUTE)
            version, watermark = await _record_change(
                connection,
                client_id,
                model,
                affected_start,
                affected_end,
                outcome["newest"],
                written,
            )
        else:
            version, watermark = await _current_version(connection, client_id, model)
        result = IngestResult(
            ingest_id=str(uuid.uuid4()),
            accepted_row_count=written,
            duplicate_row_count=len(batch.rows) - written,
            data_version=version,
            watermark=watermark,
            affected_start=affected_start,
            affected_end=affected_end,
        )
        await connection.execute(
            _RECORD_BATCH,
            uuid.UUID(result.ingest_id),
            client_id,
            model.code,
            idempotency_key,
            source_system,
            result.accepted_row_count,
            result.duplicate_row_count,
            result.data_version,
            result.watermark,
            result.affected_start,
            result.affected_end,
        )
    return result


def _last_row_per_natural_key(
    model: ObjectModel, batch: ValidatedRows
) -> list[tuple[TypedValue, ...]]:
    """One row per natural key, the last one sent winning (as if the rows came one by one): one
    INSERT ... ON CONFLICT statement may not touch the same row twice."""
    positions = [batch.columns.index(name) for name in natural_key(model)]
    latest: dict[tuple[TypedValue, ...], tuple[TypedValue, ...]] = {}
    for row in batch.rows:
        latest[tuple(row[position] for position in positions)] = row
    return list(latest.values())


def _replayed(earlier: asyncpg.Record) -> IngestResult:
    return IngestResult(
        ingest_id=str(earlier["ingest_id"]),
        accepted_row_count=int(earlier["accepted_row_count"]),
        duplicate_row_count=int(earlier["duplicate_row_count"]),
        data_version=int(earlier["data_version"]),
        watermark=earlier["watermark"],
        affected_start=earlier["range_start"],
        affected_end=earlier["range_end"],
        replayed=True,
    )


# -- bulk load --------------------------------------------------------------------------------


async def bulk_load(
    pool: asyncpg.Pool,
    client_id: str,
    model: ObjectModel,
    rows: Iterable[Sequence[object]] | AsyncIterable[Sequence[object]],
    columns: Sequence[str],
    *,
    command_timeout: float = 3600.0,
) -> int:
    """Loads new rows with COPY (streamed from the iterator, never held in memory), then rebuilds
    the rollup over the loaded time range with one INSERT ... SELECT ... GROUP BY, bumps the data
    version and writes an outbox record, all in one transaction. Values must already be typed
    (str, int, Decimal, bool, aware datetime, date) in `columns` order; rows are not validated
    beyond what PostgreSQL enforces. Only adds rows: a natural key that exists fails the whole
    load with AlreadyExists (ingest_rows upserts). Returns the number of rows loaded."""
    _require_client(client_id)
    _check_bulk_columns(model, columns)
    span = _LoadSpan(columns.index(model.time_field))
    statements = _statements(model)
    async with pool.acquire() as connection, connection.transaction():
        await _lock_writers(connection, client_id, model)
        try:
            await connection.copy_records_to_table(
                model.table_name,
                schema_name=model.schema_name,
                columns=["client_id", *columns],
                records=span.track(client_id, rows),
                timeout=command_timeout,
            )
        except asyncpg.UniqueViolationError as error:
            raise AlreadyExists(
                f"a loaded {model.code} row has the natural key of a stored one "
                f"({error.detail or 'duplicate key'}); bulk_load only adds rows"
            ) from None
        if span.count == 0 or span.lowest is None or span.highest is None:
            return 0
        start, end = _bucket_range(model, span.lowest, span.highest)
        lower, upper = (start.date(), end.date()) if time_is_date(model) else (start, end)
        await connection.execute(
            statements.rebuild_rollup, client_id, lower, upper, timeout=command_timeout
        )
        await _record_change(
            connection, client_id, model, start, end, _as_instant(span.highest), span.count
        )
    return span.count


class _LoadSpan:
    """Counts the rows streamed to COPY and the range of their time values, on the way through."""

    def __init__(self, time_position: int) -> None:
        self._time_position = time_position
        self.count = 0
        self.lowest: datetime.date | None = None
        self.highest: datetime.date | None = None

    def track(
        self, client_id: str, rows: Iterable[Sequence[object]] | AsyncIterable[Sequence[object]]
    ) -> Iterable[tuple[object, ...]] | AsyncIterator[tuple[object, ...]]:
        if isinstance(rows, AsyncIterable):
            return self._track_async(client_id, rows)
        return self._track(client_id, rows)

    def _see(self, row: Sequence[object]) -> tuple[object, ...]:
        moment = row[self._time_position]
        if not isinstance(moment, datetime.date):
            raise InvalidArgument.for_field(
                f"rows[{self.count}]", "the time field must hold a datetime or date"
            )
        if self.lowest is None or moment < self.lowest:
            self.lowest = moment
        if self.highest is None or moment > self.highest:
            self.highest = moment
        self.count += 1
        return tuple(row)

    def _track(
        self, client_id: str, rows: Iterable[Sequence[object]]
    ) -> Iterable[tuple[object, ...]]:
        for row in rows:
            yield (client_id, *self._see(row))

    async def _track_async(
        self, client_id: str, rows: AsyncIterable[Sequence[object]]
    ) -> AsyncIterator[tuple[object, ...]]:
        async for row in rows:
            yield (client_id, *self._see(row))


def _check_bulk_columns(model: ObjectModel, columns: Sequence[str]) -> None:
    names = {field.name for field in model.fields}
    unknown = [name for name in columns if name not in names]
    if unknown:
        raise InvalidArgument.for_field(
            "columns", f"{', '.join(unknown)} not fields of object model {model.code}"
        )
    if len(set(columns)) != len(columns):
        raise InvalidArgument.for_field("columns", "names a field twice")
    missing = [
        field.name
        for field in model.fields
        if (field.required or field.key) and field.name not in columns
    ]
    if missing:
        raise InvalidArgument.for_field("columns", f"misses required {', '.join(missing)}")


def _bucket_range(
    model: ObjectModel, lowest: datetime.date, highest: datetime.date
) -> tuple[datetime.datetime, datetime.datetime]:
    """[first bucket, end of last bucket) covering `lowest`..`highest`, as UTC instants."""
    if time_is_date(model):
        return _as_instant(lowest), _as_instant(highest) + _DAY
    first = _as_instant(lowest).replace(second=0, microsecond=0)
    last = _as_instant(highest).replace(second=0, microsecond=0)
    return first, last + _MINUTE


def _as_instant(moment: datetime.date) -> datetime.datetime:
    if isinstance(moment, datetime.datetime):
        if moment.tzinfo is None:
            raise InvalidArgument.for_field("rows", "timestamps must carry a UTC offset")
        return moment.astimezone(_UTC)
    return datetime.datetime.combine(moment, datetime.time(), _UTC)


# -- versions and outbox ----------------------------------------------------------------------


async def data_versions(
    pool: asyncpg.Pool, client_id: str, object_model_codes: Sequence[str]
) -> list[DataVersionRecord]:
    """Version and watermark per object model, ordered by code. Named models without rows are
    reported at version 0; with no names, every model the client has rows of."""
    records = await pool.fetch(
        "SELECT object_model_code, version, watermark, updated_at FROM analytics.data_versions "
        "WHERE client_id = $1 AND (cardinality($2::text[]) = 0 OR object_model_code = ANY($2))",
        client_id,
        list(object_model_codes),
    )
    found = {
        record["object_model_code"]: DataVersionRecord(
            record["object_model_code"],
            int(record["version"]),
            record["watermark"],
            record["updated_at"],
        )
        for record in records
    }
    for code in object_model_codes:
        found.setdefault(code, DataVersionRecord(code, 0, None, None))
    return [found[code] for code in sorted(found)]


async def delete_client_rows(
    pool: asyncpg.Pool, client_id: str, model: ObjectModel, *, statement_seconds: float = 3600.0
) -> int:
    """Removes every row of `client_id` in `model`, with its rollup, in one transaction under the
    writers' lock, and bumps the data version so no cached answer outlives the rows. Returns how
    many raw rows were deleted."""
    _require_client(client_id)
    async with pool.acquire() as connection, connection.transaction():
        await _lock_writers(connection, client_id, model)
        # Millions of rows take longer than a pool's default statement timeout.
        status = await connection.execute(
            f"DELETE FROM {raw_table(model)} WHERE client_id = $1",
            client_id,
            timeout=statement_seconds,
        )
        await connection.execute(
            f"DELETE FROM {rollup_table(model)} WHERE client_id = $1",
            client_id,
            timeout=statement_seconds,
        )
        # NULL keeps the watermark: deleting rows does not make data newer.
        await connection.fetchrow(_BUMP_VERSION, client_id, model.code, None)
    return int(status.split()[-1])


async def _record_change(
    connection: _Connection,
    client_id: str,
    model: ObjectModel,
    range_start: datetime.datetime,
    range_end: datetime.datetime,
    newest: datetime.datetime,
    row_count: int,
) -> tuple[int, datetime.datetime | None]:
    bumped = await connection.fetchrow(_BUMP_VERSION, client_id, model.code, newest)
    assert bumped is not None
    version, watermark = int(bumped["version"]), bumped["watermark"]
    await connection.execute(
        _WRITE_OUTBOX, client_id, model.code, range_start, range_end, watermark, row_count, version
    )
    return version, watermark


async def _current_version(
    connection: _Connection, client_id: str, model: ObjectModel
) -> tuple[int, datetime.datetime | None]:
    current = await connection.fetchrow(_CURRENT_VERSION, client_id, model.code)
    if current is None:
        return 0, None
    return int(current["version"]), current["watermark"]


async def _lock_writers(connection: _Connection, client_id: str, model: ObjectModel) -> None:
    await connection.execute(_LOCK, f"{client_id}/{model.code}")


def _require_client(client_id: str) -> None:
    if not client_id:
        raise InvalidArgument.for_field("client_id", "is required")
