"""Loads generated demo data into the client-data tables through the data store's bulk load
(COPY, rollup rebuild, data version bump), one model at a time, reporting progress as it goes.

Generation is CPU work: it runs in a child process (see `generation_process`), a few batches
ahead of COPY, and its batches are read in a worker thread, so the event loop keeps serving
(health checks, other calls) during a long load; planner statistics of a loaded model are
gathered while the next one loads. The generator, COPY and the database's own work overlap
instead of taking turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping

import asyncpg

from services.catalog.domain import ObjectModel
from services.data import store, tables
from services.data.carried_copies import carrying
from services.demo.generation_process import GeneratorProcess
from services.demo.generator import RowBatch
from services.demo.scope import with_referenced_models

logger = logging.getLogger(__name__)

# Batches the generator may run ahead of the load (5,000 rows each by default).
PREFETCH_BATCHES = 8


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a load stands: sent after every batch and when a model is finished."""

    object_model_code: str
    model_rows: int
    total_rows: int
    elapsed_seconds: float
    model_finished: bool

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclasses.dataclass(frozen=True)
class ModelLoad:
    object_model_code: str
    row_count: int
    data_version: int
    seconds: float


@dataclasses.dataclass(frozen=True)
class LoadSummary:
    client_id: str
    start: datetime.datetime
    end: datetime.datetime
    rows_per_day: int
    seed: int
    models: tuple[ModelLoad, ...]  # ordered by object model code
    elapsed_seconds: float

    @property
    def total_rows(self) -> int:
        return sum(model.row_count for model in self.models)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


async def load_demo_data(
    pool: asyncpg.Pool,
    models_by_code: Mapping[str, ObjectModel],
    client_id: str,
    start: datetime.datetime,
    end: datetime.datetime,
    rows_per_day: int,
    seed: int,
    progress: Callable[[Progress], None] | None = None,
    *,
    object_model_codes: Collection[str] = (),
    replace_existing: bool = False,
) -> LoadSummary:
    """Generates and loads demo rows for `object_model_codes` (and the models they reference;
    empty for all). With `replace_existing`, the client's rows of those models are deleted first
    (all of them, not just the range: demo data replaces demo data, and reference rows such as
    customers predate any range). Without it, loading over existing demo rows with the same keys
    fails with AlreadyExists from the store. Raises ValueError for an invalid spec."""
    selected = with_referenced_models(models_by_code, object_model_codes)
    ordered = [model for model in models_by_code.values() if model.code in selected]
    batches = GeneratorProcess(ordered, client_id, start, end, rows_per_day, seed)
    started = time.perf_counter()
    if replace_existing:
        for model in ordered:
            await store.delete_client_rows(
                pool, client_id, model, carrying=carrying(model, models_by_code)
            )
    loads: list[tuple[str, int, float]] = []
    total = 0
    async with _BatchSource(batches, batches.close) as source, \
            _StatisticsRefresh(pool) as statistics:
        while (first := await source.next()) is not None:
            code = first.object_model_code
            model_started = time.perf_counter()
            counted = _Counter()

            def report(model_rows: int, finished: bool, code: str = code,
                       before: int = total) -> None:
                if progress is not None:
                    progress(Progress(code, model_rows, before + model_rows,
                                      time.perf_counter() - started, finished))

            rows = _rows_of_model(source, first, counted, report)
            loaded = await store.bulk_load(
                pool, client_id, models_by_code[code], rows, first.columns,
                carrying=carrying(models_by_code[code], models_by_code),
            )
            statistics.request(models_by_code[code])
            total += loaded
            report(loaded, True)
            loads.append((code, loaded, time.perf_counter() - model_started))
            logger.info("demo data: %s rows of %s for %s", loaded, code, client_id)
    versions = {
        record.object_model_code: record.version
        for record in await store.data_versions(pool, client_id, [code for code, *_ in loads])
    }
    return LoadSummary(
        client_id, start, end, rows_per_day, seed,
        tuple(ModelLoad(code, count, versions.get(code, 0), seconds)
              for code, count, seconds in sorted(loads)),
        time.perf_counter() - started,
    )


class _StatisticsRefresh:
    """Planner statistics for the tables just loaded, gathered on a connection of their own
    while the next model loads (a load leaves the statistics fresh when it returns).

    Autovacuum never analyzes a partitioned table itself and reaches its fresh partitions only
    after a while; until then the planner takes a day of a 10M-row load for a handful of rows
    and joins it by nested loops over every row of the related table (seconds instead of
    milliseconds)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: asyncio.Queue[ObjectModel | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _StatisticsRefresh:
        self._worker = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, kind: object, error: object, trace: object) -> None:
        assert self._worker is not None
        if error is None:
            self._pending.put_nowait(None)
            await self._worker
        else:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._worker

    def request(self, model: ObjectModel) -> None:
        self._pending.put_nowait(model)

    async def _run(self) -> None:
        while (model := await self._pending.get()) is not None:
            async with self._pool.acquire() as connection:
                await connection.execute(
                    f"ANALYZE {tables.raw_table(model)}, {tables.rollup_table(model)}",
                    timeout=600,
                )


class _Counter:
    def __init__(self) -> None:
        self.rows = 0


async def _rows_of_model(
    source: _BatchSource, first: RowBatch, counted: _Counter,
    report: Callable[[int, bool], None],
) -> AsyncIterator[tuple[object, ...]]:
    """The rows of `first`'s model: its batches until the generator moves to the next model
    (that batch goes back to the source for the next load)."""
    batch: RowBatch | None = first
    while batch is not None:
        if batch.object_model_code != first.object_model_code:
            source.push_back(batch)
            return
        for row in batch.rows:
            yield row
        counted.rows += len(batch.rows)
        report(counted.rows, False)
        batch = await source.next()


class _BatchSource:
    """The batches, read ahead in a worker thread by up to `PREFETCH_BATCHES`, with room to put
    one batch back. Reading ahead keeps the generator busy while the database copies the rows
    already sent, rebuilds a rollup or commits; `stop` ends the generator early."""

    def __init__(self, batches: Iterator[RowBatch], stop: Callable[[], None]) -> None:
        self._batches = batches
        self._stop = stop
        self._ready: asyncio.Queue[RowBatch | BaseException | None] = asyncio.Queue(
            PREFETCH_BATCHES)
        self._held: RowBatch | None = None
        self._producer: asyncio.Task[None] | None = None
        self._finished = False

    async def __aenter__(self) -> _BatchSource:
        self._producer = asyncio.create_task(self._produce())
        return self

    async def __aexit__(self, kind: object, error: object, trace: object) -> None:
        assert self._producer is not None
        self._producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._producer
        # A worker thread may still wait for the generator: stopping it lets that thread end.
        await asyncio.to_thread(self._stop)

    async def _produce(self) -> None:
        while True:
            try:
                batch = await asyncio.to_thread(next, self._batches, None)
            except Exception as error:  # handed to the consumer, raised where it waits
                await self._ready.put(error)
                return
            await self._ready.put(batch)
            if batch is None:
                return

    async def next(self) -> RowBatch | None:
        if self._held is not None:
            batch, self._held = self._held, None
            return batch
        if self._finished:
            return None
        item = await self._ready.get()
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        if item is None:
            self._finished = True
        return item

    def push_back(self, batch: RowBatch) -> None:
        self._held = batch
