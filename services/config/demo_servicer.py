"""DemoDataService: resolves the request's defaults (range from `days`, volume) and has the data
service generate and load the rows (DataInternalService.GenerateDemoRows)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import grpc
from analytics.config.v1 import config_pb2, config_pb2_grpc
from analytics.data.v1 import data_pb2, data_pb2_grpc

from services.adapters.peers import peer_failure
from services.errors import DomainError, InvalidArgument
from services.runtime.channels import outbound_timeout
from services.security.tenancy import tenant_for

Context = Any
DEFAULT_DAYS = 30
DEFAULT_ROWS_PER_DAY = 1_000
MAX_DAYS = 3 * 366
# A large load takes minutes; the data service streams it with COPY.
GENERATION_DEADLINE_SECONDS = 1_800.0

class DemoDataServicer(config_pb2_grpc.DemoDataServiceServicer):
    def __init__(
        self,
        data_channel: grpc.aio.Channel,
        *,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        deadline_seconds: float = GENERATION_DEADLINE_SECONDS,
    ) -> None:
        self._data = data_pb2_grpc.DataInternalServiceStub(data_channel)
        self._clock = clock
        self._deadline = deadline_seconds

    async def GenerateDemoData(
        self, request: config_pb2.GenerateDemoDataRequest, context: Context
    ) -> config_pb2.GenerateDemoDataResponse:
        for_tenant = config_pb2.GenerateDemoDataRequest()
        for_tenant.CopyFrom(request)
        # The token's client; only an admin names one in the request.
        for_tenant.client_id = tenant_for(request.client_id)
        outbound = data_request(for_tenant, self._clock())
        try:
            reply = await self._data.GenerateDemoRows(
                outbound, timeout=outbound_timeout(self._deadline))
        except grpc.aio.AioRpcError as error:
            raise _translate(error) from error
        return config_pb2.GenerateDemoDataResponse(
            client_id=outbound.client_id,
            time_range=outbound.time_range,
            seed=outbound.seed,
            object_models=[
                config_pb2.GeneratedObjectModel(object_model_code=m.object_model_code,
                                                row_count=m.row_count)
                for m in reply.object_models
            ],
            total_row_count=reply.total_row_count,
            elapsed=reply.elapsed,
        )


def data_request(
    request: config_pb2.GenerateDemoDataRequest, now: datetime.datetime
) -> data_pb2.GenerateDemoRowsRequest:
    """The data service's request: an explicit range, or `days` (0 for 30) ending now (to the
    minute, so a retry within the minute asks for the same rows); 0 rows per day for 1,000."""
    if not request.client_id:
        raise InvalidArgument.for_field("client_id", "is required")
    outbound = data_pb2.GenerateDemoRowsRequest(
        client_id=request.client_id,
        object_model_codes=list(request.object_model_codes),
        rows_per_day=request.rows_per_day or DEFAULT_ROWS_PER_DAY,
        seed=request.seed,
        replace_existing=request.replace_existing,
    )
    if request.HasField("time_range"):
        outbound.time_range.CopyFrom(request.time_range)
        return outbound
    days = request.days or DEFAULT_DAYS
    if not 1 <= days <= MAX_DAYS:
        raise InvalidArgument.for_field("days", f"must be from 1 to {MAX_DAYS} (0 for 30)")
    end = now.astimezone(datetime.UTC).replace(second=0, microsecond=0)
    outbound.time_range.start.FromDatetime(end - datetime.timedelta(days=days))
    outbound.time_range.end.FromDatetime(end)
    return outbound


def _translate(error: grpc.aio.AioRpcError) -> DomainError:
    if error.code() is grpc.StatusCode.ALREADY_EXISTS:
        return InvalidArgument.for_field(
            "replace_existing", "the client already has demo rows; set replace_existing")
    return peer_failure(error, "data")
