"""PostgreSQL adapter for client data: the table layout, durable idempotent ingest with the
per-minute rollups kept current in the same transaction, bulk loads, data versions and the change
outbox.

Layout (rendered into migrations by scripts/object_model_tables.py, written here):
- `{schema}.{table}`: `client_id`, then one column per field in declared order, unique on the
  natural key (client_id, key fields, time field); then one generated column per derived field
  (a comparison of two fields, computed by the database: never sent, never written here).
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
that read and the write would make the rollup count a replaced row twice; keys found absent are
written with a plain INSERT, which such a batch would make fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import hashlib
import itertools
import operator
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from typing import Any, cast

import asyncpg

from services.catalog.domain import DerivedField, Field, FieldType, ObjectModel
from services.data.ingest import TypedValue, validate_rows
from services.data.ingest_columns import CheckedColumns
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
    values, so a minute holds few groups); free text would make the rollup as large as the data.
    Then the derived fields, booleans too (a generated column of the raw table each)."""
    return tuple(
        field
        for field in model.fields
        if field.type is FieldType.BOOLEAN
        or (field.type is FieldType.STRING and field.allowed_values)
    ) + tuple(Field(d.name, FieldType.BOOLEAN, d.description) for d in model.derived_fields)


def derived_value(derived: DerivedField, column: Callable[[str], str]) -> str:
    """SQL computing a derived field from the SQL of its two fields' values (`column(name)`):
    NULL when either is NULL, as the comparison written in a formula is."""
    left, right = column(derived.left_field), column(derived.right_field)
    return f"({left} {derived.comparator.value} {right})"


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
    write_and_fold: str
    delete_empty_groups: str
    rebuild_rollup: str


@dataclasses.dataclass(frozen=True)
class _BookkeepingParameters:
    """The SQL of the ingest statement's last parameters (sent in this order, after the
    columns): what the batch's record, the version bump and the outbox record need."""

    model: str
    idempotency_key: str
    source_system: str
    ingest_id: str
    sent_row_count: str


def _bookkeeping_parameters(first: int) -> _BookkeepingParameters:
    return _BookkeepingParameters(
        model=f"${first}::text",
        idempotency_key=f"${first + 1}::text",
        source_system=f"${first + 2}::text",
        ingest_id=f"${first + 3}::uuid",
        sent_row_count=f"${first + 4}::bigint",
    )


