"""Client-data storage against a real PostgreSQL: idempotent ingest, rollups that always equal a
GROUP BY over the raw rows (recomputed here in Python, not with the store's SQL), bulk loads,
data versions, the outbox, and the IngestRows RPC through the real runtime."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal

import asyncpg
import grpc
import pytest
from analytics.data.v1 import data_pb2, data_pb2_grpc
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, ObjectModel
from services.data import batch_wire, ingest_statement, store, tables
from services.data.carried_copies import carrying
from services.data.column_batches import columns_message
from services.data.ingest import validate_rows
from services.data.ingest_servicer import IngestServicer
from services.errors import AlreadyExists, InvalidArgument
from services.runtime.server import ServiceWiring
from services.runtime.settings import ServiceSettings
from tests.fixtures.auth import channel_with, local_tokens
from tests.fixtures.grpc_servers import running_service

UTC = datetime.UTC
START = datetime.datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


@pytest.fixture(scope="module")
def order(catalog: Catalog) -> ObjectModel:
    model = catalog.object_model("ORDER")
    assert model is not None
    return model


@pytest.fixture(scope="module")
def subscription(catalog: Catalog) -> ObjectModel:
    model = catalog.object_model("SUBSCRIPTION")
    assert model is not None
    return model


@pytest.fixture(scope="module")
async def pool(migrated_db: str) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=6) as pool:
        yield pool


@pytest.fixture
def client() -> str:
    return f"client-{uuid.uuid4().hex[:10]}"


def an_order(number: int, **changes: object) -> dict[str, object]:
    created = START + datetime.timedelta(seconds=17 * number)
    row: dict[str, object] = {
        "order_id": f"SO-{number}",
        "customer_id": f"CUST-{number % 7}",
        "channel": ("web", "edi", "sales_rep", "marketplace")[number % 4],
        "region": "EMEA",
        "status": ("open", "shipped", "delivered")[number % 3],
        "order_value": f"{10 + number % 13}.25",
        "created_at": created.isoformat(),
        "promised_at": (created + datetime.timedelta(days=3)).isoformat(),
        "delivered_in_full": None if number % 5 == 0 else number % 2 == 0,
    }
    row.update(changes)
    return row


async def count_rows(pool: asyncpg.Pool, model: ObjectModel, client: str) -> int:
    value = await pool.fetchval(
        f"SELECT count(*) FROM {tables.raw_table(model)} WHERE client_id = $1", client)
    return int(value)


def _bucket(moment: datetime.date) -> datetime.datetime:
    if isinstance(moment, datetime.datetime):
        return moment.astimezone(UTC).replace(second=0, microsecond=0)
    return datetime.datetime.combine(moment, datetime.time(), UTC)


def _hour(moment: datetime.date) -> datetime.datetime:
    return _bucket(moment).replace(minute=0)


async def assert_rollup_matches_raw(pool: asyncpg.Pool, model: ObjectModel, client: str) -> int:
    """Groups the raw rows in Python per minute and per hour and compares with the minute and
    hour rollup tables (no group left empty); returns the minute group count."""
    raw = await pool.fetch(
        f"SELECT * FROM {tables.raw_table(model)} WHERE client_id = $1", client)
    minutes = await _assert_rollup_equals(
        pool, model, client, raw, _bucket, tables.rollup_table(model))
    await _assert_rollup_equals(pool, model, client, raw, _hour, tables.hour_rollup_table(model))
    return minutes


async def _assert_rollup_equals(
    pool: asyncpg.Pool,
    model: ObjectModel,
    client: str,
    raw: list[asyncpg.Record],
    bucket_of: Callable[[datetime.date], datetime.datetime],
    rollup: str,
) -> int:
    dimensions = [field.name for field in tables.rollup_dimensions(model)]
    durations = [field.name for field in tables.duration_fields(model)]
    sums = [field.name for field in tables.rollup_sums(model)] + durations
    expected: dict[tuple[object, ...], list[object]] = defaultdict(
        lambda: [0] + [Decimal(0)] * len(sums) + [0] * len(durations))
    for row in raw:
        group = expected[(bucket_of(row[model.time_field]), *(row[d] for d in dimensions))]
        group[0] = int(group[0]) + 1  # type: ignore[call-overload]
        for index, name in enumerate(sums, start=1):
            group[index] = Decimal(group[index]) + Decimal(row[name] or 0)  # type: ignore[arg-type]
        for index, name in enumerate(durations, start=1 + len(sums)):
            group[index] = int(group[index]) + (row[name] is not None)  # type: ignore[call-overload]
    stored = await pool.fetch(f"SELECT * FROM {rollup} WHERE client_id = $1", client)
    actual = {
        (row["bucket"], *(row[d] for d in dimensions)):
            [row["row_count"], *(row[tables.SUM_PREFIX + name] for name in sums),
             *(row[tables.COUNT_PREFIX + name] for name in durations)]
        for row in stored
    }
    assert len(actual) == len(stored), f"a group of {rollup} is stored twice"
    assert actual == dict(expected), rollup
    return len(actual)


async def test_ingest_writes_rows_rollups_version_and_outbox(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(300)]
    result = await store.ingest_rows(pool, client, order, rows, source_system="SAP ERP")

    assert (result.accepted_row_count, result.duplicate_row_count) == (300, 0)
    assert result.data_version == 1 and not result.replayed
    newest = START + datetime.timedelta(seconds=17 * 299)
    assert result.watermark == newest
    assert result.affected_start == START
    assert result.affected_end == newest.replace(second=0) + datetime.timedelta(minutes=1)
    assert await count_rows(pool, order, client) == 300
    assert await assert_rollup_matches_raw(pool, order, client) > 20

    outbox = await pool.fetch(
        "SELECT * FROM analytics.change_outbox WHERE client_id = $1", client)
    assert [(o["object_model_code"], o["row_count"], o["data_version"]) for o in outbox] == [
        ("ORDER", 300, 1)]
    assert (outbox[0]["range_start"], outbox[0]["range_end"]) == (
        result.affected_start, result.affected_end)
    assert outbox[0]["watermark"] == newest
    batch = await pool.fetchrow(
        "SELECT * FROM analytics.ingest_batches WHERE ingest_id = $1", uuid.UUID(result.ingest_id))
    assert batch is not None and batch["source_system"] == "SAP ERP"


async def test_a_bad_batch_writes_nothing_and_names_row_and_field(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(10)]
    rows[7]["order_value"] = "twelve"
    with pytest.raises(InvalidArgument) as error:
        await store.ingest_rows(pool, client, order, rows, "key-1")
    assert [v.field for v in error.value.violations] == ["rows[7].order_value"]
    assert await count_rows(pool, order, client) == 0
    assert await store.data_versions(pool, client, ["ORDER"]) == [
        store.DataVersionRecord("ORDER", 0, None, None)]
    # The refused key was not spent: the corrected batch goes through under it.
    rows[7]["order_value"] = "12"
    result = await store.ingest_rows(pool, client, order, rows, "key-1")
    assert result.accepted_row_count == 10 and not result.replayed


async def test_a_retry_with_the_same_idempotency_key_replays_the_first_answer(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(50)]
    first = await store.ingest_rows(pool, client, order, rows, "batch-42")
    # Even a changed payload under the same key is not applied again.
    changed = [an_order(number, status="cancelled") for number in range(60)]
    again = await store.ingest_rows(pool, client, order, changed, "batch-42")
    assert again.replayed
    assert again == store.IngestResult(**{**first.__dict__, "replayed": True})
    assert await count_rows(pool, order, client) == 50
    versions = await store.data_versions(pool, client, ["ORDER"])
    assert versions[0].version == 1
    outbox = await pool.fetchval(
        "SELECT count(*) FROM analytics.change_outbox WHERE client_id = $1", client)
    assert outbox == 1
    # The key is scoped to the object model: another model's batch may use it.
    other = await store.ingest_rows(pool, client, _model("SURVEY_RESPONSE"), [{
        "response_id": "R-1", "customer_id": "C-1", "score": 9, "channel": "email",
        "responded_at": "2026-10-03T16:20:00Z"}], "batch-42")
    assert not other.replayed and other.accepted_row_count == 1


async def test_resending_rows_without_a_key_does_not_duplicate_them(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(100)]
    await store.ingest_rows(pool, client, order, rows)
    again = await store.ingest_rows(pool, client, order, rows)
    assert (again.accepted_row_count, again.duplicate_row_count) == (0, 100)
    assert again.data_version == 1, "an identical re-send is no change"
    assert again.affected_start is None
    assert await count_rows(pool, order, client) == 100
    await assert_rollup_matches_raw(pool, order, client)
    # A row repeated inside one batch: the last one wins, the earlier counts as a duplicate.
    repeated = [an_order(500, status="open"), an_order(500, status="delivered")]
    result = await store.ingest_rows(pool, client, order, repeated)
    assert (result.accepted_row_count, result.duplicate_row_count) == (1, 1)
    status = await pool.fetchval(
        f"SELECT status FROM {tables.raw_table(order)} "
        "WHERE client_id = $1 AND order_id = 'SO-500'", client)
    assert status == "delivered"


async def test_updates_move_rows_between_rollup_groups(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    await store.ingest_rows(pool, client, order, [an_order(number) for number in range(400)])
    await assert_rollup_matches_raw(pool, order, client)
    # Change dimensions and values of a subset, mixed with new rows and untouched re-sends.
    rng = random.Random(7)
    batch = [
        an_order(number, status=rng.choice(["cancelled", "delivered"]),
                 order_value=str(rng.randint(1, 999)), delivered_in_full=rng.choice([True, None]))
        for number in range(0, 400, 3)
    ] + [an_order(number) for number in range(1, 400, 3)] + [
        an_order(number) for number in range(400, 450)]
    result = await store.ingest_rows(pool, client, order, batch)
    assert result.accepted_row_count + result.duplicate_row_count == len(batch)
    assert 50 < result.accepted_row_count <= 134 + 50
    assert result.data_version == 2
    await assert_rollup_matches_raw(pool, order, client)
    # A group emptied by the move is gone, not left with a zero count.
    empty = await pool.fetchval(
        f"SELECT count(*) FROM {tables.rollup_table(order)} WHERE client_id = $1 "
        "AND row_count <= 0", client)
    assert empty == 0
    # Every row of one group moves out of it.
    await store.ingest_rows(pool, client, order, [
        an_order(number, status="cancelled") for number in range(450)])
    await assert_rollup_matches_raw(pool, order, client)
    statuses = await pool.fetch(
        f"SELECT DISTINCT status FROM {tables.rollup_table(order)} WHERE client_id = $1", client)
    assert [s["status"] for s in statuses] == ["cancelled"]


async def test_concurrent_batches_over_the_same_keys_keep_rollups_exact(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    batches = [
        [an_order(number, status=status, order_value=str(value))
         for number in range(200)]
        for status, value in [("open", 1), ("shipped", 2), ("delivered", 3), ("open", 4)]
    ]
    results = await asyncio.gather(*(store.ingest_rows(pool, client, order, batch)
                                     for batch in batches))
    assert sorted(result.data_version for result in results) == [1, 2, 3, 4]
    assert await count_rows(pool, order, client) == 200
    await assert_rollup_matches_raw(pool, order, client)


async def test_a_batch_sent_several_times_at_once_is_applied_once(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(100)]
    results = await asyncio.gather(*(store.ingest_rows(pool, client, order, rows, "same-key")
                                     for _ in range(3)))
    assert sorted(result.replayed for result in results) == [False, True, True]
    assert len({result.ingest_id for result in results}) == 1
    assert {result.accepted_row_count for result in results} == {100}
    assert await count_rows(pool, order, client) == 100
    assert (await store.data_versions(pool, client, ["ORDER"]))[0].version == 1
    outbox = await pool.fetchval(
        "SELECT count(*) FROM analytics.change_outbox WHERE client_id = $1", client)
    assert outbox == 1
    await assert_rollup_matches_raw(pool, order, client)


async def test_a_cancelled_ingest_writes_all_or_nothing_and_the_pool_goes_on(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(3000)]
    for delay in (0.0, 0.02, 0.05, 0.1):
        task = asyncio.create_task(store.ingest_rows(pool, client, order, rows))
        await asyncio.sleep(delay)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await count_rows(pool, order, client) in (0, 3000)
        await assert_rollup_matches_raw(pool, order, client)
    result = await store.ingest_rows(pool, client, order, rows)
    assert result.accepted_row_count + result.duplicate_row_count == 3000
    assert await count_rows(pool, order, client) == 3000
    await assert_rollup_matches_raw(pool, order, client)


async def test_the_ingest_statement_stays_prepared_with_one_generic_plan(
    migrated_db: str, catalog: Catalog, order: ObjectModel, client: str
) -> None:
    # asyncpg keeps a prepared statement only up to 15 KiB of text (beyond, every call is parsed
    # and planned again), and a custom plan is planned again on every call.
    models = {model.code: model for model in catalog.object_models}
    for model in catalog.object_models:
        statement = ingest_statement.statements(model, carrying(model, models)).write_and_fold
        assert len(statement) < 15 * 1024, model.code
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as one_connection:
        for batch in range(3):
            await store.ingest_rows(one_connection, client, order,
                                    [an_order(batch * 10 + number) for number in range(10)])
        plans = await one_connection.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'WITH earlier AS%'")
    assert [(plan["generic_plans"], plan["custom_plans"]) for plan in plans] == [(3, 0)]


async def test_awkward_values_are_stored_exactly(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    """A batch travels column by column as joined texts (arrays where a text would mislead):
    values holding the separator or the NULL marker, empty strings, NULL-only and one-row
    columns, extreme decimals and far-off instants must come back exactly as validated."""
    awkward = [
        an_order(0, order_id="SO-\x1f-unit", customer_id=""),
        an_order(1, order_id="SO-\x1e-record", customer_id="\x1e"),
        an_order(2, customer_id="naïve, 'quoted' \"text\" \\ {braces}"),
        an_order(3, order_value="1E+1500", delivered_in_full=None),
        an_order(4, order_value="-0.000000000000000000000000000001",
                 shipped_at="0001-01-01T00:00:00Z"),
        an_order(5, order_value=1e-300, delivered_at="9999-12-31T23:59:59.999999+05:30"),
        an_order(6, promised_at="1969-12-31T23:59:59.999999+14:00"),
        an_order(7, created_at="2026-10-01T08:00:00.000001+02:00"),
    ]
    one_row = [an_order(9, delivered_in_full=None, customer_id="")]
    for batch in (awkward, one_row, [an_order(10)]):
        await store.ingest_rows(pool, client, order, batch)
    expected = validate_rows(order, awkward + one_row + [an_order(10)])
    stored = await pool.fetch(
        f"SELECT {', '.join(expected.columns)} FROM {tables.raw_table(order)} "
        "WHERE client_id = $1", client)
    assert sorted(tuple(row) for row in stored) == sorted(expected.rows)
    await assert_rollup_matches_raw(pool, order, client)


async def test_date_placed_rows_roll_up_at_utc_midnight(
    pool: asyncpg.Pool, subscription: ObjectModel, client: str
) -> None:
    rows = [{
        "subscription_id": f"SUB-{n}", "customer_id": f"C-{n}",
        "plan": ("basic", "professional")[n % 2], "status": "active",
        "monthly_recurring_revenue": f"{n}.50", "start_date": "2026-01-01",
        "end_date": f"2026-12-{1 + n % 3:02d}",
    } for n in range(30)]
    result = await store.ingest_rows(pool, client, subscription, rows)
    assert result.watermark == datetime.datetime(2026, 12, 3, tzinfo=UTC)
    assert result.affected_start == datetime.datetime(2026, 12, 1, tzinfo=UTC)
    assert result.affected_end == datetime.datetime(2026, 12, 4, tzinfo=UTC)
    assert await assert_rollup_matches_raw(pool, subscription, client) == 6


async def test_data_versions_track_each_object_model(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    await store.ingest_rows(pool, client, order, [an_order(1)])
    await store.ingest_rows(pool, client, order, [an_order(2)])
    await store.ingest_rows(pool, client, order, [an_order(0)])  # older: watermark stays
    versions = await store.data_versions(pool, client, ["ORDER", "INVOICE"])
    assert [(v.object_model_code, v.version) for v in versions] == [("INVOICE", 0), ("ORDER", 3)]
    assert versions[1].watermark == START + datetime.timedelta(seconds=34)
    assert versions[1].updated_at is not None
    every = await store.data_versions(pool, client, [])
    assert [v.object_model_code for v in every] == ["ORDER"]


def generated_orders(count: int, seed: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(seed)
    base = datetime.datetime(2026, 3, 1, tzinfo=UTC)
    for number in range(count):
        created = base + datetime.timedelta(seconds=number * 13 + rng.randint(0, 12))
        yield (
            f"SO-{seed}-{number}", f"CUST-{rng.randint(1, 5000)}",
            rng.choice(("web", "edi", "sales_rep", "marketplace")), "EMEA",
            rng.choice(("open", "allocated", "shipped", "delivered", "cancelled")),
            Decimal(rng.randint(100, 100_000)) / 100, created,
            created + datetime.timedelta(days=3), rng.choice((True, False, None)),
        )


BULK_COLUMNS = ("order_id", "customer_id", "channel", "region", "status", "order_value",
                "created_at", "promised_at", "delivered_in_full")


async def test_bulk_load_of_200k_rows_rebuilds_rollups(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    # A row ingested before the load shares minutes with it: the rebuild must keep it counted.
    await store.ingest_rows(pool, client, order, [an_order(
        1, created_at="2026-03-01T00:00:30Z", order_value="5")])
    loaded = await store.bulk_load(pool, client, order, generated_orders(200_000, seed=1),
                                   BULK_COLUMNS)
    assert loaded == 200_000
    assert await count_rows(pool, order, client) == 200_001
    groups = await assert_rollup_matches_raw(pool, order, client)
    assert groups > 40_000
    versions = await store.data_versions(pool, client, ["ORDER"])
    assert versions[0].version == 2
    outbox = await pool.fetchrow(
        "SELECT * FROM analytics.change_outbox WHERE client_id = $1 ORDER BY id DESC LIMIT 1",
        client)
    assert outbox is not None and outbox["row_count"] == 200_000
    assert outbox["range_start"] == datetime.datetime(2026, 3, 1, tzinfo=UTC)


async def test_bulk_load_takes_an_async_iterator_and_refuses_existing_keys(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    async def rows() -> AsyncIterator[tuple[object, ...]]:
        for row in generated_orders(1000, seed=2):
            yield row

    assert await store.bulk_load(pool, client, order, rows(), BULK_COLUMNS) == 1000
    with pytest.raises(AlreadyExists):
        await store.bulk_load(pool, client, order, generated_orders(10, seed=2), BULK_COLUMNS)
    assert await count_rows(pool, order, client) == 1000
    assert (await store.data_versions(pool, client, ["ORDER"]))[0].version == 1
    await assert_rollup_matches_raw(pool, order, client)
    with pytest.raises(InvalidArgument):
        await store.bulk_load(pool, client, order, [], ("order_id", "created_at"))


def _model(code: str) -> ObjectModel:
    model = load_catalog_files().object_model(code)
    assert model is not None
    return model


# -- the RPC --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def ingest_stub(
    database_url: str, catalog: Catalog
) -> AsyncIterator[data_pb2_grpc.DataServiceAsyncStub]:
    async def build(settings: ServiceSettings, resources: contextlib.AsyncExitStack
                    ) -> ServiceWiring:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        resources.push_async_callback(pool.close)
        servicer = IngestServicer(pool, {m.code: m for m in catalog.object_models})
        return ServiceWiring(
            registrations=[lambda server: data_pb2_grpc.add_DataServiceServicer_to_server(
                servicer, server)],
            service_names=["analytics.data.v1.DataService"],
        )

    async with running_service(build) as service, channel_with(
            service.address, local_tokens().admin()) as channel:
        yield data_pb2_grpc.DataServiceStub(channel)


def struct(row: dict[str, str | float | None]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(row)
    return message


async def test_ingest_rows_rpc(migrated_db: str, catalog: Catalog, client: str) -> None:
    async with ingest_stub(migrated_db, catalog) as stub:
        request = data_pb2.IngestRowsRequest(
            object_model_code="SURVEY_RESPONSE", client_id=client, idempotency_key="k1",
            rows=[struct({"response_id": f"R-{n}", "customer_id": "C-1", "score": float(n),
                          "channel": "email", "responded_at": "2026-10-03T16:20:00Z"})
                  for n in range(11)])
        reply = await stub.IngestRows(request, timeout=10)
        assert (reply.accepted_row_count, reply.data_version, reply.replayed) == (11, 1, False)
        assert reply.watermark.ToDatetime(tzinfo=UTC) == datetime.datetime(
            2026, 10, 3, 16, 20, tzinfo=UTC)
        assert reply.affected_time_range.end.ToDatetime(tzinfo=UTC) == datetime.datetime(
            2026, 10, 3, 16, 21, tzinfo=UTC)
        replay = await stub.IngestRows(request, timeout=10)
        assert replay.replayed and replay.ingest_id == reply.ingest_id

        bad = data_pb2.IngestRowsRequest(
            object_model_code="SURVEY_RESPONSE", client_id=client,
            rows=[struct({"response_id": "R-x", "customer_id": "C-1", "score": 3.5,
                          "channel": "email", "responded_at": "2026-10-03T16:20:00Z"})])
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.IngestRows(bad, timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error.value)  # type: ignore[arg-type]
        assert status is not None
        detail = error_details_pb2.BadRequest()
        status.details[0].Unpack(detail)
        assert [(v.field, v.description) for v in detail.field_violations] == [
            ("rows[0].score", "must be a whole number")]

        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.IngestRows(data_pb2.IngestRowsRequest(
                object_model_code="NOPE", client_id=client, rows=[struct({})]), timeout=10)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND

        checked = await stub.IngestRows(data_pb2.IngestRowsRequest(
            object_model_code="SURVEY_RESPONSE", client_id=client, validate_only=True,
            rows=[struct({"response_id": "R-99", "customer_id": "C-1", "score": 1,
                          "channel": "phone", "responded_at": "2026-10-04T00:00:00Z"})]),
            timeout=10)
        assert checked.accepted_row_count == 0

        async def batches() -> AsyncIterator[data_pb2.StreamIngestRowsRequest]:
            for index, score in enumerate([5.0, 6.0, 7.5]):
                yield data_pb2.StreamIngestRowsRequest(
                    object_model_code="SURVEY_RESPONSE", client_id=client,
                    rows=[struct({"response_id": f"S-{index}", "customer_id": "C-2",
                                  "score": score, "channel": "phone",
                                  "responded_at": "2026-10-05T10:00:00Z"})])

        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.StreamIngestRows(batches(), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        status = rpc_status.from_call(error.value)  # type: ignore[arg-type]
        assert status is not None
        status.details[0].Unpack(detail)
        assert [v.field for v in detail.field_violations] == ["batches[2].rows[0].score"]

    model = catalog.object_model("SURVEY_RESPONSE")
    assert model is not None
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as pool:
        # 11 from the first call, the first two streamed batches; nothing from the refused ones.
        assert await count_rows(pool, model, client) == 13
        assert (await store.data_versions(pool, client, ["SURVEY_RESPONSE"]))[0].version == 3


def bad_request_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    detail = error_details_pb2.BadRequest()
    status.details[0].Unpack(detail)
    return [violation.field for violation in detail.field_violations]


async def test_ingest_rows_rpc_takes_typed_columns(
    migrated_db: str, catalog: Catalog, order: ObjectModel, client: str
) -> None:
    rows = [an_order(number) for number in range(40)]
    async with ingest_stub(migrated_db, catalog) as stub:
        request = data_pb2.IngestRowsRequest(object_model_code="ORDER", client_id=client,
                                             idempotency_key="c1",
                                             columns=columns_message(order, rows))
        reply = await stub.IngestRows(request, timeout=10)
        assert (reply.accepted_row_count, reply.data_version, reply.replayed) == (40, 1, False)
        replay = await stub.IngestRows(request, timeout=10)
        assert replay.replayed and replay.ingest_id == reply.ingest_id
        # The same rows as Structs change nothing: columns and Structs store the same values.
        as_structs = await stub.IngestRows(data_pb2.IngestRowsRequest(
            object_model_code="ORDER", client_id=client,
            rows=[struct(row) for row in rows]), timeout=10)
        assert (as_structs.accepted_row_count, as_structs.duplicate_row_count) == (0, 40)

        bad = columns_message(order, [an_order(100), an_order(101, status="lost")])
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.IngestRows(data_pb2.IngestRowsRequest(
                object_model_code="ORDER", client_id=client, columns=bad), timeout=10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert bad_request_fields(error.value) == ["rows[1].status"]
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.IngestRows(data_pb2.IngestRowsRequest(
                object_model_code="ORDER", client_id=client, columns=bad,
                rows=[struct(an_order(1))]), timeout=10)
        assert bad_request_fields(error.value) == ["columns"]
        checked = await stub.IngestRows(data_pb2.IngestRowsRequest(
            object_model_code="ORDER", client_id=client, validate_only=True,
            columns=columns_message(order, [an_order(200)])), timeout=10)
        assert checked.accepted_row_count == 0
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as pool:
        assert await count_rows(pool, order, client) == 40
        stored = await pool.fetchrow(
            f"SELECT order_value, created_at, delivered_in_full FROM {tables.raw_table(order)} "
            "WHERE client_id = $1 AND order_id = 'SO-5'", client)
        assert stored is not None
        assert (stored["order_value"], stored["created_at"], stored["delivered_in_full"]) == (
            Decimal("15.25"), START + datetime.timedelta(seconds=85), None)
        await assert_rollup_matches_raw(pool, order, client)


async def test_a_pipelined_stream_commits_its_batches_in_order(
    migrated_db: str, catalog: Catalog, order: ObjectModel, client: str
) -> None:
    """Batches overlap in the servicer, yet a later batch re-sending earlier keys wins, a
    repeated idempotency key is a replay, and every outcome comes back in stream order."""
    sent = [[an_order(30 * index + n) for n in range(30)] for index in range(8)]
    # Batch 3 changes batch 1's rows (moving them between rollup groups); batch 5 repeats
    # batch 2's idempotency key.
    sent[3] = [{**row, "status": "cancelled", "order_value": "1.00"} for row in sent[1]]
    keys = [f"k{index}" for index in range(8)]
    keys[5] = "k2"

    async def batches() -> AsyncIterator[data_pb2.StreamIngestRowsRequest]:
        for index, rows in enumerate(sent):
            form: dict[str, object] = (
                {"columns": columns_message(order, rows)} if index % 2 == 0
                else {"rows": [struct(row) for row in rows]})
            yield data_pb2.StreamIngestRowsRequest(
                object_model_code="ORDER", client_id=client, idempotency_key=keys[index],
                **form)

    async with ingest_stub(migrated_db, catalog) as stub:
        reply = await stub.StreamIngestRows(batches(), timeout=20)
    assert [batch.batch_index for batch in reply.batches] == list(range(8))
    assert [batch.replayed for batch in reply.batches] == [False] * 5 + [True] + [False] * 2
    assert [batch.accepted_row_count for batch in reply.batches] == [30] * 8
    versions = [batch.data_version for batch in reply.batches if not batch.replayed]
    assert versions == list(range(1, 8))
    assert reply.batches[5].ingest_id == reply.batches[2].ingest_id
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as pool:
        assert await count_rows(pool, order, client) == 30 * 6
        changed = await pool.fetchval(
            f"SELECT count(*) FROM {tables.raw_table(order)} WHERE client_id = $1 "
            "AND status = 'cancelled' AND order_value = 1.00", client)
        assert changed == 30
        await assert_rollup_matches_raw(pool, order, client)


async def test_a_bad_batch_ends_a_pipelined_stream_after_the_batches_before_it(
    migrated_db: str, catalog: Catalog, order: ObjectModel, client: str
) -> None:
    async def batches() -> AsyncIterator[data_pb2.StreamIngestRowsRequest]:
        for index in range(5):
            rows = [an_order(10 * index + n) for n in range(10)]
            if index == 2:
                rows[7]["order_value"] = "twelve"
            yield data_pb2.StreamIngestRowsRequest(
                object_model_code="ORDER", client_id=client,
                columns=columns_message(order, rows))

    async with ingest_stub(migrated_db, catalog) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.StreamIngestRows(batches(), timeout=20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(error.value) == ["batches[2].rows[7].order_value"]
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as pool:
        # Batches 0 and 1 committed; nothing from the refused batch or after it.
        assert await count_rows(pool, order, client) == 20
        assert (await store.data_versions(pool, client, ["ORDER"]))[0].version == 2
        await assert_rollup_matches_raw(pool, order, client)


async def test_a_batch_whose_predecessor_failed_is_rolled_back(
    pool: asyncpg.Pool, order: ObjectModel, client: str
) -> None:
    """BatchTurn: the second of two overlapping batches waits for the first and does not commit
    when it did not."""
    first = store.BatchTurn(None)
    second = store.BatchTurn(first)
    batch = batch_wire.prepare_rows(order, [an_order(1)])
    later = asyncio.create_task(store.commit_batch(pool, client, order, batch, turn=second))
    await asyncio.sleep(0.05)
    assert not later.done()  # waiting for the first batch to take its lock
    first.finish(committed=False)
    with pytest.raises(store.BatchTurnAbandoned):
        await later
    assert await count_rows(pool, order, client) == 0


async def test_an_unknown_object_model_ends_a_stream_after_the_batches_before_it(
    migrated_db: str, catalog: Catalog, order: ObjectModel, client: str
) -> None:
    async def batches() -> AsyncIterator[data_pb2.StreamIngestRowsRequest]:
        for code in ("ORDER", "ORDER", "NOPE", "ORDER"):
            number = len(code)
            yield data_pb2.StreamIngestRowsRequest(
                object_model_code=code, client_id=client,
                columns=columns_message(order, [an_order(number), an_order(number + 100)]))

    async with ingest_stub(migrated_db, catalog) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.StreamIngestRows(batches(), timeout=20)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=1) as pool:
        assert await count_rows(pool, order, client) == 2
        assert (await store.data_versions(pool, client, ["ORDER"]))[0].version == 1
