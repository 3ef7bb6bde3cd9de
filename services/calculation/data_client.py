"""The data service as the calculator's AggregateSource, over gRPC."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.adapters.peers import peer_failure
from services.aggregates import columnar_wire, query, wire
from services.calculation.calculator import ModelVersion


class DataServiceSource:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = data_pb2_grpc.DataInternalServiceStub(channel)

    async def aggregate(self, request: query.AggregateRequest) -> Sequence[query.ColumnarResult]:
        """The answers as columns: the calculator evaluates whole series, never single rows."""
        try:
            response = await self._stub.QueryAggregates(
                wire.request_message(request, columnar=True)
            )
        except grpc.aio.AioRpcError as error:
            raise peer_failure(error, "data") from error
        return columnar_wire.response_value(response, request.queries)

    async def versions(
        self, client_id: str, object_model_codes: Sequence[str]
    ) -> Mapping[str, ModelVersion]:
        try:
            response = await self._stub.GetDataVersions(
                data_pb2.GetDataVersionsRequest(
                    client_id=client_id, object_model_codes=list(object_model_codes)
                )
            )
        except grpc.aio.AioRpcError as error:
            raise peer_failure(error, "data") from error
        return {
            v.object_model_code: ModelVersion(
                v.version,
                wire.timestamp_value(v.watermark) if v.HasField("watermark") else None,
            )
            for v in response.versions
        }
