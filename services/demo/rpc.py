"""DataInternalService.GenerateDemoRows: validates the request, loads the demo data and answers
with per-model counts; then settles the distinct counts of the loaded range in the background (see
services.demo.settling). The data service's internal servicer delegates to `generate_demo_rows`."""

from __future__ import annotations

import datetime
from collections.abc import Mapping

import asyncpg
from analytics.data.v1 import data_pb2
from google.protobuf import duration_pb2

from services.catalog.domain import ObjectModel
from services.demo.loader import load_demo_data
from services.demo.settling import DistinctCountSettler
from services.demo.spec import MAX_DAYS, MAX_ROWS_PER_DAY
from services.errors import InvalidArgument

DEFAULT_ROWS_PER_DAY = 1_000
# Roughly ten rows land per order across all models; above this a request would run for hours.
MAX_ESTIMATED_ROWS = 200_000_000
ROWS_PER_ORDER_ESTIMATE = 10


async def generate_demo_rows(
    pool: asyncpg.Pool,
    models_by_code: Mapping[str, ObjectModel],
    request: data_pb2.GenerateDemoRowsRequest,
    settler: DistinctCountSettler | None = None,
) -> data_pb2.GenerateDemoRowsResponse:
    start, end, rows_per_day = validate(models_by_code, request)
    summary = await load_demo_data(
        pool, models_by_code, request.client_id, start, end, rows_per_day, request.seed,
        object_model_codes=tuple(request.object_model_codes),
        replace_existing=request.replace_existing,
    )
    if settler is not None:
        # The answer does not wait: the load is done, and a read before the settling ends only
        # counts what is not kept yet.
        settler.settle_in_background(
            request.client_id, start, end, [model.object_model_code for model in summary.models]
        )
    elapsed = duration_pb2.Duration()
    elapsed.FromTimedelta(datetime.timedelta(seconds=summary.elapsed_seconds))
    return data_pb2.GenerateDemoRowsResponse(
        object_models=[
            data_pb2.GeneratedRows(object_model_code=model.object_model_code,
                                   row_count=model.row_count, data_version=model.data_version)
            for model in summary.models
        ],
        total_row_count=summary.total_rows,
        elapsed=elapsed,
    )


def validate(
    models_by_code: Mapping[str, ObjectModel], request: data_pb2.GenerateDemoRowsRequest
) -> tuple[datetime.datetime, datetime.datetime, int]:
    """(start, end, rows per day) of a valid request; InvalidArgument naming the field otherwise."""
    if not request.client_id:
        raise InvalidArgument.for_field("client_id", "is required")
    if not request.HasField("time_range") or not request.time_range.HasField("start") \
            or not request.time_range.HasField("end"):
        raise InvalidArgument.for_field("time_range", "start and end are required")
    start = request.time_range.start.ToDatetime(datetime.UTC)
    end = request.time_range.end.ToDatetime(datetime.UTC)
    if end <= start:
        raise InvalidArgument.for_field("time_range.end", "must be after time_range.start")
    if end - start > datetime.timedelta(days=MAX_DAYS):
        raise InvalidArgument.for_field("time_range", f"must not span more than {MAX_DAYS} days")
    rows_per_day = request.rows_per_day or DEFAULT_ROWS_PER_DAY
    if not 1 <= rows_per_day <= MAX_ROWS_PER_DAY:
        raise InvalidArgument.for_field(
            "rows_per_day",
            f"must be from 1 to {MAX_ROWS_PER_DAY:,} (0 for {DEFAULT_ROWS_PER_DAY:,})")
    days = (end - start).total_seconds() / 86_400
    if rows_per_day * days * ROWS_PER_ORDER_ESTIMATE > MAX_ESTIMATED_ROWS:
        raise InvalidArgument.for_field(
            "rows_per_day", f"with this range would generate more than {MAX_ESTIMATED_ROWS:,} rows;"
            " shorten the range or lower the volume")
    unknown = sorted(set(request.object_model_codes) - set(models_by_code))
    if unknown:
        raise InvalidArgument.for_field(
            "object_model_codes", f"unknown object model(s): {', '.join(unknown)}")
    return start, end, rows_per_day