@functools.lru_cache(maxsize=256)
def _statements(model: ObjectModel) -> _Statements:
    columns = [field.name for field in model.fields]
    key = natural_key(model)
    changeable = [name for name in columns if name not in key]
    dimension_names = [field.name for field in rollup_dimensions(model)]
    derived_names = [derived.name for derived in model.derived_fields]
    dimensions = [quote(name) for name in dimension_names]
    sums = [field.name for field in rollup_sums(model)]
    raw, rollup = raw_table(model), rollup_table(model)
    is_date = time_is_date(model)
    time = quote(model.time_field)
    moment_cast = "::date" if is_date else "::timestamptz"

    def listed(names: Iterable[str], alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote(name) for name in names)

    def stored_as(name: str) -> str:
        return quote("stored__" + name)

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
    wire = _wire_columns(model)
    # $1 client, $2 and $3 the batch's earliest and latest time values, then the columns, then
    # the batch's bookkeeping (_BookkeepingParameters).
    decoded = ", ".join(column.decode(4 + 2 * index) for index, column in enumerate(wire))
    bookkeeping = _bookkeeping_parameters(4 + 2 * len(wire))
    sent_values = {
        name: column.value.replace("{}", f"sent.{quote(name)}")
        for column, name in zip(wire, columns, strict=True)
    }
    incoming = (
        "(SELECT "
        + ", ".join(
            [
                *(f"{value} AS {quote(name)}" for name, value in sent_values.items()),
                # Derived fields ride along for the rollup delta; the table computes its own.
                *(
                    f"{derived_value(derived, sent_values.__getitem__)} AS {quote(derived.name)}"
                    for derived in model.derived_fields
                ),
            ]
        )
        + f" FROM unnest({decoded}) AS sent({listed(columns)})"
        # A batch applied before writes nothing (one-time filter: checked once, not per row).
        + " WHERE NOT EXISTS (SELECT FROM earlier))"
    )
    if changeable:
        changed = (
            f"stored.found AND ({listed(changeable, 'stored')}) IS DISTINCT FROM "
            f"({listed(changeable, 'incoming')})"
        )
        # Every row sent here exists (the writers' lock keeps it so): the arbiter index finds it
        # in one probe and the row is updated in place of being inserted.
        replace = f"""
), replaced AS (
    INSERT INTO {raw} AS target (client_id, {listed(columns)})
    SELECT $1, {listed(columns)} FROM matched WHERE changed
    ON CONFLICT (client_id, {listed(key)}) DO UPDATE SET
        {", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in changeable)}"""
    else:
        # Every field is part of the key: a row sent again is the same row.
        changed, replace = "false", ""
    # The batch's first and last buckets come from its earliest and latest time values (a
    # bucket only grows with the time), so only two values are bucketed, not every row.
    first_bucket, last_bucket = bucket_sql(model, "first_row"), bucket_sql(model, "last_row")
    newest = "last_bucket" if is_date else "last_time"
    bucket_width = "INTERVAL '24 hours'" if is_date else "INTERVAL '1 minute'"

    def delta_select(sign: str, name: Callable[[str], str], rows: str) -> str:
        parts = [
            f"{bucket_sql(model, 'matched')} AS bucket",
            *(f"matched.{name(dimension)} AS {quote(dimension)}" for dimension in dimension_names),
            f"{sign}1 AS row_count",
            *(f"{sign}matched.{name(field)} AS {quote(SUM_PREFIX + field)}" for field in sums),
        ]
        return f"SELECT {', '.join(parts)} FROM matched WHERE {rows}"

    stored_fields = [*rollup_dimensions(model), *rollup_sums(model)]
    no_stored_values = "".join(
        f", NULL::{SQL_TYPES[field.type]} AS {stored_as(field.name)}" for field in stored_fields
    )
    stored_values = "".join(
        f", stored.{quote(field.name)} AS {stored_as(field.name)}" for field in stored_fields
    )
    any_stored = (
        f"EXISTS (SELECT FROM {raw} AS any_stored WHERE any_stored.client_id = $1 "
        f"AND any_stored.{time} >= $2{moment_cast} AND any_stored.{time} <= $3{moment_cast})"
    )
    write_and_fold = f"""
WITH earlier AS (
    -- The answer given to a batch sent before with the same idempotency key (the literal
    -- `<> ''` lets the planner use the partial unique index on keyed batches).
    SELECT ingest_id, accepted_row_count, duplicate_row_count, data_version, watermark,
           range_start, range_end
    FROM analytics.ingest_batches
    WHERE client_id = $1 AND object_model_code = {bookkeeping.model}
        AND idempotency_key = {bookkeeping.idempotency_key} AND idempotency_key <> ''
), incoming AS NOT MATERIALIZED (
    -- The rows sent, decoded (written once, planned into each branch below).
    {incoming}
), matched AS MATERIALIZED (
    -- Each row sent, with the stored row of its natural key when there is one. When the client
    -- has no row in the batch's time span (the usual case of a live stream or a first load;
    -- checked once), no row can be stored and none is looked for. Otherwise one index probe per
    -- row (LIMIT 1 keeps the planner from turning this into a scan of all the client's rows),
    -- limited to the span so only the partitions of the span are probed.
    SELECT incoming.*, NULL::boolean AS found, false AS changed
        {no_stored_values}
    FROM incoming
    WHERE NOT {any_stored}
    UNION ALL
    SELECT incoming.*, stored.found, ({changed}) AS changed
        {stored_values}
    FROM incoming LEFT JOIN LATERAL (
        SELECT true AS found, {listed([*changeable, *derived_names], "stored") or "true"}
        FROM {raw} AS stored
        WHERE stored.client_id = $1
            AND {" AND ".join(f"stored.{quote(k)} = incoming.{quote(k)}" for k in key)}
            AND stored.{time} >= $2{moment_cast} AND stored.{time} <= $3{moment_cast}
        LIMIT 1
    ) AS stored ON true
    WHERE {any_stored}
), inserted AS (
    -- New keys: a plain insert, with no conflict to look for (the probe above found none, and
    -- the writers' lock keeps it so; were it broken, the unique index would refuse the batch).
    INSERT INTO {raw} (client_id, {listed(columns)})
    SELECT $1, {listed(columns)} FROM matched WHERE found IS NULL{replace}
), delta AS (
    {delta_select("", quote, "found IS NULL OR changed")}
    UNION ALL
    {delta_select("-", stored_as, "changed")}
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
), written AS (
    SELECT count(*) AS written, min({time}) AS first_time, max({time}) AS last_time
    FROM matched WHERE found IS NULL OR changed
), span AS (
    SELECT written, {first_bucket} AS first_bucket, {last_bucket} AS last_bucket,
           last_time
    FROM written, LATERAL (SELECT written.first_time AS {time}) AS first_row,
        LATERAL (SELECT written.last_time AS {time}) AS last_row
), emptied AS (
    SELECT min(bucket) AS emptied_from, max(bucket) AS emptied_to
    FROM folded WHERE row_count = 0
), bumped AS (
    -- The data version bump, the outbox record and the batch's record ride in this statement
    -- (one round trip): written in the same transaction as the rows.
    INSERT INTO analytics.data_versions AS v (client_id, object_model_code, version, watermark,
                                              updated_at)
    SELECT $1, {bookkeeping.model}, 1, {newest}::timestamptz, now() FROM span WHERE written > 0
    ON CONFLICT (client_id, object_model_code) DO UPDATE
    SET version = v.version + 1, watermark = GREATEST(v.watermark, EXCLUDED.watermark),
        updated_at = now()
    RETURNING version, watermark
), announced AS (
    INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, range_end,
                                         watermark, row_count, data_version)
    SELECT $1, {bookkeeping.model}, first_bucket, last_bucket + {bucket_width},
           bumped.watermark, written, bumped.version
    FROM span, bumped
), outcome AS (
    SELECT {bookkeeping.ingest_id} AS ingest_id, span.written AS accepted_row_count,
           {bookkeeping.sent_row_count} - span.written AS duplicate_row_count,
           COALESCE(bumped.version, stored_version.version, 0) AS data_version,
           CASE WHEN bumped.version IS NULL THEN stored_version.watermark ELSE bumped.watermark END
               AS watermark,
           span.first_bucket AS range_start, span.last_bucket + {bucket_width} AS range_end,
           false AS replayed
    FROM span LEFT JOIN bumped ON true
        LEFT JOIN analytics.data_versions AS stored_version
            ON stored_version.client_id = $1
                AND stored_version.object_model_code = {bookkeeping.model}
    WHERE NOT EXISTS (SELECT FROM earlier)
    UNION ALL
    SELECT earlier.*, true FROM earlier
), recorded AS (
    INSERT INTO analytics.ingest_batches (ingest_id, client_id, object_model_code,
        idempotency_key, source_system, accepted_row_count, duplicate_row_count, data_version,
        watermark, range_start, range_end)
    SELECT ingest_id, $1, {bookkeeping.model}, {bookkeeping.idempotency_key},
           {bookkeeping.source_system}, accepted_row_count, duplicate_row_count, data_version,
           watermark, range_start, range_end
    FROM outcome WHERE NOT replayed
)
SELECT outcome.*, emptied.*,
       -- Tells the outbox relay at commit (never for a rolled-back change).
       CASE WHEN accepted_row_count > 0 AND NOT replayed
            THEN pg_notify('{OUTBOX_CHANNEL}', '') END AS notified
FROM outcome, emptied
"""
    # A group whose rows all moved to other groups (an update changed a dimension) is removed,
    # so a breakdown never shows a group with no rows.
    delete_empty_groups = (
        f"DELETE FROM {rollup} WHERE client_id = $1 AND bucket >= $2 AND bucket <= $3 "
        "AND row_count = 0"
    )
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
    return _Statements(
        _compact(write_and_fold), _compact(delete_empty_groups), _compact(rebuild_rollup)
    )


