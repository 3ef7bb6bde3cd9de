"""PostgreSQL adapter for client data: durable idempotent ingest with the per-minute rollups kept
current in the same transaction, bulk loads, data versions and the change outbox.

The tables are described in services.data.tables, the ingest statement in
services.data.ingest_statement and a batch's encoding in services.data.batch_wire. Besides the
tables of client data: `analytics.data_versions`, `analytics.change_outbox`,
`analytics.ingest_batches`.

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
import hashlib
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Iterable,
    Mapping,
    Sequence,
)

import asyncpg

from services.catalog.domain import ObjectModel
from services.data import day_stamps, ingest_statement
from services.data.batch_wire import PreparedBatch, prepare_rows
from services.data.carried_copies import (
    NO_CARRYING,
    Carrier,
    Carrying,
    clear_statement,
    fill_statement,
    move_statement,
    writers_lock_code,
)
from services.data.ingest_statement import OUTBOX_CHANNEL
from services.data.tables import (
    hour_rollup_table,
    raw_table,
    rollup_table,
    time_is_date,
)
from services.errors import AlreadyExists, InvalidArgument

# -- results ----------------------------------------------------------------------------------

_UTC = datetime.UTC
_MINUTE = datetime.timedelta(minutes=1)
_DAY = datetime.timedelta(days=1)



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


_BUMP_VERSION = """
INSERT INTO analytics.data_versions AS v (client_id, object_model_code, version, watermark,
                                          updated_at)
VALUES ($1, $2, 1, $3, now())
ON CONFLICT (client_id, object_model_code) DO UPDATE
SET version = v.version + 1, watermark = GREATEST(v.watermark, EXCLUDED.watermark),
    updated_at = now()
RETURNING version, watermark
"""

# The version bump, the outbox record of one change, the new stamps of the days it wrote and
# its notification, in one round trip (a bulk load's or a move's; the ingest statement writes
# its own).
_BUMP_VERSION_AND_WRITE_OUTBOX = f"""
WITH bumped AS ({_BUMP_VERSION}), announced AS (
    INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, range_end,
                                         watermark, row_count, data_version)
    SELECT $1, $2, $4, $5, watermark, $6, version FROM bumped
), stamped AS (
    {day_stamps.bump_days("$1", "$2", "$4::timestamptz",
                          "($5::timestamptz - INTERVAL '1 microsecond')", "bumped", False)}
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
    carrying: Carrying = NO_CARRYING,
) -> IngestResult:
    """Validates `rows` (InvalidArgument names every bad row and field; nothing is written) and
    commits them as `commit_batch` does."""
    _require_client(client_id)
    # Validation and encoding are CPU work on the whole batch: in a thread, so the event loop
    # keeps serving (it takes the GIL between them, every few milliseconds).
    batch = await asyncio.to_thread(prepare_rows, model, rows)
    return await commit_batch(
        pool, client_id, model, batch, idempotency_key, source_system=source_system,
        carrying=carrying,
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
    carrying: Carrying = NO_CARRYING,
) -> IngestResult:
    """Commits a prepared batch in one transaction with the rollup change, the data version bump
    and an outbox record. Rows whose natural key exists replace the stored row; identical
    re-sends count as duplicates and change nothing. A batch whose idempotency key was applied
    before returns the first answer (`replayed`) without writing. With a `turn`, the batch
    commits in its place in a sequence of batches (see BatchTurn). `carrying` (from
    carried_copies.carrying) keeps the copies of carried fields right on both sides."""
    _require_client(client_id)
    try:
        outcome = await _commit(pool, client_id, model, batch, idempotency_key, source_system,
                                turn, carrying)
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
    carrying: Carrying,
) -> asyncpg.Record:
    statements = ingest_statement.statements(model, carrying)
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
            for index, carrier in enumerate(carrying.carriers):
                await _move_copies(
                    connection, client_id, carrier, model, batch,
                    outcome[f"changed_keys_{index}"], outcome[f"new_keys_{index}"],
                )
            if turn is not None:
                await turn.wait_to_commit()
    return outcome


