"""DataInternalService: translates aggregate and data-version calls between protobuf and the
aggregate reader. ExportRows, DeleteRows, WriteKpiValues and QueryKpiValues are not overridden, so
they answer UNIMPLEMENTED until their issues land."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import asyncpg
from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.aggregates import columnar_wire, wire
from services.catalog.domain import ObjectModel
from services.data.aggregates import AggregateReader, DataVersion
from services.errors import InvalidArgument

Context = Any

DemoGenerator = Callable[
    [data_pb2.GenerateDemoRowsRequest], Awaitable[data_pb2.GenerateDemoRowsResponse]
]


class DataInternalServicer(data_pb2_grpc.DataInternalServiceServicer):
    def __init__(
        self,
        pool: asyncpg.Pool,
        object_models_by_code: Mapping[str, ObjectModel],
        demo_generator: DemoGenerator | None = None,
        settled_writes: asyncpg.Pool | None = None,
        short_reads: asyncpg.Pool | None = None,
    ) -> None:
        self._reader = AggregateReader(
            pool, object_models_by_code, settled_writes=settled_writes, short_reads=short_reads
        )
        self._demo_generator = demo_generator

    async def QueryAggregates(
        self, request: data_pb2.QueryAggregatesRequest, context: Context
    ) -> data_pb2.QueryAggregatesResponse:
        query_request, options, keys = wire.keyed_request_value(request)
        started = time.perf_counter()
        if request.columnar:
            columns = await self._reader.query_columns(query_request, options, keys)
            elapsed = timedelta(seconds=time.perf_counter() - started)
            return columnar_wire.response_message(columns, elapsed)
        results = await self._reader.query(query_request, options, keys)
        elapsed = timedelta(seconds=time.perf_counter() - started)
        return wire.response_message(results, query_request.queries, elapsed)

    async def GetDataVersions(
        self, request: data_pb2.GetDataVersionsRequest, context: Context
    ) -> data_pb2.GetDataVersionsResponse:
        if "\x00" in request.client_id:
            raise InvalidArgument.for_field("client_id", "must not contain NUL characters")
        versions = await self._reader.data_versions(
            request.client_id, tuple(request.object_model_codes)
        )
        return data_pb2.GetDataVersionsResponse(versions=[_version(v) for v in versions])

    async def GenerateDemoRows(
        self, request: data_pb2.GenerateDemoRowsRequest, context: Context
    ) -> data_pb2.GenerateDemoRowsResponse:
        if self._demo_generator is None:
            raise NotImplementedError("demo data generation is not wired")
        return await self._demo_generator(request)


def _version(version: DataVersion) -> data_pb2.DataVersion:
    message = data_pb2.DataVersion(
        object_model_code=version.object_model_code, version=version.version
    )
    if version.watermark is not None:
        message.watermark.CopyFrom(wire.timestamp_message(version.watermark))
    if version.updated_at is not None:
        message.update_time.CopyFrom(wire.timestamp_message(version.updated_at))
    return message
