"""CalculationService: protobuf in, calculator, protobuf out."""

from __future__ import annotations

import asyncio
from typing import Any

from analytics.calculation.v1 import calculation_pb2, calculation_pb2_grpc
from google.protobuf import duration_pb2

from services.calculation import export, messages
from services.calculation.calculator import BatchOutcome, Calculator
from services.calculation.catalog_view import CatalogView
from services.calculation.request import CalculationRequest
from services.errors import InvalidArgument
from services.runtime.status import domain_error_status

Context = Any


def _errors(batch: BatchOutcome) -> list[calculation_pb2.KpiError]:
    return [
        calculation_pb2.KpiError(kpi_code=code, status=domain_error_status(error))
        for code, error in batch.errors
    ]


def _stats(batch: BatchOutcome) -> calculation_pb2.CalculationStats:
    elapsed = duration_pb2.Duration()
    elapsed.FromNanoseconds(int(batch.elapsed_seconds * 1e9))
    return calculation_pb2.CalculationStats(
        kpi_count=len(batch.outcomes) + len(batch.errors),
        cache_hits=batch.cache_hits,
        scan_count=batch.scan_count,
        elapsed=elapsed,
    )


class CalculationServicer(calculation_pb2_grpc.CalculationServiceServicer):
    def __init__(self, calculator: Calculator, catalog: CatalogView) -> None:
        self._calculator = calculator
        self._catalog = catalog

    async def _results(self, request: CalculationRequest) -> tuple[BatchOutcome, list[Any]]:
        batch = await self._calculator.calculate(request)
        snapshot = await self._catalog.snapshot()
        results = [
            messages.kpi_result(outcome, snapshot.kpis[outcome.kpi_code].target)
            for outcome in batch.outcomes
        ]
        return batch, results

    async def Calculate(
        self, request: calculation_pb2.CalculateRequest, context: Context
    ) -> calculation_pb2.CalculateResponse:
        if not request.kpi_code.strip():
            raise InvalidArgument.for_field("kpi_code", "is required")
        batch, results = await self._results(messages.request(request, [request.kpi_code]))
        if batch.errors:
            raise batch.errors[0][1]
        return calculation_pb2.CalculateResponse(result=results[0])

    async def CalculateBatch(
        self, request: calculation_pb2.CalculateBatchRequest, context: Context
    ) -> calculation_pb2.CalculateBatchResponse:
        batch, results = await self._results(messages.request(request, list(request.kpi_codes)))
        return calculation_pb2.CalculateBatchResponse(
            results=results, errors=_errors(batch), stats=_stats(batch)
        )

    async def CalculateDashboard(
        self, request: calculation_pb2.CalculateDashboardRequest, context: Context
    ) -> calculation_pb2.CalculateDashboardResponse:
        batch, results = await self._results(messages.request(request, list(request.kpi_codes)))
        return calculation_pb2.CalculateDashboardResponse(
            results=results,
            errors=_errors(batch),
            stats=_stats(batch),
            dashboard_id=request.dashboard_id,
        )

    async def ExportCalculation(
        self, request: calculation_pb2.ExportCalculationRequest, context: Context
    ) -> calculation_pb2.ExportCalculationResponse:
        renderers = {
            calculation_pb2.EXPORT_FORMAT_CSV: (export.to_csv, export.CSV_TYPE, "csv"),
            calculation_pb2.EXPORT_FORMAT_XLSX: (export.to_xlsx, export.XLSX_TYPE, "xlsx"),
        }
        if request.format not in renderers:
            raise InvalidArgument.for_field("format", "choose CSV or XLSX")
        render, content_type, extension = renderers[request.format]
        batch = await self._calculator.calculate(
            messages.request(request, list(request.kpi_codes))
        )
        content, rows = await asyncio.to_thread(render, batch.outcomes)
        return calculation_pb2.ExportCalculationResponse(
            content=content,
            content_type=content_type,
            file_name=f"kpis-{request.client_id or 'export'}.{extension}",
            row_count=rows,
            errors=_errors(batch),
        )

