"""DataService (ingest of client rows): translates requests into store calls and results into
replies. Validation lives in services.data.ingest, storage in services.data.store.

Construct with the service's asyncpg pool and the catalog's object models by code:

    catalog = load_catalog_files()
    servicer = IngestServicer(pool, {model.code: model for model in catalog.object_models})
    data_pb2_grpc.add_DataServiceServicer_to_server(servicer, server)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from analytics.data.v1 import data_pb2, data_pb2_grpc
from analytics.type.v1 import types_pb2
from google.protobuf import timestamp_pb2

from services.catalog.domain import ObjectModel
from services.data import store
from services.data.ingest import validate_rows
from services.data.struct_rows import rows_from_structs
from services.errors import FieldViolation, InvalidArgument, NotFound
from services.security.tenancy import tenant_for

Context = Any

# One batch is one transaction; larger loads belong in several batches (or StreamIngestRows).
MAX_ROWS_PER_BATCH = 50_000


class IngestServicer(data_pb2_grpc.DataServiceServicer):
    def __init__(self, pool: asyncpg.Pool, object_models: Mapping[str, ObjectModel]) -> None:
        self._db = pool
        self._models = dict(object_models)

    async def IngestRows(
        self, request: data_pb2.IngestRowsRequest, context: Context
    ) -> data_pb2.IngestRowsResponse:
        model = self._model(request.object_model_code)
        client_id = _client_id(request.client_id, "client_id")
        rows = _rows(request.rows, "rows", model)
        if request.validate_only:
            validate_rows(model, rows)
            return data_pb2.IngestRowsResponse()
        result = await store.ingest_rows(self._db, client_id, model, rows,
                                         request.idempotency_key,
                                         source_system=request.source_system)
        return data_pb2.IngestRowsResponse(
            ingest_id=result.ingest_id,
            accepted_row_count=result.accepted_row_count,
            duplicate_row_count=result.duplicate_row_count,
            replayed=result.replayed,
            data_version=result.data_version,
            watermark=_timestamp(result.watermark),
            affected_time_range=_time_range(result),
        )

    async def StreamIngestRows(
        self, request_iterator: AsyncIterator[data_pb2.StreamIngestRowsRequest], context: Context
    ) -> data_pb2.StreamIngestRowsResponse:
        reply = data_pb2.StreamIngestRowsResponse()
        index = 0
        async for request in request_iterator:
            where = f"batches[{index}]"
            model = self._model(request.object_model_code)
            client_id = _client_id(request.client_id, f"{where}.client_id")
            rows = _rows(request.rows, f"{where}.rows", model)
            try:
                result = await store.ingest_rows(self._db, client_id, model, rows,
                                                 request.idempotency_key,
                                                 source_system=request.source_system)
            except InvalidArgument as error:
                # Batches before this one stay committed; the error says which batch failed.
                raise _in_batch(error, where) from None
            reply.batches.append(data_pb2.IngestBatchResult(
                batch_index=index,
                idempotency_key=request.idempotency_key,
                ingest_id=result.ingest_id,
                accepted_row_count=result.accepted_row_count,
                duplicate_row_count=result.duplicate_row_count,
                replayed=result.replayed,
                data_version=result.data_version,
            ))
            reply.accepted_row_count += result.accepted_row_count
            reply.duplicate_row_count += result.duplicate_row_count
            index += 1
        return reply

    def _model(self, code: str) -> ObjectModel:
        if not code.strip():
            raise InvalidArgument.for_field("object_model_code", "is required")
        model = self._models.get(code.strip())
        if model is None:
            raise NotFound(f"object model {code!r} does not exist; "
                           "GET /v1/object-models lists the catalog")
        return model


def _client_id(value: str, field: str) -> str:
    # The tenant comes from the caller's token (ARCHITECTURE §7); only an admin names one.
    return tenant_for(value, field=field)


def _rows(rows: Any, field: str, model: ObjectModel) -> list[dict[str, object]]:
    if len(rows) > MAX_ROWS_PER_BATCH:
        raise InvalidArgument.for_field(
            field, f"holds {len(rows)} rows; at most {MAX_ROWS_PER_BATCH} per batch")
    # Struct numbers arrive as doubles; the validation accepts 3.0 for an integer, refuses 3.5.
    return rows_from_structs(rows, _field_names(model))


@functools.lru_cache(maxsize=256)
def _field_names(model: ObjectModel) -> tuple[str, ...]:
    return tuple(field.name for field in model.fields)


def _in_batch(error: InvalidArgument, where: str) -> InvalidArgument:
    violations = [FieldViolation(f"{where}.{violation.field}", violation.description)
                  for violation in error.violations]
    return InvalidArgument(f"{where}: {error.message}", violations)


def _timestamp(moment: Any) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _time_range(result: store.IngestResult) -> types_pb2.TimeRange | None:
    if result.affected_start is None or result.affected_end is None:
        return None
    return types_pb2.TimeRange(start=_timestamp(result.affected_start),
                               end=_timestamp(result.affected_end))