def _compact(statement: str) -> str:
    """The statement without its comment lines and indentation. asyncpg keeps a prepared
    statement, and with it PostgreSQL's plan, only for statements of up to 15 KiB; a longer one
    is parsed and planned again on every call."""
    lines = (line.strip() for line in statement.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))


# -- the wire: how a batch travels ------------------------------------------------------------
# asyncpg encodes an array parameter one element at a time, at a cost (0.2-0.7 us a value) that
# for a 5000-row batch came close to the database's own work; so each column travels as one
# text, its values joined by a separator, which PostgreSQL splits and casts in C (a timestamp as
# its count of microseconds since 1970, turned back into an instant in SQL). Every column has two
# parameters, the joined text and an array, one of them NULL: the array carries a text column
# whose values hold the separator or the NULL marker, and a one-row column whose joined text
# would be empty (PostgreSQL splits '' into no element at all).

_SEPARATOR = "\x1f"  # ASCII unit separator
_NULL_TEXT = "\x1e"  # ASCII record separator: NULL in a joined text column
_BOOLEAN_TEXT: Mapping[object, str] = {True: "t", False: "f"}
# A column's parameters: its values joined into one text, or as an array.
_ColumnParameters = tuple[str | None, Sequence[object] | None]


@dataclasses.dataclass(frozen=True)
class _WireColumn:
    sql_type: str
    nullable: bool
    # The texts PostgreSQL reads back as the values ('' for None), given whether any is None;
    # None for text columns (a value is its own text).
    render: Callable[[Sequence[Any], bool], Iterable[str]] | None
    # The type the parameters hold, when the column's own type is computed from it.
    wire_type: str = ""
    # SQL turning an element of the parameters ({} in it) into the column's value.
    value: str = "{}"

    @property
    def is_text(self) -> bool:
        return self.sql_type == "text"

    def decode(self, first: int) -> str:
        """SQL giving an array of the parameters' elements from `$first` and the one after."""
        wire_type = self.wire_type or self.sql_type
        null = "E'\\x1e'" if self.is_text else "''"
        cast = "" if self.is_text else f"::{wire_type}[]"
        split = f"string_to_array(${first}, E'\\x1f', {null}){cast}"
        return f"COALESCE({split}, ${first + 1}::{wire_type}[])"

    def encode(self, values: Sequence[object]) -> _ColumnParameters:
        """The column's two parameters, as `decode` reads them."""
        missing = values.count(None) if self.nullable else 0
        if missing == len(values) > 1:
            null = _NULL_TEXT if self.is_text else ""
            return _SEPARATOR.join(itertools.repeat(null, missing)), None
        if self.render is None:  # text
            texts = cast(Sequence[str], values)
            if missing:
                texts = [_NULL_TEXT if value is None else cast(str, value) for value in values]
            joined = _SEPARATOR.join(texts)
            fits = joined.count(_SEPARATOR) == len(values) - 1
            if joined and fits and joined.count(_NULL_TEXT) == missing:
                return joined, None
            return None, values
        joined = _SEPARATOR.join(self.render(values, missing > 0))
        return (joined, None) if joined else (None, values)