async def _move_copies(
    connection: _Connection,
    client_id: str,
    carrier: Carrier,
    target: ObjectModel,
    batch: PreparedBatch,
    changed_keys: list[str] | None,
    new_keys: list[str] | None,
) -> None:
    """Moves the copies that the rows just written change (see carried_copies): the carrier's
    rollups follow, and its data version and outbox record say so, as for any write of it."""
    if not changed_keys and not new_keys:
        return
    # The move joins all the keys at once: the planner's own choice of join, not the ingest
    # statement's rule of index probes only (planned under that rule, a move probed every
    # carrier row of the client for each key: seconds per batch).
    await connection.execute("SET LOCAL enable_seqscan = on")
    moved = await connection.fetchrow(
        move_statement(carrier, target),
        client_id,
        changed_keys or [],
        new_keys or [],
        batch.earliest,
        batch.latest,
    )
    assert moved is not None
    if not moved["moved"]:
        return
    if moved["emptied_from"] is not None:
        await connection.execute(
            ingest_statement.statements(carrier.model, Carrying(targets=(target,)))
            .delete_empty_groups,
            client_id,
            moved["emptied_from"],
            moved["emptied_to"],
        )
    start, end = _bucket_range(carrier.model, moved["first_time"], moved["last_time"])
    await _record_change(
        connection, client_id, carrier.model, start, end, moved["last_time"], moved["moved"]
    )


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
    carrying: Carrying = NO_CARRYING,
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
    statements = ingest_statement.statements(model, carrying)
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
        # COPY wrote no copies of related rows' fields: looked up for the loaded span at once.
        for target in carrying.targets:
            for rel in model.relationships:
                if rel.carried_fields and rel.target_object_model_code == target.code:
                    await connection.fetchrow(
                        fill_statement(Carrier(model, rel), target), client_id, lower, upper,
                        timeout=command_timeout,
                    )
        await connection.execute(
            statements.rebuild_rollup, client_id, lower, upper, timeout=command_timeout
        )
        await connection.execute(
            statements.rebuild_hour_rollup, client_id, start, end, timeout=command_timeout
        )
        await _record_change(
            connection, client_id, model, start, end, _as_instant(span.highest), span.count
        )
        # Rows that were waiting for the loaded ones get their copies.
        for carrier in carrying.carriers:
            await _refresh_copies(
                connection, client_id, carrier, model, fill_statement(carrier, model),
                command_timeout,
            )
    return span.count


async def _refresh_copies(
    connection: _Connection,
    client_id: str,
    carrier: Carrier,
    target: ObjectModel,
    statement: str,
    command_timeout: float,
) -> None:
    """Runs a statement setting or clearing `carrier`'s copies over all time, then summarises the
    carrier's rollups of the span it changed again (groups may have emptied, so the span's
    groups are removed first) and records the change."""
    model = carrier.model
    far = (datetime.date.min, datetime.date.max) if time_is_date(model) else (
        datetime.datetime.min.replace(tzinfo=datetime.UTC),
        datetime.datetime.max.replace(tzinfo=datetime.UTC),
    )
    changed = await connection.fetchrow(statement, client_id, *far, timeout=command_timeout)
    assert changed is not None
    if not changed["filled"]:
        return
    start, end = _bucket_range(model, changed["first_time"], changed["last_time"])
    hours = (start.replace(minute=0), end)
    for table, (low, high) in ((rollup_table(model), (start, end)),
                               (hour_rollup_table(model), hours)):
        await connection.execute(
            f"DELETE FROM {table} WHERE client_id = $1 AND bucket >= $2 AND bucket < $3",
            client_id, low, high, timeout=command_timeout,
        )
    statements = ingest_statement.statements(model, Carrying(targets=(target,)))
    lower, upper = (start.date(), end.date()) if time_is_date(model) else (start, end)
    await connection.execute(
        statements.rebuild_rollup, client_id, lower, upper, timeout=command_timeout
    )
    await connection.execute(
        statements.rebuild_hour_rollup, client_id, start, end, timeout=command_timeout
    )
    await _record_change(
        connection, client_id, model, start, end, _as_instant(changed["last_time"]),
        int(changed["filled"]),
    )


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
    pool: asyncpg.Pool,
    client_id: str,
    model: ObjectModel,
    *,
    statement_seconds: float = 3600.0,
    carrying: Carrying = NO_CARRYING,
) -> int:
    """Removes every row of `client_id` in `model`, with its rollup, in one transaction under the
    writers' lock, and bumps the data version so no cached answer outlives the rows; copies
    other models kept of the rows' fields are cleared. Returns how many raw rows were
    deleted."""
    _require_client(client_id)
    async with pool.acquire() as connection, connection.transaction():
        await _lock_writers(connection, client_id, model)
        # Millions of rows take longer than a pool's default statement timeout.
        status = await connection.execute(
            f"DELETE FROM {raw_table(model)} WHERE client_id = $1",
            client_id,
            timeout=statement_seconds,
        )
        for rollup in (rollup_table(model), hour_rollup_table(model)):
            await connection.execute(
                f"DELETE FROM {rollup} WHERE client_id = $1",
                client_id,
                timeout=statement_seconds,
            )
        # NULL keeps the watermark: deleting rows does not make data newer.
        await connection.fetchrow(_BUMP_VERSION, client_id, model.code, None)
        # No distinct count kept of the deleted rows is current any more.
        await connection.execute(day_stamps.BUMP_ALL_DAYS, client_id, model.code)
        for carrier in carrying.carriers:
            await _refresh_copies(
                connection, client_id, carrier, model, clear_statement(carrier),
                statement_seconds,
            )
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
    batch added a fifth or more to the statement's time. The ingest statement reads through
    indexes only (by client and key or span): a plan is kept for the connection's life, and one
    made while a partition was empty (a new month) would otherwise scan that partition whole
    for every row sent once it fills."""
    try:
        await connection.execute(
            "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan; "
            "SET LOCAL enable_seqscan = off; "
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
    # A model whose fields others copy lends its lock to them (see carried_copies).
    code = writers_lock_code(model)
    digest = hashlib.blake2b(f"{client_id}/{code}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _require_client(client_id: str) -> None:
    if not client_id:
        raise InvalidArgument.for_field("client_id", "is required")