def _texts_by(render: Callable[[Any], str]) -> Callable[[Sequence[Any], bool], Iterable[str]]:
    def texts(values: Sequence[Any], gaps: bool) -> Iterable[str]:
        if gaps:
            return ["" if value is None else render(value) for value in values]
        return map(render, values)

    return texts


_POSITIONAL = operator.methodcaller("__format__", "f")


def _decimal_texts(values: Sequence[Any], gaps: bool) -> Iterable[str]:
    texts = list(_texts_by(str)(values, gaps))
    # PostgreSQL before 15 refuses exponents beyond ±1000 in numeric text: a column with any
    # exponent is written out positionally (rare: str() uses one only for very large or small
    # numbers).
    if "E" in "".join(texts):
        return _texts_by(_POSITIONAL)(values, gaps)
    return texts


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _wire_column(field: Field) -> _WireColumn:
    nullable = not field.required
    match field.type:
        case FieldType.STRING:
            return _WireColumn("text", nullable, None)
        case FieldType.INTEGER:
            return _WireColumn("bigint", nullable, _texts_by(int.__str__))
        case FieldType.DECIMAL:
            return _WireColumn("numeric", nullable, _decimal_texts)
        case FieldType.BOOLEAN:
            return _WireColumn("boolean", nullable, _texts_by(_BOOLEAN_TEXT.__getitem__))
        case FieldType.TIMESTAMP:
            # Microseconds since 1970 UTC, cheaper than asyncpg's binary encoding or ISO text.
            # Exact both ways: whole seconds, then the microseconds left, are each multiplied by
            # an interval in floating point, which holds every product up to the year 9999
            # exactly; an interval of time alone is added to an instant with no time zone rules.
            return _WireColumn(
                "timestamptz",
                nullable,
                _texts_by(int.__str__),
                wire_type="bigint",
                value=(
                    "(TIMESTAMPTZ '1970-01-01 00:00:00+00' + ({} / 1000000) * INTERVAL '1 second'"
                    " + ({} % 1000000) * INTERVAL '1 microsecond')"
                ),
            )
        case FieldType.DATE:
            return _WireColumn("date", nullable, _texts_by(datetime.date.isoformat))


@functools.lru_cache(maxsize=256)
def _wire_columns(model: ObjectModel) -> tuple[_WireColumn, ...]:
    return tuple(_wire_column(field) for field in model.fields)


@dataclasses.dataclass(frozen=True)
class PreparedBatch:
    """A validated batch ready to send: one row per natural key, the last one sent winning (as if
    the rows came one by one; one INSERT may not touch the same row twice)."""

    # Rows as sent, repeats included (those beyond the first of a key count as duplicates).
    sent_row_count: int
    earliest: datetime.date
    latest: datetime.date
    arguments: tuple[object, ...]


def prepare_rows(model: ObjectModel, rows: Sequence[Mapping[str, object]]) -> PreparedBatch:
    """Validates JSON-like rows (InvalidArgument names every bad row and field) and encodes
    them for `commit_batch`. CPU work only: a caller may run it in a thread."""
    batch = validate_rows(model, rows)
    wire = _wire_columns(model)
    # Timestamps become microseconds since 1970 UTC here: how they travel, and far cheaper to
    # hash and compare than aware datetimes.
    columns: Sequence[Sequence[object]] = [
        _microseconds(values) if column.wire_type == "bigint" else values
        for column, values in zip(wire, batch.column_values, strict=True)
    ]
    return _prepared(model, columns, len(rows))


def prepare_columns(model: ObjectModel, batch: CheckedColumns) -> PreparedBatch:
    """Encodes a batch validated as typed columns (its timestamps already in microseconds) for
    `commit_batch`. CPU work only."""
    return _prepared(model, batch.column_values, batch.row_count)


def _prepared(
    model: ObjectModel, columns: Sequence[Sequence[object]], sent_row_count: int
) -> PreparedBatch:
    wire = _wire_columns(model)
    columns = _last_row_per_natural_key(model, columns)
    times = columns[[field.name for field in model.fields].index(model.time_field)]
    earliest: datetime.date
    latest: datetime.date
    if time_is_date(model):
        dates = cast(Sequence[datetime.date], times)
        earliest, latest = min(dates), max(dates)
    else:
        instants = cast(Sequence[int], times)
        earliest = _EPOCH + _MICROSECOND * min(instants)
        latest = _EPOCH + _MICROSECOND * max(instants)
    arguments = tuple(
        itertools.chain.from_iterable(
            column.encode(values) for column, values in zip(wire, columns, strict=True)
        )
    )
    return PreparedBatch(sent_row_count, earliest, latest, arguments)


def _microseconds(moments: Sequence[TypedValue]) -> list[int | None]:
    if None in moments:
        return [
            None if moment is None else (cast(datetime.datetime, moment) - _EPOCH) // _MICROSECOND
            for moment in moments
        ]
    present = cast(Sequence[datetime.datetime], moments)
    return [(moment - _EPOCH) // _MICROSECOND for moment in present]


def _last_row_per_natural_key(
    model: ObjectModel, columns: Sequence[Sequence[object]]
) -> Sequence[Sequence[object]]:
    """The columns holding one row per natural key, the last one sent winning (as if the rows
    came one by one; one INSERT may not touch the same row twice)."""
    names = [field.name for field in model.fields]
    key_columns = [columns[names.index(name)] for name in natural_key(model)]
    count = len(key_columns[0])
    # One key field without repeats is enough, and cheaper to check than whole keys.
    if any(len(set(values)) == count for values in key_columns):
        return columns
    keys = list(zip(*key_columns, strict=True))
    # A later position overwrites an earlier one of the same key.
    kept = sorted(dict(zip(keys, itertools.count(), strict=False)).values())
    return [[column[position] for position in kept] for column in columns]


_BUMP_VERSION = """
INSERT INTO analytics.data_versions AS v (client_id, object_model_code, version, watermark,
                                          updated_at)
VALUES ($1, $2, 1, $3, now())
ON CONFLICT (client_id, object_model_code) DO UPDATE
SET version = v.version + 1, watermark = GREATEST(v.watermark, EXCLUDED.watermark),
    updated_at = now()
RETURNING version, watermark
"""

# The notification channel that says "the outbox has new rows": PostgreSQL delivers a NOTIFY at
# commit (never for a rolled-back change), so the relay can publish at once instead of polling.
OUTBOX_CHANNEL = "analytics_change_outbox"

# The version bump, the outbox record of one change and its notification, in one round trip
# (a bulk load's; the ingest statement writes its own).
_BUMP_VERSION_AND_WRITE_OUTBOX = f"""
WITH bumped AS ({_BUMP_VERSION}), announced AS (
    INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, range_end,
                                         watermark, row_count, data_version)
    SELECT $1, $2, $4, $5, watermark, $6, version FROM bumped
)
SELECT version, watermark, pg_notify('{OUTBOX_CHANNEL}', '')::text AS notified FROM bumped
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
    commits them as `commit_batch` does."""
    _require_client(client_id)
    # Validation and encoding are CPU work on the whole batch: in a thread, so the event loop
    # keeps serving (it takes the GIL between them, every few milliseconds).
    batch = await asyncio.to_thread(prepare_rows, model, rows)
    return await commit_batch(
        pool, client_id, model, batch, idempotency_key, source_system=source_system
    )


async def commit_batch(
    pool: asyncpg.Pool,
    client_id: str,
    model: ObjectModel,
    batch: PreparedBatch,
    idempotency_key: str = "",
    *,
    source_system: str = "",
    turn: BatchTurn | None = None,
) -> IngestResult:
    """Commits a prepared batch in one transaction with the rollup change, the data version bump
    and an outbox record. Rows whose natural key exists replace the stored row; identical
    re-sends count as duplicates and change nothing. A batch whose idempotency key was applied
    before returns the first answer (`replayed`) without writing. With a `turn`, the batch
    commits in its place in a sequence of batches (see BatchTurn)."""
    _require_client(client_id)
    try:
        outcome = await _commit(pool, client_id, model, batch, idempotency_key, source_system,
                                turn)
    except BaseException:
        if turn is not None:
            turn.finish(committed=False)
        raise
    if turn is not None:
        turn.finish(committed=True)
    return IngestResult(
        ingest_id=str(outcome["ingest_id"]),
        accepted_row_count=int(outcome["accepted_row_count"]),
        duplicate_row_count=int(outcome["duplicate_row_count"]),
        data_version=int(outcome["data_version"]),
        watermark=outcome["watermark"],
        affected_start=outcome["range_start"],
        affected_end=outcome["range_end"],
        replayed=bool(outcome["replayed"]),
    )


async def _commit(
    pool: asyncpg.Pool,
    client_id: str,
    model: ObjectModel,
    batch: PreparedBatch,
    idempotency_key: str,
    source_system: str,
    turn: BatchTurn | None,
) -> asyncpg.Record:
    statements = _statements(model)
    if turn is not None:
        # Before taking a connection: the batch before holds one, and a small pool must not
        # be emptied by batches that cannot go on yet.
        await turn.wait_to_lock()
    async with pool.acquire() as connection:
        async with _writers_transaction(connection, client_id, model, turn):
            # One statement writes the rows, folds the rollup delta, bumps the data version and
            # records the outbox change and the batch (or answers as before to a batch replayed).
            outcome = await connection.fetchrow(
                statements.write_and_fold,
                client_id,
                batch.earliest,
                batch.latest,
                *batch.arguments,
                model.code,
                idempotency_key,
                source_system,
                uuid.uuid4(),
                batch.sent_row_count,
            )
            assert outcome is not None
            if outcome["emptied_from"] is not None:
                await connection.execute(
                    statements.delete_empty_groups,
                    client_id,
                    outcome["emptied_from"],
                    outcome["emptied_to"],
                )
            if turn is not None:
                await turn.wait_to_commit()
    return outcome


class BatchTurn:
    """A batch's place in a sequence of batches committed in order while their transactions
    overlap (a stream of batches, pipelined). The batch asks for the writers' lock only once the
    batch before it holds its own, so batches of the same client and object model take the lock,
    and so write, in sequence order; and it commits only after the batch before it committed, so
    the commits keep that order too whatever locks they hold. When the batch before it failed,
    it rolls back (BatchTurnAbandoned): nothing after a failed batch is written."""

    def __init__(self, before: BatchTurn | None) -> None:
        self._before = before
        loop = asyncio.get_running_loop()
        self._locked: asyncio.Future[None] = loop.create_future()
        self._finished: asyncio.Future[bool] = loop.create_future()

    async def wait_to_lock(self) -> None:
        if self._before is not None:
            await asyncio.shield(self._before._locked)

    def locked(self) -> None:
        if not self._locked.done():
            self._locked.set_result(None)

    async def wait_to_commit(self) -> None:
        if self._before is not None and not await asyncio.shield(self._before._finished):
            raise BatchTurnAbandoned("the batch before this one was not committed")

    def finish(self, *, committed: bool) -> None:
        """Marks the batch committed or not; the batch after it may then go on (or give up)."""
        self.locked()
        if not self._finished.done():
            self._finished.set_result(committed)


class BatchTurnAbandoned(Exception):
    """A batch was rolled back because the batch before it in its sequence was not committed."""


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
    bumped = await connection.fetchrow(
        _BUMP_VERSION_AND_WRITE_OUTBOX,
        client_id,
        model.code,
        newest,
        range_start,
        range_end,
        row_count,
    )
    assert bumped is not None
    return int(bumped["version"]), bumped["watermark"]


@contextlib.asynccontextmanager
async def _writers_transaction(
    connection: _Connection, client_id: str, model: ObjectModel, turn: BatchTurn | None = None
) -> AsyncIterator[None]:
    """A transaction holding the writers' lock of (client, object model), begun in one round trip
    and committed on leaving (rolled back on an error). Its statements run generic plans: an
    ingest statement's plan does not depend on the values sent, and planning it again for every
    batch added a fifth or more to the statement's time."""
    try:
        await connection.execute(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; "
            f"SELECT pg_advisory_xact_lock({_writers_lock_key(client_id, model)})"
        )
        if turn is not None:
            turn.locked()
        yield
    except BaseException:
        # A connection that cannot roll back is closed by the pool when it is released.
        with contextlib.suppress(Exception):
            await connection.execute("ROLLBACK")
        raise
    await connection.execute("COMMIT")


async def _lock_writers(connection: _Connection, client_id: str, model: ObjectModel) -> None:
    await connection.execute(
        "SELECT pg_advisory_xact_lock($1)", _writers_lock_key(client_id, model)
    )


def _writers_lock_key(client_id: str, model: ObjectModel) -> int:
    """The advisory lock's key (a bigint) of the writers of one client's object model."""
    digest = hashlib.blake2b(f"{client_id}/{model.code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _require_client(client_id: str) -> None:
    if not client_id:
        raise InvalidArgument.for_field("client_id", "is required")
